"""NIR export and import (`tritonsnn.export_to_nir`, `tritonsnn.import_from_nir`; the optional
extra `nir`): a chain of layers and neurons as a NIR graph, and back.

NIR's LIF integrates tau dv/dt = (v_leak - v) + R I and resets to v_reset in the step it fires.
Stepped at dt, with tau = dt / (1 - beta) and R = tau / dt (snnTorch's mapping), that is Leaky's
U_t = beta U_{t-1} + X_t with a zero reset applied at once: `reset_mechanism="zero",
reset_delay=False`, and spikes of 1. Synaptic maps to CubaLIF the same way (tau_syn = dt /
(1 - alpha), w_in = tau_syn / dt). Those map exactly. Any other reset, the delayed reset (the
neurons' default) or graded spikes, NIR's LIF cannot say: the export refuses them unless
`approximate=True`, and then records the neuron's own settings in the node's metadata
(`metadata["tritonsnn"]`, with the decays as used), which the import reads back, so a tritonsnn
-> NIR -> tritonsnn round trip computes the same numbers. Parameters are broadcast to the
layer's neurons.

This version takes chains: an `nn.Sequential` (nested ones are flattened) of `nn.Linear`,
`nn.Conv2d`, `nn.AvgPool2d`, `nn.Flatten`, Leaky, Synaptic, and RLeaky and RSynaptic with a
Linear or one-to-one term (a subgraph in snnTorch's form: the neuron's spikes back through
`w_rec`); anything else is refused by name.
NIR's shapes leave out the batch: a Flatten's dimensions are torch's less one.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tritonsnn import nn as tritonsnn_nn
from tritonsnn.leaky import Leaky
from tritonsnn.rleaky import RLeaky
from tritonsnn.rsynaptic import RSynaptic
from tritonsnn.synaptic import Stein, Synaptic

__all__ = ["export_to_nir", "import_from_nir"]

_EXACT = {"reset_mechanism": "zero", "reset_delay": False}  # what NIR's LIF and CubaLIF compute


def _nir():
    try:
        import nir
    except ImportError:
        raise ImportError("NIR export and import need the nir package: pip install -e \".[nir]\"") from None
    return nir


def export_to_nir(model: nn.Module, sample_data: torch.Tensor | None = None, dt: float = 1e-4,
                  approximate: bool = False):
    """The NIR graph of `model`, a chain of layers and neurons (see the module docstring), with
    the neurons' dynamics stepped at `dt` (seconds). `sample_data`, one step `[batch, ...]`,
    gives the input's shape (and, run through a copy of the model, every layer's); without it, a
    chain of Linear layers and neurons takes it from its first layer.

    Example::

        >>> import torch, tritonsnn as snn
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2),
        ...                           snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", reset_delay=False))
        >>> graph = snn.export_to_nir(net)
        >>> sorted(graph.nodes), graph.nodes["1"].tau
        (['0', '1', 'input', 'output'], array([0.001, 0.001], dtype=float32))
    """
    nir = _nir()
    chain = _chain(model, "")
    shapes = _shapes(chain, sample_data)
    nodes, edges, previous = {"input": nir.Input(input_type=np.array(shapes[0]))}, [], "input"
    for (path, module), shape in zip(chain, shapes):
        nodes[path] = _export(nir, module, path, shape, dt, approximate)
        edges.append((previous, path))
        previous = path
    nodes["output"] = nir.Output(output_type=np.array(shapes[-1]))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def import_from_nir(graph, dt: float = 1e-4) -> nn.Sequential:
    """A `nn.Sequential` that runs a NIR graph of a chain (`export_to_nir`'s) one step at a time:
    each step `[batch, features]` in, the last layer's spikes out, the neurons' states kept
    (`init_hidden=True`; `tritonsnn.utils.reset(net)` starts again). LIF and CubaLIF nodes become
    Leaky and Synaptic stepped at `dt`, with the settings tritonsnn's export recorded, or NIR's
    own (a zero reset applied at once) for a graph from elsewhere; Affine and Linear nodes become
    `nn.Linear`, Conv2d, AvgPool2d and Flatten torch's. Other nodes, branches and cycles are
    refused by name."""
    nir = _nir()
    order = _chain_order(graph)
    layers = [_import(nir, graph.nodes[name], name, dt) for name in order]
    return nn.Sequential(*layers)


def _chain(model: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    if isinstance(model, nn.Sequential):
        return [item for name, child in model.named_children()
                for item in _chain(child, f"{prefix}{name}" if not prefix else f"{prefix}.{name}")]
    if type(model) in _LAYERS:  # not a subclass, whose forward may compute something else (DeltaLeaky)
        return [(prefix or "0", model)]
    raise TypeError(f"export_to_nir: cannot export {prefix or 'the model'} ({type(model).__name__}): this version "
                    "takes an nn.Sequential of " + ", ".join(sorted({c.__name__ for c in _LAYERS})))


_NEURONS = (Leaky, Synaptic, RLeaky, RSynaptic)
# The same functions as torch's layers, and Synaptic under the seed's name.
_LAYERS = (nn.Linear, tritonsnn_nn.Linear, nn.Conv2d, tritonsnn_nn.Conv2d, nn.AvgPool2d, nn.Flatten, Stein, *_NEURONS)


def _shapes(chain, sample_data) -> list[tuple[int, ...]]:
    """Each layer's input shape, then the chain's output shape, without the batch: one step of
    `sample_data` through the layers (a neuron's spikes have its input's shape, so the neurons
    are not run and their states stay as they are), or, without it, the sizes of a chain of
    Linear layers and neurons."""
    if sample_data is not None:
        shapes, x = [], sample_data.detach()
        with torch.no_grad():
            for _, module in chain:
                shapes.append(tuple(x.shape[1:]))
                x = x if isinstance(module, _NEURONS) else module(x)
        return [*shapes, tuple(x.shape[1:])]
    first = chain[0][1] if chain else None
    if not isinstance(first, nn.Linear) or not all(isinstance(m, (nn.Linear, *_NEURONS)) for _, m in chain):
        raise ValueError("export_to_nir needs sample_data (one step, [batch, ...]) unless the model is a chain of "
                         "Linear layers and neurons that starts with a Linear")
    shapes, size = [], first.in_features
    for _, module in chain:
        shapes.append((size,))
        size = module.out_features if isinstance(module, nn.Linear) else size
    return [*shapes, (size,)]


def _array(t, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter broadcast to the layer's neurons (`shape`, without the batch), as float32."""
    return np.broadcast_to(np.asarray(torch.as_tensor(t).detach().cpu(), dtype=np.float32), shape).copy()


def _pair(value) -> np.ndarray:
    """A 2-d size (an int, a pair, or the array a NIR file holds) as an int array [2]."""
    value = np.asarray(value, dtype=np.int64).reshape(-1)
    return np.repeat(value, 2) if value.size == 1 else value


def _export(nir, module: nn.Module, path: str, shape: tuple[int, ...], dt: float, approximate: bool):
    """The NIR node of one module, whose input has `shape` (without the batch)."""
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().cpu().numpy()
        return (nir.Linear(weight=weight) if module.bias is None
                else nir.Affine(weight=weight, bias=module.bias.detach().cpu().numpy()))
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"export_to_nir: {path} (Conv2d) pads with {module.padding_mode!r}; NIR pads with zeros")
        bias = np.zeros(module.out_channels, dtype=np.float32) if module.bias is None else module.bias.detach().cpu()
        return nir.Conv2d(input_shape=tuple(shape[-2:]), weight=module.weight.detach().cpu().numpy(),
                          stride=module.stride, padding=module.padding, dilation=module.dilation,
                          groups=module.groups, bias=np.asarray(bias))
    if isinstance(module, nn.AvgPool2d):
        if module.ceil_mode or not module.count_include_pad or module.divisor_override is not None:
            raise ValueError(f"export_to_nir: {path} (AvgPool2d) takes ceil_mode, count_include_pad=False or a "
                             "divisor_override, which NIR's AvgPool2d cannot say")
        return nir.AvgPool2d(kernel_size=_pair(module.kernel_size), stride=_pair(module.stride or module.kernel_size),
                             padding=_pair(module.padding))
    if isinstance(module, nn.Flatten):
        if module.start_dim == 0 or module.end_dim == 0:
            raise ValueError(f"export_to_nir: {path} (Flatten) flattens the batch dimension, which NIR leaves out")
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=_without_batch(module.start_dim),
                           end_dim=_without_batch(module.end_dim))
    if isinstance(module, (RLeaky, RSynaptic)):
        return _recurrent(nir, module, path, shape, dt, approximate)
    return _neuron(nir, module, path, shape, dt, approximate)


