"""NIR export and import (`tritonsnn.export_to_nir`, `tritonsnn.import_from_nir`; the optional
extra `nir`): a model's chain of layers and neurons as a NIR graph, and back.

NIR's LIF integrates tau dv/dt = (v_leak - v) + r I and resets to v_reset in the step it fires.
Stepped at dt it is v_t = (1 - dt / tau) v_{t-1} + (r dt / tau) I_t: Leaky's U_t = beta U_{t-1} +
X_t with tau = dt / (1 - beta) and r = tau / dt (snnTorch's mapping), Lapicque's with tau = R C
dt / time_step and r = R, each with a zero reset applied at once (`reset_mechanism="zero",
reset_delay=False`) and spikes of 1. Synaptic maps to CubaLIF the same way (tau_syn = dt /
(1 - alpha), w_in = tau_syn / dt). Those map exactly. Any other reset, the delayed reset (the
neurons' default, and Lapicque's and RSynaptic's always) or graded spikes, NIR's LIF cannot say:
the export refuses them unless `approximate=True`, and then records the neuron's own settings in
the node's metadata (`metadata["tritonsnn"]`, with the decays or circuit as used), which the
import reads back, so a tritonsnn -> NIR -> tritonsnn round trip computes the same numbers.
Parameters are broadcast to the layer's neurons.

The model is traced (`trace.chain`): an `nn.Sequential` at any depth, or a module whose forward
applies its layers in turn, to one step or (with `step_mode="multi"` neurons) to a sequence,
ending perhaps in a sum over time, which is NIR's integrator I. NIR's shapes leave out the batch
(and time): a Flatten's dimensions are torch's less those.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tritonsnn.nir_io import from_nir, to_nir, trace

__all__ = ["export_to_nir", "import_from_nir"]


def _nir():
    try:
        import nir
    except ImportError:
        raise ImportError("NIR export and import need the nir package: pip install -e \".[nir]\"") from None
    return nir


def export_to_nir(model: nn.Module, sample_data: torch.Tensor | None = None, dt: float = 1e-4,
                  approximate: bool = False):
    """The NIR graph of `model`, with the neurons' dynamics stepped at `dt` (seconds).

    `model` is an `nn.Sequential` (nested ones too) or a module whose forward calls its layers in
    turn: `nn.Linear`, `nn.Conv2d`, `nn.AvgPool2d`, `nn.Flatten` (or `torch.flatten`), Leaky,
    Synaptic, Lapicque, RLeaky and RSynaptic, a neuron's spikes taken from its tuple of outputs, a
    multi-step neuron started from `init_leaky()` (and kin), and, last, `.sum(0)` over the time of a
    model of `step_mode="multi"` neurons. Anything else is refused by name. `sample_data`, one step
    `[batch, ...]` (a sequence `[T, batch, ...]` for multi-step neurons), gives the input's shape
    and, run through the layers (not the neurons), every layer's; without it, a chain of Linear
    layers and neurons takes it from its first layer. `approximate=True` exports the neurons NIR's
    LIF cannot express (see the module docstring).

    Example::

        >>> import torch, tritonsnn as snn
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2),
        ...                           snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", reset_delay=False))
        >>> graph = snn.export_to_nir(net)
        >>> sorted(graph.nodes), graph.nodes["1"].tau
        (['0', '1', 'input', 'output'], array([0.001, 0.001], dtype=float32))
    """
    nir = _nir()
    steps, lead = trace.chain(model, to_nir.LAYERS)
    shapes = to_nir.shapes(steps, sample_data, lead)
    nodes, edges, previous = {"input": nir.Input(input_type=np.array(shapes[0]))}, [], "input"
    for (path, module), shape in zip(steps, shapes):
        nodes[path] = to_nir.node(nir, module, path, shape, lead, dt, approximate)
        edges.append((previous, path))
        previous = path
    nodes["output"] = nir.Output(output_type=np.array(shapes[-1]))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def import_from_nir(graph, dt: float = 1e-4) -> nn.Sequential:
    """A `nn.Sequential` that runs a NIR graph of a chain one step at a time: each step
    `[batch, ...]` in, the last node's output out, the neurons' states kept (`init_hidden=True`;
    `tritonsnn.utils.reset(net)` starts again). LIF and CubaLIF nodes become Leaky and Synaptic
    (or the Lapicque, RLeaky and RSynaptic tritonsnn's export recorded) stepped at `dt`, with the
    settings tritonsnn's export recorded (which must agree with the node at this dt), or NIR's
    own (a zero reset applied at once) for a graph from elsewhere; Affine and Linear nodes become
    `nn.Linear`; Conv2d, AvgPool2d and Flatten torch's; I a :class:`tritonsnn.Integrator`. Other
    nodes, branches and cycles are refused by name.

    Example::

        >>> import torch, tritonsnn as snn
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2),
        ...                           snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", reset_delay=False))
        >>> [type(m).__name__ for m in snn.import_from_nir(snn.export_to_nir(net))]
        ['Linear', 'Leaky']
    """
    nir = _nir()
    order, recurrent = from_nir.chain_order(nir, graph)
    return nn.Sequential(*[from_nir.recurrent_neuron(nir, graph.nodes[name], graph.nodes[recurrent[name]], name, dt)
                           if name in recurrent else from_nir.module(nir, graph.nodes[name], name, dt)
                           for name in order])
