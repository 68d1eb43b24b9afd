"""The modules of a NIR chain's nodes (`import_from_nir`)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tritonsnn.integrator import Integrator
from tritonsnn.lapicque import Lapicque
from tritonsnn.leaky import Leaky
from tritonsnn.nir_io import to_nir
from tritonsnn.nir_io.fields import EXACT, close, pair_tuple, tensor
from tritonsnn.rleaky import RLeaky
from tritonsnn.rsynaptic import RSynaptic
from tritonsnn.synaptic import Synaptic

TAKES = ("Affine, Linear, Conv2d, AvgPool2d, Flatten, LIF, CubaLIF, I (an integrator), and subgraphs of a neuron "
         "with a recurrent Affine, Linear or Conv2d")


def chain_order(nir, graph) -> tuple[list[str], dict[str, str]]:
    """The graph's nodes from its input to its output, where each has one successor, and the
    recurrent weight of each neuron that has one beside it (snnTorch's exporter writes its
    RLeaky subgraphs flattened, neuron <-> w_rec, into the graph)."""
    recurrent = {}
    for source, target in graph.edges:
        if ((target, source) in graph.edges and isinstance(graph.nodes.get(source), (nir.LIF, nir.CubaLIF))
                and isinstance(graph.nodes.get(target), (nir.Affine, nir.Linear, nir.Conv2d))
                and sum(target in edge for edge in graph.edges) == 2):
            recurrent[source] = target
    successors = {}
    for source, target in graph.edges:
        if recurrent.get(source) == target or recurrent.get(target) == source:
            continue
        if source in successors:
            raise NotImplementedError(f"import_from_nir: node {source!r} feeds more than one node; this version "
                                      "imports chains")
        successors[source] = target
    order, name = [], successors.get("input")
    while name is not None and name != "output":
        if name in order:
            raise NotImplementedError(f"import_from_nir: node {name!r} is on a cycle; this version imports chains")
        order.append(name)
        name = successors.get(name)
    if name != "output":
        raise ValueError("import_from_nir: no path from the graph's input to its output")
    return order, recurrent


def module(nir, node, name: str, dt: float) -> nn.Module:
    """The module computing NIR node `node` (named `name`), its neurons stepped at `dt`."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = tensor(node.weight)
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=isinstance(node, nir.Affine))
        with torch.no_grad():
            layer.weight.copy_(weight)
            if isinstance(node, nir.Affine):
                layer.bias.copy_(tensor(node.bias))
        return layer
    if isinstance(node, nir.Conv2d):
        weight, groups = tensor(node.weight), int(node.groups)
        padding = node.padding if isinstance(node.padding, str) else pair_tuple(node.padding)
        layer = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                          stride=pair_tuple(node.stride), padding=padding, dilation=pair_tuple(node.dilation),
                          groups=groups)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(tensor(node.bias))
        return layer
    if isinstance(node, nir.AvgPool2d):
        return nn.AvgPool2d(pair_tuple(node.kernel_size), stride=pair_tuple(node.stride),
                            padding=pair_tuple(node.padding))
    if isinstance(node, nir.Flatten):
        return nn.Flatten(_with_batch(int(node.start_dim)), _with_batch(int(node.end_dim)))
    if isinstance(node, nir.I):
        return Integrator(gain=torch.as_tensor(np.asarray(node.r, dtype=np.float64) * dt, dtype=torch.float32))
    if isinstance(node, nir.NIRGraph):
        return _recurrent(nir, node, name, dt)
    if not isinstance(node, (nir.LIF, nir.CubaLIF)):
        raise NotImplementedError(f"import_from_nir: node {name!r} is a {type(node).__name__}, which this version "
                                  f"does not import (it takes {TAKES})")
    return _neuron(nir, node, name, dt, Leaky if isinstance(node, nir.LIF) else Synaptic, {})


def _with_batch(dim: int) -> int:
    """A NIR dimension (no batch) as torch's of one step `[batch, ...]`."""
    return dim + 1 if dim >= 0 else dim


def _recurrent(nir, graph, name: str, dt: float) -> nn.Module:
    """RLeaky / RSynaptic from a subgraph input -> neuron -> output with the neuron's spikes
    through an Affine, Linear or Conv2d back into it (snnTorch's form); a diagonal Linear is the
    one-to-one term V."""
    neurons = [(k, n) for k, n in graph.nodes.items() if isinstance(n, (nir.LIF, nir.CubaLIF))]
    weights = [(k, n) for k, n in graph.nodes.items() if isinstance(n, (nir.Affine, nir.Linear, nir.Conv2d))]
    if len(graph.nodes) != 4 or len(neurons) != 1 or len(weights) != 1 or not {
            (neurons[0][0], weights[0][0]), (weights[0][0], neurons[0][0])} <= set(graph.edges):
        raise NotImplementedError(f"import_from_nir: subgraph {name!r} is not a neuron with a recurrent Affine, "
                                  "Linear or Conv2d; this version imports no other subgraph")
    return recurrent_neuron(nir, neurons[0][1], weights[0][1], name, dt)