def _recurrent(nir, module, path: str, shape: tuple[int, ...], dt: float, approximate: bool):
    """RLeaky / RSynaptic as snnTorch writes them: a subgraph in which the neuron's spikes feed
    back through its recurrent term, an Affine (a Linear term) or a diagonal Linear (V)."""
    if len(shape) != 1 or isinstance(module.recurrent, nn.Conv2d):
        raise ValueError(f"export_to_nir: {path} ({type(module).__name__}) has a recurrent term over {shape}: this "
                         "version exports the Linear and one-to-one (V) terms of a layer of features")
    if module.all_to_all:
        w_rec = nir.Affine(weight=module.recurrent.weight.detach().cpu().numpy(),
                           bias=module.recurrent.bias.detach().cpu().numpy())
    else:
        w_rec = nir.Linear(weight=np.diag(_array(module.V, shape)))
    size = np.array(shape)
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=size),
                               "lif": _neuron(nir, module, path, shape, dt, approximate),
                               "w_rec": w_rec, "output": nir.Output(output_type=size)},
                        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def _neuron(nir, module, path: str, shape: tuple[int, ...], dt: float, approximate: bool):
    """The LIF (Leaky, RLeaky) or CubaLIF (Synaptic, RSynaptic) node of a neuron."""
    # RSynaptic's reset is always delayed, whatever its reset_delay says (as in snnTorch).
    delayed = module._delayed() if isinstance(module, (RLeaky, RSynaptic)) else module.reset_delay
    settings = {"reset_mechanism": module.reset_mechanism, "reset_delay": bool(delayed)}
    gsf = _array(module.graded_spikes_factor, shape)
    inexact = [f"{k}={v!r}" for k, v in settings.items() if v != _EXACT[k]] + (
        ["graded spikes"] if (gsf != 1).any() else [])
    if inexact and not approximate:
        raise ValueError(f"export_to_nir: {path} ({type(module).__name__}) has {', '.join(inexact)}, which NIR's "
                         "LIF cannot express (it resets to v_reset in the step it fires): pass approximate=True to "
                         "export it anyway, its settings kept in the node's metadata for tritonsnn's import")
    beta, threshold = _array(module.beta.clamp(0, 1), shape), _array(module.threshold, shape)
    synaptic = isinstance(module, (Synaptic, RSynaptic))
    # The decays as used, bit for bit: 1 - dt / tau would round them again.
    decays = {"alpha": _array(module.alpha.clamp(0, 1), shape), "beta": beta} if synaptic else {"beta": beta}
    metadata = {"tritonsnn": {"class": type(module).__name__, **settings, "graded_spikes_factor": gsf, **decays}}
    tau_mem = dt / (1 - beta)
    zeros = np.zeros(shape, dtype=np.float32)
    if not synaptic:
        return nir.LIF(tau=tau_mem, r=tau_mem / dt, v_leak=zeros, v_threshold=threshold, v_reset=zeros,
                       metadata=metadata)
    tau_syn = dt / (1 - decays["alpha"])
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=zeros, v_threshold=threshold,
                       v_reset=zeros, w_in=tau_syn / dt, metadata=metadata)


