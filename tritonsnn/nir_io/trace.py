"""A model's forward as the chain of layers NIR gets: traced with torch.fx, tritonsnn's modules
and torch's layers kept whole, each call checked to carry the one signal from the input to the
output.

What the trace takes besides layer calls: a neuron's tuple taken apart (its spikes go on, its
states must be unused), `torch.flatten` / `x.flatten` (an `nn.Flatten`), a multi-step neuron's
initial states given as zeros (`lif.init_leaky()`), and, last, a sum over the time
dimension of a model of multi-step neurons (`spk.sum(0)`, a :class:`TimeSum`). Anything else
is refused by name.
"""
from __future__ import annotations

import inspect
import operator

import torch
from torch import fx, nn

from tritonsnn._neuron import SpikingNeuron
from tritonsnn.integrator import Integrator


class TimeSum(nn.Module):
    """The sum over time (dimension 0) of a sequence `[T, batch, ...]`, as a model's last step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(0)


class _Tracer(fx.Tracer):
    """torch.fx's tracer with tritonsnn's modules as leaves too (a neuron's forward is not
    traced into; one the export cannot carry is then refused by its class's name)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return (type(m).__module__.startswith("tritonsnn.") or isinstance(m, SpikingNeuron)
                or super().is_leaf_module(m, module_qualified_name))


def chain(model: nn.Module, layers: tuple[type, ...]) -> tuple[list[tuple[str, nn.Module]], int]:
    """The layers `model.forward` applies in turn, as `(path, module)` pairs (a flatten or a sum
    over time as the module that computes it, named as the trace names it), and the number of
    leading dimensions its input has before the neurons' ones: 2 (time, batch) for a model of
    `step_mode="multi"` neurons, 1 (batch) otherwise. `layers` are the classes the export maps
    (exactly those: a subclass may compute something else)."""
    if type(model).__name__ == "OptimizedModule":  # torch.compile's wrapper: the model it compiles
        model = model._orig_mod
    if type(model).__module__.startswith("tritonsnn.") or isinstance(model, tuple(layers)):
        model = nn.Sequential(model)  # the trace starts inside the root's forward
    graph_module = _trace(model)
    steps, signal, used, from_rest = [], {}, set(), []

    def consume(node: fx.Node, by: str) -> None:
        if signal.get(node) != "signal":
            raise TypeError(f"export_to_nir: {by} takes {_carried(node, signal)} (NIR's nodes pass spikes only: a "
                            "model whose layers take a neuron's membrane or synaptic current has no NIR form)")
        if node in used:
            raise TypeError(f"export_to_nir: {_what(node)} feeds more than one layer; this version exports chains")
        used.add(node)

    def add(path: str, module: nn.Module) -> None:
        if steps and isinstance(steps[-1][1], TimeSum):
            raise TypeError(f"export_to_nir: {path} comes after the sum over time, which must be the model's last "
                            "operation")
        steps.append((path, module))

    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if not signal:
                signal[node] = "signal"
        elif node.op == "get_attr":
            continue
        elif node.op == "call_module":
            module = graph_module.get_submodule(node.target)
            if type(module) not in layers:
                raise TypeError(f"export_to_nir: cannot export {node.target} ({type(module).__name__}): this "
                                "version takes " + ", ".join(sorted({c.__name__ for c in layers})))
            if any(path == node.target for path, _ in steps):
                raise TypeError(f"export_to_nir: {node.target} is called more than once (a loop over time steps?): "
                                "export a model whose forward applies each layer once, to one step or, with "
                                "step_mode='multi' neurons, to a whole sequence")
            source, started = _one_input(graph_module, node, module)
            consume(source, node.target)
            add(node.target, module)
            if started:
                from_rest.append(node.target)
            tuple_out = isinstance(module, SpikingNeuron) and not (module.init_hidden and not module.output)
            signal[node] = ("outputs", node.target) if tuple_out else "signal"
        elif node.op in ("call_function", "call_method"):
            if getattr(node.target, "__name__", "") == "_assert_is_none":  # torch.fx's check of a None argument
                continue
            source = node.args[0] if node.args else None
            if node.target is operator.getitem and _is_outputs(signal.get(source)):
                if node.args[1] == 0:  # the spikes: the signal goes on
                    if source in used:
                        raise TypeError(f"export_to_nir: {source.target}'s spikes feed more than one layer; this "
                                        "version exports chains")
                    used.add(source)
                    signal[node] = "signal"
                else:
                    signal[node] = ("state", signal[source][1], node.args[1])
                continue
            module = _function_layer(node)
            consume(_only_signal(node, signal), node.name)
            add(node.name, module)
            signal[node] = "signal"
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node):
                raise TypeError("export_to_nir: the model must return one tensor, the last layer's spikes (a NIR "
                                f"graph's output); this one returns {type(out).__name__} {out!r}")
            consume(out, "the model's output")
    unused = [n for n, kind in signal.items() if kind in ("signal", ("outputs", n.target)) and n not in used]
    if unused:
        raise TypeError(f"export_to_nir: {_what(unused[0])}'s result is not used")
    lead = _leading_dimensions(steps)
    if from_rest and lead == 1:
        raise TypeError(f"export_to_nir: {from_rest[0]} is given its initial states in the forward, so each call "
                        "is one step from rest, where NIR's neurons carry their states from step to step: call it "
                        "without them (it keeps its own), or export a model of step_mode='multi' neurons, whose "
                        "call is a whole sequence from rest")
    return steps, lead


