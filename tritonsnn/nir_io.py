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
Leaky and Synaptic; anything else is refused by name.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tritonsnn.leaky import Leaky
from tritonsnn.synaptic import Synaptic

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
    the neurons' dynamics stepped at `dt` (seconds). `sample_data`, one step `[batch, features]`,
    gives the input's size; without it, the first layer's does.

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
    size = int(sample_data.shape[-1]) if sample_data is not None else _in_features(chain)
    nodes, edges, previous = {"input": nir.Input(input_type=np.array([size]))}, [], "input"
    for path, module in chain:
        node, size = _export(nir, module, path, size, dt, approximate)
        nodes[path] = node
        edges.append((previous, path))
        previous = path
    nodes["output"] = nir.Output(output_type=np.array([size]))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def import_from_nir(graph, dt: float = 1e-4) -> nn.Sequential:
    """A `nn.Sequential` that runs a NIR graph of a chain (`export_to_nir`'s) one step at a time:
    each step `[batch, features]` in, the last layer's spikes out, the neurons' states kept
    (`init_hidden=True`; `tritonsnn.utils.reset(net)` starts again). LIF and CubaLIF nodes become
    Leaky and Synaptic stepped at `dt`, with the settings tritonsnn's export recorded, or NIR's
    own (a zero reset applied at once) for a graph from elsewhere; Affine and Linear nodes become
    `nn.Linear`. Other nodes, branches and cycles are refused by name."""
    nir = _nir()
    order = _chain_order(graph)
    layers = [_import(nir, graph.nodes[name], name, dt) for name in order]
    return nn.Sequential(*layers)


def _chain(model: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    if isinstance(model, nn.Sequential):
        return [item for name, child in model.named_children()
                for item in _chain(child, f"{prefix}{name}" if not prefix else f"{prefix}.{name}")]
    if isinstance(model, (nn.Linear, Leaky, Synaptic)):
        return [(prefix or "0", model)]
    raise TypeError(f"export_to_nir: cannot export {prefix or 'the model'} ({type(model).__name__}): this version "
                    "takes an nn.Sequential of nn.Linear, Leaky and Synaptic")


def _in_features(chain) -> int:
    first = chain[0][1] if chain else None
    if not isinstance(first, nn.Linear):
        raise ValueError("export_to_nir needs sample_data (one step, [batch, features]) when the model does not "
                         "start with an nn.Linear")
    return first.in_features


def _array(t, size: int) -> np.ndarray:
    """A parameter broadcast to the layer's `size` neurons, as float32."""
    return np.broadcast_to(np.asarray(torch.as_tensor(t).detach().cpu(), dtype=np.float32).reshape(-1), (size,)).copy()


def _export(nir, module: nn.Module, path: str, size: int, dt: float, approximate: bool):
    """(the NIR node of one module, the size of its output)."""
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().cpu().numpy()
        node = (nir.Linear(weight=weight) if module.bias is None
                else nir.Affine(weight=weight, bias=module.bias.detach().cpu().numpy()))
        return node, module.out_features
    settings = {"reset_mechanism": module.reset_mechanism, "reset_delay": bool(module.reset_delay)}
    gsf = _array(module.graded_spikes_factor, size)
    inexact = [f"{k}={v!r}" for k, v in settings.items() if v != _EXACT[k]] + (
        ["graded spikes"] if (gsf != 1).any() else [])
    if inexact and not approximate:
        raise ValueError(f"export_to_nir: {path} ({type(module).__name__}) has {', '.join(inexact)}, which NIR's "
                         "LIF cannot express (it resets to v_reset in the step it fires): pass approximate=True to "
                         "export it anyway, its settings kept in the node's metadata for tritonsnn's import")
    beta, threshold = _array(module.beta.clamp(0, 1), size), _array(module.threshold, size)
    # The decays as used, bit for bit: 1 - dt / tau would round them again.
    decays = {"beta": beta} if isinstance(module, Leaky) else {"alpha": _array(module.alpha.clamp(0, 1), size),
                                                               "beta": beta}
    metadata = {"tritonsnn": {"class": type(module).__name__, **settings, "graded_spikes_factor": gsf, **decays}}
    tau_mem = dt / (1 - beta)
    zeros = np.zeros(size, dtype=np.float32)
    if isinstance(module, Leaky):
        return nir.LIF(tau=tau_mem, r=tau_mem / dt, v_leak=zeros, v_threshold=threshold, v_reset=zeros,
                       metadata=metadata), size
    tau_syn = dt / (1 - decays["alpha"])
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=zeros, v_threshold=threshold,
                       v_reset=zeros, w_in=tau_syn / dt, metadata=metadata), size


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
        weight = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=isinstance(node, nir.Affine))
        with torch.no_grad():
            layer.weight.copy_(weight)
            if isinstance(node, nir.Affine):
                layer.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32))
        return layer
    if not isinstance(node, (nir.LIF, nir.CubaLIF)):
        raise NotImplementedError(f"import_from_nir: node {name!r} is a {type(node).__name__}, which this version "
                                  "does not import (it takes Affine, Linear, LIF and CubaLIF)")
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
        return Leaky(beta=beta, **common)
    tau_syn = np.asarray(node.tau_syn, dtype=np.float64)
    if not _close(np.asarray(node.w_in, dtype=np.float64), tau_syn / dt):
        raise NotImplementedError(f"import_from_nir: node {name!r} has w_in = {np.asarray(node.w_in)}; this version "
                                  "imports w_in = tau_syn / dt only")
    return Synaptic(alpha=_tensor(saved.get("alpha", 1 - dt / tau_syn)), beta=beta, **common)


def _tensor(value) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float32))
