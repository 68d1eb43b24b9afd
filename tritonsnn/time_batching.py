"""Compiled loops batched over time: `torch.compile(model, backend="tritonsnn")`.

A model written as snnTorch's tutorials write it calls each neuron once per time step::

    for step in range(num_steps):
        spk1, mem1 = self.lif1(self.fc1(x), mem1)
        spk2, mem2 = self.lif2(self.fc2(spk1), mem2)

Dynamo unrolls that loop into T single-step neuron ops per layer, each starting from the state
the previous one returned. `batch_time` rewrites the traced graph before Inductor compiles it:

- a *chain* of single-step ops of one neuron (each step's state the previous step's output,
  the same parameters and settings) whose step inputs do not depend on the chain itself becomes
  one multi-step op over the stacked inputs — the whole time loop in one kernel, as
  ``step_mode="multi"`` runs it;
- the per-step computation of those inputs is lifted to the whole sequence where every step
  computes the same thing on its own step of an earlier layer's sequence: a `Linear` (or a
  conv, a pooling, a reshape, a pointwise op) applied to each step of a sequence (an earlier
  layer's, or a time-major input's) becomes one call on the sequence, and one applied to the
  same tensor at every step runs once;
- a `torch.stack` of a sequence's steps is the sequence itself.

Where a chain's input depends on its own outputs (a recurrent layer), it stays stepped, as
written. The numbers are eager mode's up to floating-point reassociation (a batched GEMM, the
backward's sums in another order): tests/test_time_batching.py holds compiled tutorial
networks to eager's losses and gradients within 1e-5.
"""
from __future__ import annotations

import operator

import torch
from torch import fx

# The neuron ops a chain can be made of: their states (input name -> output index) and outputs.
_FAMILIES = {"lif_fwd": ({"mem0": 1, "syn0": 3}, 4), "alpha_fwd": ({"exc0": 1, "inh0": 2, "mem0": 3}, 6)}


def _has_state(node: fx.Node, name: str) -> bool:
    """Whether the neuron carries this state: every one but a LIF's synaptic current, which
    exists where alpha is given (Synaptic)."""
    return name != "syn0" or node.kwargs.get("alpha") is not None
_IMPURE = ("rand", "dropout", "bernoulli", "normal", "uniform", "multinomial", "exponential")


def _neuron(node: fx.Node):
    """The family entry of a single-step neuron op node, or None."""
    if node.op != "call_function":
        return None
    packet = getattr(node.target, "overloadpacket", node.target)
    if getattr(packet, "_qualified_op_name", "").split("::")[0] != "tritonsnn":
        return None
    return _FAMILIES.get(packet._qualified_op_name.split("::")[1])


def _name(node: fx.Node) -> str:
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))


def _impure(node: fx.Node) -> bool:
    """An op whose order matters: in-place, or drawing random numbers."""
    name = _name(node)
    return name.endswith("_") or any(word in name for word in _IMPURE)


def _same(a, b) -> bool:
    """Whether two arguments compute the same value: the same node, or the same pure op of the
    same arguments (each step's `beta.clamp(0, 1)` is its own node)."""
    if isinstance(a, fx.Node) or isinstance(b, fx.Node):
        if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)):
            return False
        if a is b:
            return True
        return (a.op == b.op and a.op in ("call_function", "call_method") and a.target == b.target
                and not _impure(a) and _same(a.args, b.args) and _same(a.kwargs, b.kwargs))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_method(node, name: str, *args) -> bool:
    return (isinstance(node, fx.Node) and node.op == "call_method" and node.target == name
            and tuple(node.args[1:]) == args and not node.kwargs)


def _is_getitem(node, index) -> bool:
    return (isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.getitem
            and node.args[1] == index)


def _unpacks(node: fx.Node) -> bool:
    """`op[i]`: one output of a neuron op."""
    return (node.op == "call_function" and node.target is operator.getitem and len(node.args) == 2
            and isinstance(node.args[1], int))