def _trace(model: nn.Module) -> fx.GraphModule:
    """The traced forward, arguments after the first fixed at their defaults."""
    parameters = list(inspect.signature(model.forward).parameters.values())
    if not parameters:
        raise TypeError("export_to_nir: the model's forward takes no input")
    fixed = {}
    for p in parameters[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise TypeError(f"export_to_nir: the model's forward needs {p.name!r} besides its input; NIR graphs "
                            "take one input (the neurons keep their own states)")
        fixed[p.name] = p.default
    tracer = _Tracer()
    try:
        graph = tracer.trace(model, concrete_args=fixed or None)
    except Exception as e:  # what torch.fx cannot follow (control flow on the input, ...)
        raise TypeError(f"export_to_nir: torch.fx cannot trace the model's forward ({type(e).__name__}: {e}); "
                        "write it as calls of its layers, or export an nn.Sequential of them") from e
    return fx.GraphModule(tracer.root, graph)


def _one_input(graph_module: fx.GraphModule, node: fx.Node, module: nn.Module) -> tuple[fx.Node, bool]:
    """The call's input, and whether it is given initial states: a neuron may also get its
    states, as None or tensors of zeros (its `init_leaky()` and kin: the states NIR's neurons
    start from)."""
    states = module.state_names if isinstance(module, SpikingNeuron) else ()
    if not node.args or not isinstance(node.args[0], fx.Node):
        raise TypeError(f"export_to_nir: {node.target} is called without an input")
    as_states = len(node.args) <= 1 + len(states) and all(k in states for k in node.kwargs)
    started = False
    for extra in [*node.args[1:], *node.kwargs.values()]:
        if extra is None:
            continue
        started = True
        value = (operator.attrgetter(extra.target)(graph_module)
                 if isinstance(extra, fx.Node) and extra.op == "get_attr" else None)
        if not as_states or not isinstance(value, torch.Tensor) or bool(value.any()):
            raise TypeError(f"export_to_nir: {node.target} is called with more than its input ({_what(extra)}); "
                            "a neuron may be given only its initial states (init_leaky() and kin, or None)")
    return node.args[0], started


def _function_layer(node: fx.Node) -> nn.Module:
    """The module computing a function call of the forward: a flatten, or a sum over time."""
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
    args = node.args[1:]
    if name == "flatten" and node.target in ("flatten", torch.flatten):
        dims = dict(zip(("start_dim", "end_dim"), args)) | dict(node.kwargs)
        return nn.Flatten(dims.get("start_dim", 0), dims.get("end_dim", -1))
    if name == "sum" and node.target in ("sum", torch.sum):
        dim = dict(zip(("dim", "keepdim"), args)) | dict(node.kwargs)
        if dim.get("dim") in (0, (0,), [0]) and not dim.get("keepdim", False) and "dtype" not in dim:
            return TimeSum()
    raise TypeError(f"export_to_nir: cannot export {node.name} ({name}{tuple(args)!r}): the forward may apply "
                    "layers, flatten (torch.flatten) and, last, sum over time (.sum(0))")


def _only_signal(node: fx.Node, signal: dict) -> fx.Node:
    inputs = [a for a in node.all_input_nodes if a in signal]
    if len(inputs) != 1 or node.args[0] is not inputs[0]:
        raise TypeError(f"export_to_nir: {node.name} combines {len(inputs)} signals; this version exports chains")
    return inputs[0]


def _leading_dimensions(steps) -> int:
    modes = {m.step_mode for _, m in steps if isinstance(m, SpikingNeuron)}
    if len(modes) > 1:
        raise TypeError("export_to_nir: the model mixes step_mode='single' and 'multi' neurons")
    if modes == {"multi"} and any(isinstance(m, Integrator) for _, m in steps):
        raise TypeError("export_to_nir: an Integrator sums one step per call; in a model of step_mode='multi' "
                        "neurons sum over time with .sum(0)")
    if any(isinstance(m, TimeSum) for _, m in steps) and modes != {"multi"}:
        raise TypeError("export_to_nir: a sum over dimension 0 is a sum over time only in a model of "
                        "step_mode='multi' neurons; over the batch NIR has no form for it")
    return 2 if modes == {"multi"} else 1


def _is_outputs(kind) -> bool:
    return isinstance(kind, tuple) and kind[0] == "outputs"


def _what(node) -> str:
    return node.target if isinstance(node, fx.Node) and node.op == "call_module" else getattr(node, "name", repr(node))


def _carried(node: fx.Node, signal: dict) -> str:
    """What a value that is not the chain's signal is, for an error."""
    kind = signal.get(node)
    if kind is None:
        return f"{_what(node)}, which is not computed from the input"
    if kind[0] == "state":
        return f"{kind[1]}'s output {kind[2]} (a state)"
    return f"{kind[1]}'s tuple of outputs whole (take its spikes, [0])"