def recurrent_neuron(nir, node, w_rec, name: str, dt: float) -> nn.Module:
    """RLeaky (a LIF `node`) or RSynaptic (a CubaLIF) with the recurrent term `w_rec`."""
    cls = RLeaky if isinstance(node, nir.LIF) else RSynaptic
    layer = module(nir, w_rec, f"{name}'s w_rec", dt)
    if isinstance(w_rec, nir.Linear) and torch.equal(layer.weight, layer.weight.diagonal().diag()):
        return _neuron(nir, node, name, dt, cls, dict(all_to_all=False, V=layer.weight.diagonal().clone()))
    if isinstance(layer, nn.Linear):
        neuron = _neuron(nir, node, name, dt, cls, dict(linear_features=layer.out_features))
    else:
        neuron = _neuron(nir, node, name, dt, cls, dict(conv2d_channels=layer.out_channels,
                                                        kernel_size=layer.kernel_size))
        made = neuron.recurrent
        if (layer.in_channels, layer.stride, layer.padding, layer.dilation, layer.groups) != (
                made.in_channels, made.stride, made.padding, made.dilation, made.groups):
            raise NotImplementedError(f"import_from_nir: subgraph {name!r}'s recurrent Conv2d is not RLeaky's and "
                                      "RSynaptic's (channels in = out, stride 1, padding kernel_size // 2, no "
                                      "dilation, one group)")
    with torch.no_grad():
        neuron.recurrent.weight.copy_(layer.weight)
        neuron.recurrent.bias.copy_(torch.zeros(len(layer.weight)) if layer.bias is None else layer.bias)
    return neuron


def _neuron(nir, node, name: str, dt: float, cls: type, term: dict) -> nn.Module:
    """A neuron of class `cls` from a LIF or CubaLIF node (and its recurrent `term`): from the
    settings tritonsnn's export recorded in the node's metadata, or with NIR's semantics."""
    for field in ("v_leak", "v_reset"):
        if not close(getattr(node, field), 0.0):
            value = np.asarray(getattr(node, field))
            raise NotImplementedError(f"import_from_nir: node {name!r} has {field} = {value}; this version imports "
                                      f"{field} = 0 only")
    saved = dict(node.metadata.get("tritonsnn", {})) if node.metadata else {}
    if not saved:
        return _from_nir(nir, node, name, dt, cls, term)
    neuron = _from_saved(node, name, cls, term, saved)
    _check_agrees(nir, neuron, node, name, dt)
    return neuron


def _from_nir(nir, node, name: str, dt: float, cls: type, term: dict) -> nn.Module:
    """NIR's semantics: a zero reset applied at once, the input unscaled."""
    tau_mem = np.asarray(node.tau if isinstance(node, nir.LIF) else node.tau_mem, dtype=np.float64)
    wanted = [("r", node.r, tau_mem / dt, "tau / dt")]
    if isinstance(node, nir.CubaLIF):
        wanted.append(("w_in", node.w_in, np.asarray(node.tau_syn, dtype=np.float64) / dt, "tau_syn / dt"))
    for field, value, expected, formula in wanted:
        if not close(value, expected):
            raise NotImplementedError(f"import_from_nir: node {name!r} has {field} = {np.asarray(value)}; this "
                                      f"version imports {field} = {formula} only")
    common = dict(threshold=tensor(node.v_threshold), init_hidden=True, **EXACT, **term)
    beta = tensor(1 - dt / tau_mem)
    if isinstance(node, nir.LIF):
        return cls(beta=beta, **common)
    return cls(alpha=tensor(1 - dt / np.asarray(node.tau_syn, dtype=np.float64)), beta=beta, **common)


def _from_saved(node, name: str, cls: type, term: dict, saved: dict) -> nn.Module:
    """The neuron tritonsnn exported, from its recorded settings and decays, bit for bit."""
    common = dict(threshold=tensor(node.v_threshold), init_hidden=True, reset_mechanism=str(saved["reset_mechanism"]),
                  graded_spikes_factor=tensor(saved["graded_spikes_factor"]), **term)
    if str(saved["class"]) == "Lapicque":
        if cls is not Leaky:
            raise ValueError(f"import_from_nir: node {name!r} records a Lapicque neuron in a {cls.__name__}'s place "
                             "(Lapicque has no recurrent form)")
        circuit = {k: torch.as_tensor(np.asarray(v)) for k, v in saved["circuit"].items()}
        return Lapicque(**circuit, time_step=torch.as_tensor(np.asarray(saved["time_step"])),
                        learn_beta=bool(saved["learn_beta"]), **common)
    common["reset_delay"] = bool(saved["reset_delay"])
    if cls in (Leaky, RLeaky):
        return cls(beta=tensor(saved["beta"]), **common)
    return cls(alpha=tensor(saved["alpha"]), beta=tensor(saved["beta"]), **common)


def _check_agrees(nir, neuron, node, name: str, dt: float) -> None:
    """The node's dynamics are those of the neuron made from it, at this dt (a recorded neuron
    imported at another dt than its export's, or a node edited after, would otherwise run other
    numbers than the graph says)."""
    shape = tuple(np.shape(node.v_threshold))
    made = to_nir.neuron_node(nir, neuron, name, shape, dt, approximate=True)
    fields = ("tau", "r") if isinstance(node, nir.LIF) else ("tau_syn", "tau_mem", "r", "w_in")
    for field in fields:
        if not close(getattr(node, field), getattr(made, field)):
            raise ValueError(f"import_from_nir: node {name!r}'s {field} is not that of the neuron its metadata "
                             f"records at dt = {dt} (was the graph exported at another dt, or edited?)")