def _predecessor(node: fx.Node):
    """The op whose outputs are this op's states (`squeeze(op[i], 0)` each), or None."""
    states, _ = _neuron(node)
    given = [(name, node.kwargs.get(name), index) for name, index in states.items()]
    sources = set()
    for _, value, index in given:
        if value is None:
            continue  # a state this neuron does not have (checked below), or a chain's start
        if not _is_method(value, "squeeze", 0) or not _is_getitem(value.args[0], index):
            return None
        sources.add(value.args[0].args[0])
    if len(sources) != 1:
        return None
    (source,) = sources
    if not isinstance(source, fx.Node) or _neuron(source) is None or source.target != node.target:
        return None
    # Every state the neuron has comes from the previous step (Synaptic's two, Leaky's one): a
    # state started again from zeros begins a new chain.
    if any(value is None and _has_state(node, name) for name, value, _ in given):
        return None
    return source if _compatible(source, node) else None


def _compatible(a: fx.Node, b: fx.Node) -> bool:
    """Steps of one neuron: the same settings and parameters; deterministic, whole sequences."""
    states, _ = _neuron(a)
    keys = set(a.kwargs) - {"x", *states}
    return (not a.args and not b.args and set(a.kwargs) == set(b.kwargs)
            and a.kwargs.get("sg_seed") is None and a.kwargs.get("lengths") is None
            and all(_same(a.kwargs[k], b.kwargs[k]) for k in keys))


def _ancestors(*nodes: fx.Node) -> set:
    """Every node the given ones are computed from (one walk, shared)."""
    seen, stack = set(), list(nodes)
    while stack:
        for parent in stack.pop().all_input_nodes:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _chains(graph: fx.Graph) -> list[list[fx.Node]]:
    """The maximal chains of at least two steps, in graph order."""
    ops = [n for n in graph.nodes if _neuron(n) is not None]
    nxt: dict[fx.Node, list[fx.Node]] = {}
    prev = {}
    for n in ops:
        p = _predecessor(n)
        if p is not None:
            prev[n] = p
            nxt.setdefault(p, []).append(n)
    chains = []
    for n in ops:
        if n in prev and len(nxt[prev[n]]) == 1:
            continue  # inside a chain
        chain = [n]
        while len(nxt.get(chain[-1], ())) == 1:
            chain.append(nxt[chain[-1]][0])
        if len(chain) > 1:
            chains.append(chain)
    return chains


def _shape(node):
    value = node.meta.get("example_value") if isinstance(node, fx.Node) else None
    return None if value is None else tuple(value.shape)