def _without_batch(dim: int) -> int:
    """A torch dimension of a batched tensor as NIR counts it, without the batch (negative ones
    count from the end either way)."""
    return dim - 1 if dim > 0 else dim


def _with_batch(dim: int) -> int:
    return dim + 1 if dim >= 0 else dim


def _chain_order(graph) -> list[str]:
    """The graph's nodes from its input to its output, where each has one successor."""
    successors = {}
    for source, target in graph.edges:
        if source in successors:
            raise NotImplementedError(f"import_from_nir: node {source!r} feeds more than one node; this version "
                                      "imports chains")
        successors[source] = target
    order, node = [], successors.get("input")
    while node is not None and node != "output":
        if node in order:
            raise NotImplementedError(f"import_from_nir: node {node!r} is on a cycle; this version imports chains")
        order.append(node)
        node = successors.get(node)
    if node != "output":
        raise ValueError("import_from_nir: no path from the graph's input to its output")
    return order


def _close(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=1e-5, atol=0))


def _import(nir, node, name: str, dt: float) -> nn.Module:
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = _tensor(node.weight)
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=isinstance(node, nir.Affine))
        with torch.no_grad():
            layer.weight.copy_(weight)
            if isinstance(node, nir.Affine):
                layer.bias.copy_(_tensor(node.bias))
        return layer
    if isinstance(node, nir.Conv2d):
        weight = _tensor(node.weight)
        padding = node.padding if isinstance(node.padding, str) else tuple(_pair(node.padding).tolist())
        groups = int(node.groups)
        layer = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                          stride=tuple(_pair(node.stride).tolist()), padding=padding,
                          dilation=tuple(_pair(node.dilation).tolist()), groups=groups)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(_tensor(node.bias))
        return layer
    if isinstance(node, nir.AvgPool2d):
        return nn.AvgPool2d(tuple(_pair(node.kernel_size).tolist()), stride=tuple(_pair(node.stride).tolist()),
                            padding=tuple(_pair(node.padding).tolist()))
    if isinstance(node, nir.Flatten):
        return nn.Flatten(_with_batch(int(node.start_dim)), _with_batch(int(node.end_dim)))
    if isinstance(node, nir.NIRGraph):
        return _import_recurrent(nir, node, name, dt)
    if not isinstance(node, (nir.LIF, nir.CubaLIF)):
        raise NotImplementedError(f"import_from_nir: node {name!r} is a {type(node).__name__}, which this version "
                                  "does not import (it takes Affine, Linear, Conv2d, AvgPool2d, Flatten, LIF and "
                                  "CubaLIF, and subgraphs of a neuron with a recurrent Affine or Linear)")
    return _import_neuron(nir, node, name, dt, Leaky if isinstance(node, nir.LIF) else Synaptic, {})


def _import_recurrent(nir, graph, name: str, dt: float) -> nn.Module:
    """RLeaky / RSynaptic from a subgraph input -> neuron -> output with the neuron's spikes
    through an Affine or Linear back into it (snnTorch's form); a diagonal Linear is the
    one-to-one term V."""
    neurons = [(k, n) for k, n in graph.nodes.items() if isinstance(n, (nir.LIF, nir.CubaLIF))]
    weights = [(k, n) for k, n in graph.nodes.items() if isinstance(n, (nir.Affine, nir.Linear))]
    if len(graph.nodes) != 4 or len(neurons) != 1 or len(weights) != 1 or not {
            (neurons[0][0], weights[0][0]), (weights[0][0], neurons[0][0])} <= set(graph.edges):
        raise NotImplementedError(f"import_from_nir: subgraph {name!r} is not a neuron with a recurrent Affine or "
                                  "Linear; this version imports no other subgraph")
    node, w_rec = neurons[0][1], weights[0][1]
    weight = _tensor(w_rec.weight)
    cls = RLeaky if isinstance(node, nir.LIF) else RSynaptic
    if isinstance(w_rec, nir.Linear) and torch.equal(weight, weight.diagonal().diag()):
        return _import_neuron(nir, node, name, dt, cls, dict(all_to_all=False, V=weight.diagonal().clone()))
    neuron = _import_neuron(nir, node, name, dt, cls, dict(linear_features=weight.shape[0]))
    with torch.no_grad():
        neuron.recurrent.weight.copy_(weight)
        neuron.recurrent.bias.copy_(_tensor(w_rec.bias) if isinstance(w_rec, nir.Affine) else torch.zeros(len(weight)))
    return neuron


def _import_neuron(nir, node, name: str, dt: float, cls: type, term: dict) -> nn.Module:
    """A neuron of class `cls` from a LIF or CubaLIF node (and its recurrent `term`)."""
    tau_mem = np.asarray(node.tau if isinstance(node, nir.LIF) else node.tau_mem, dtype=np.float64)
    for field, value, wanted in (("v_leak", node.v_leak, 0.0), ("v_reset", node.v_reset, 0.0),
                                 ("r", node.r, tau_mem / dt)):
        if not _close(np.asarray(value, dtype=np.float64), wanted):
            raise NotImplementedError(f"import_from_nir: node {name!r} has {field} = {np.asarray(value)}; this "
                                      f"version imports {field} = {wanted if field != 'r' else 'tau / dt'} only")
    saved = dict(node.metadata.get("tritonsnn", {})) if node.metadata else {}
    settings = {"reset_mechanism": str(saved.get("reset_mechanism", _EXACT["reset_mechanism"])),
                "reset_delay": bool(saved.get("reset_delay", _EXACT["reset_delay"]))}
    common = dict(threshold=_tensor(node.v_threshold), init_hidden=True, **settings,
                  graded_spikes_factor=_tensor(saved.get("graded_spikes_factor", 1.0)))
    beta = _tensor(saved.get("beta", 1 - dt / tau_mem))
    if isinstance(node, nir.LIF):
        return cls(beta=beta, **common, **term)
    tau_syn = np.asarray(node.tau_syn, dtype=np.float64)
    if not _close(np.asarray(node.w_in, dtype=np.float64), tau_syn / dt):
        raise NotImplementedError(f"import_from_nir: node {name!r} has w_in = {np.asarray(node.w_in)}; this version "
                                  "imports w_in = tau_syn / dt only")
    return cls(alpha=_tensor(saved.get("alpha", 1 - dt / tau_syn)), beta=beta, **common, **term)


def _tensor(value) -> torch.Tensor:
    """A NIR field (an array, or a number) as an fp32 tensor."""
    return torch.as_tensor(np.asarray(value, dtype=np.float32))