class _Lifter:
    """Builds, for per-step values v_0 .. v_{T-1}, one node holding them all as `[T, ...]`."""

    def __init__(self, graph: fx.Graph, sequences: dict):
        self.graph = graph
        self.sequences = sequences  # a batched output's node -> its number of steps

    def stacked(self, steps: list) -> fx.Node | None:
        """A `[T, ...]` node for per-step values `steps` (each `[...]`), or None."""
        kind, value = self.lift(steps)
        if kind is None:
            return None
        if kind == "const":  # one value for every step
            return self._repeated(self.graph.call_method("unsqueeze", (value, 0)), _shape(value), len(steps))
        return value

    def _repeated(self, step: fx.Node, shape, steps: int) -> fx.Node | None:
        """`step` (`[1, *shape]`) repeated `steps` times, or None for a shape not known yet."""
        if shape is None or not all(isinstance(d, int) for d in shape):
            return None
        return self.graph.call_method("contiguous", (self.graph.call_method("expand", (step, steps, *shape)),))

    def concatenated(self, steps: list) -> fx.Node | None:
        """A `[T, ...]` node for per-step values `steps` that each hold one step (`[1, ...]`:
        what a neuron op takes), or None: each `unsqueeze(v, 0)` of a liftable v, or the same
        elementwise op of such values (Lapicque scales its input so)."""
        first = steps[0]
        if all(_same(first, s) for s in steps[1:]):  # the same step every time
            shape = _shape(first)
            return None if shape is None else self._repeated(first, shape[1:], len(steps))
        if all(_is_method(s, "unsqueeze", 0) for s in steps):
            return self.stacked([s.args[0] for s in steps])
        if not all(isinstance(s, fx.Node) and s.op == first.op and s.target == first.target and not s.kwargs
                   and len(s.args) == len(first.args) for s in steps) or _name(first) not in self._POINTWISE:
            return None
        args = []
        for i in range(len(first.args)):
            column = [s.args[i] for s in steps]
            if all(_same(column[0], c) for c in column[1:]):
                args.append(column[0])
                continue
            inner = self.concatenated(column)
            if inner is None:
                return None
            args.append(inner)
        return self.graph.create_node(first.op, first.target, tuple(args))

    def lift(self, steps: list):
        """("const", value) if every step has the same value, ("seq", node) for a `[T, ...]`
        node, (None, None) if the steps compute different things."""
        first = steps[0]
        if all(_same(first, s) for s in steps[1:]):
            return "const", first
        if not all(isinstance(s, fx.Node) for s in steps):
            return None, None
        if all(_is_getitem(s, t) and s.args[0] is first.args[0] for t, s in enumerate(steps)):
            return self._steps_of(first.args[0], len(steps))
        if any(s.op != first.op or s.target != first.target or len(s.args) != len(first.args)
               or s.kwargs.keys() != first.kwargs.keys() or _impure(s) for s in steps):
            return None, None
        args = [self.lift([s.args[i] for s in steps]) for i in range(len(first.args))]
        kwargs = {k: self.lift([s.kwargs[k] for s in steps]) for k in first.kwargs}
        if any(kind is None for kind, _ in [*args, *kwargs.values()]):
            return None, None
        return self._batched(first, args, kwargs)

    def _steps_of(self, source: fx.Node, steps: int):
        """`source[0] .. source[T-1]` are its steps: an earlier layer's batched sequence, a
        time-major input of exactly T steps (`x[step]`), or the unbinding of one (`for x_t in x`)."""
        if self.sequences.get(source) == steps:
            return "seq", source
        if _is_method(source, "unbind") or _is_method(source, "unbind", 0) or (
                source.op == "call_function" and source.target is torch.unbind and source.args[1:] in ((), (0,))
                and not source.kwargs):
            source = source.args[0]
        shape = _shape(source)
        if isinstance(source, fx.Node) and shape and shape[0] == steps:
            return self._seq(source, steps)
        return None, None

    def _batched(self, node: fx.Node, args: list, kwargs: dict):
        """`node`'s op applied to a sequence: where its first argument is the only per-step one
        and the op has a known form over a leading time dimension."""
        if not args or args[0][0] != "seq" or any(kind == "seq" for kind, _ in [*args[1:], *kwargs.values()]):
            return self._pointwise(node, args, kwargs)
        seq = args[0][1]
        rest = [value for _, value in args[1:]]
        kw = {k: value for k, (_, value) in kwargs.items()}
        name = _name(node)
        g = self.graph
        if name == "linear":
            return "seq", g.create_node(node.op, node.target, (seq, *rest), kw)
        if name in ("conv1d", "conv2d", "conv3d", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d",
                    "avg_pool2d", "avg_pool3d") and not kw.get("return_indices"):
            steps = self.sequences.get(seq)
            flat = g.call_method("flatten", (seq, 0, 1))
            out = g.create_node(node.op, node.target, (flat, *rest), kw)
            return self._seq(g.call_function(torch.unflatten, (out, 0, (steps, -1))), steps)
        if node.op == "call_method" and name in ("view", "reshape") and all(isinstance(v, int) for v in rest):
            return self._seq(g.call_method(name, (seq, self.sequences.get(seq), *rest)), self.sequences.get(seq))
        if node.op == "call_method" and name == "flatten" and all(isinstance(v, int) and v >= 0 for v in rest) \
                and not kw:
            start = rest[0] if rest else 0
            end = rest[1] + 1 if len(rest) > 1 else -1
            return self._seq(g.call_method("flatten", (seq, start + 1, end)), self.sequences.get(seq))
        return self._pointwise(node, args, kwargs)

    _POINTWISE = {"relu", "sigmoid", "tanh", "neg", "abs", "exp", "mul", "add", "sub", "truediv", "float",
                  "to", "contiguous"}

    def _pointwise(self, node: fx.Node, args: list, kwargs: dict):
        """Elementwise ops with other arguments the same at every step (numbers, or tensors no
        wider than a step's) broadcast over a leading time dimension as they are."""
        seqs = [value for kind, value in [*args, *kwargs.values()] if kind == "seq"]
        if _name(node) not in self._POINTWISE or len({self.sequences.get(s) for s in seqs}) != 1:
            return None, None
        steps = self.sequences[seqs[0]]
        out = self.graph.create_node(node.op, node.target, tuple(v for _, v in args),
                                     {k: v for k, (_, v) in kwargs.items()})
        return self._seq(out, steps)

    def _seq(self, node: fx.Node, steps) -> tuple:
        if steps is None:
            return None, None
        self.sequences[node] = steps
        return "seq", node


def _rewrite(graph: fx.Graph, chain: list[fx.Node], sequences: dict) -> bool:
    """One chain as one multi-step op; False where it cannot be (nothing but dead nodes added)."""
    members = set(chain)
    _, n_out = _neuron(chain[0])
    xs = [n.kwargs["x"] for n in chain]
    shapes = {_shape(x) for x in xs}
    if len(shapes) != 1 or None in shapes or next(iter(shapes))[0] != 1:
        return False
    ancestors = _ancestors(*xs) | set(xs)
    if ancestors & members or any(_impure(a) for a in ancestors if a.op != "placeholder"):
        return False  # recurrent (the inputs need the chain), or inputs whose order matters
    if not all(_unpacks(user) for n in chain for user in n.users):
        return False  # only the unpacking of the op's outputs is rewritten
    first = chain[0]
    with graph.inserting_before(first):
        batched = _Lifter(graph, sequences).concatenated(xs)
        if batched is None:
            batched = graph.call_function(torch.cat, (xs, 0))
        fused = graph.create_node("call_function", first.target, (), {**first.kwargs, "x": batched})
        outputs = [graph.call_function(operator.getitem, (fused, i)) for i in range(n_out)]
    for index in range(n_out):
        sequences[outputs[index]] = len(chain)
    for t, n in enumerate(chain):
        for user in list(n.users):
            seq = outputs[user.args[1]]
            for use in list(user.users):
                if _is_method(use, "squeeze", 0):
                    with graph.inserting_before(use):
                        use.replace_all_uses_with(graph.call_function(operator.getitem, (seq, t)))
            if user.users:
                with graph.inserting_before(user):
                    user.replace_all_uses_with(graph.call_function(operator.getitem, (seq, slice(t, t + 1))))
    return True


def _stacks(graph: fx.Graph, sequences: dict) -> None:
    """`torch.stack` of a batched sequence's steps, in order, is the sequence."""
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch.stack and len(node.args) == 1 \
                and node.kwargs.get("dim", 0) == 0 and isinstance(node.args[0], (list, tuple)):
            parts = node.args[0]
            seq = parts[0].args[0] if parts and _is_getitem(parts[0], 0) else None
            if seq is not None and sequences.get(seq) == len(parts) and all(
                    _is_getitem(p, t) and p.args[0] is seq for t, p in enumerate(parts)):
                node.replace_all_uses_with(seq)


def batch_time(gm: fx.GraphModule) -> int:
    """Rewrite a traced graph's chains of single-step neuron ops into multi-step ones (see the
    module's doc); returns how many chains were batched."""
    from torch._inductor.pattern_matcher import stable_topological_sort

    graph = gm.graph
    sequences: dict = {}
    done = 0
    for chain in _chains(graph):
        done += _rewrite(graph, chain, sequences)
    if done:  # the steps' ops, now without users, go with the dead code
        _stacks(graph, sequences)
        stable_topological_sort(graph)
        graph.eliminate_dead_code()
        graph.lint()
        gm.recompile()
    return done


def backend(gm: fx.GraphModule, example_inputs):
    """The `torch.compile` backend "tritonsnn": `batch_time`, then Inductor.

    Example::

        >>> import torch, tritonsnn
        >>> lif = tritonsnn.Leaky(beta=0.9)
        >>> def run(x):
        ...     mem, out = lif.init_leaky(), []
        ...     for x_t in x:
        ...         spk, mem = lif(x_t, mem)
        ...         out.append(spk)
        ...     return torch.stack(out)
        >>> compiled = torch.compile(run, backend="tritonsnn")
    """
    from torch._inductor.compile_fx import compile_fx

    batch_time(gm)
    return compile_fx(gm, example_inputs)


_registered = False


def register() -> None:
    """Name the backend for `torch.compile(..., backend="tritonsnn")`; idempotent. Called as
    torch._dynamo finishes importing, where listing the backends would import them all."""
    global _registered
    if not _registered:
        from torch._dynamo import register_backend

        register_backend(name="tritonsnn")(backend)
        _registered = True
