"""The NIR node of each layer of a traced chain (`trace.chain`), and the layers' shapes."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tritonsnn import _checks
from tritonsnn import nn as tritonsnn_nn
from tritonsnn._neuron import SpikingNeuron
from tritonsnn.integrator import Integrator
from tritonsnn.lapicque import Lapicque
from tritonsnn.leaky import Leaky
from tritonsnn.nir_io.fields import EXACT, array, pair, weight
from tritonsnn.nir_io.trace import TimeSum
from tritonsnn.rleaky import RLeaky
from tritonsnn.rsynaptic import RSynaptic
from tritonsnn.synaptic import Stein, Synaptic

NEURONS = (Leaky, Synaptic, Lapicque, RLeaky, RSynaptic)
# The classes the export maps (exactly these: DeltaLeaky, a Leaky, computes something else);
# tritonsnn's Linear and Conv2d are torch's, and Stein is Synaptic under the seed's name.
LAYERS = (nn.Linear, tritonsnn_nn.Linear, nn.Conv2d, tritonsnn_nn.Conv2d, nn.AvgPool2d, nn.Flatten, TimeSum,
          Integrator, Stein, *NEURONS)


def shapes(steps, sample_data: torch.Tensor | None, lead: int) -> list[tuple[int, ...]]:
    """Each layer's input shape, then the chain's output shape, without the leading (batch, and
    time) dimensions: `sample_data` through the layers (a neuron's spikes have its input's
    shape, so the neurons are not run and their states stay as they are), or, without it, the
    sizes of a chain of Linear layers and neurons."""
    if sample_data is not None:
        if sample_data.dim() < lead:
            raise ValueError(f"export_to_nir: sample_data has {sample_data.dim()} dimensions; this model takes "
                             + ("[T, batch, ...]" if lead == 2 else "[batch, ...]"))
        result, x = [], sample_data.detach()
        with torch.no_grad():
            for _, module in steps:
                result.append(tuple(x.shape[lead:]))
                lead -= isinstance(module, TimeSum)
                x = x if isinstance(module, (SpikingNeuron, Integrator)) else module(x)
        return [*result, tuple(x.shape[lead:])]
    first, sized = steps[0][1] if steps else None, (nn.Linear, TimeSum, Integrator, *NEURONS)
    if not isinstance(first, nn.Linear) or not all(isinstance(m, sized) for _, m in steps):
        raise ValueError("export_to_nir needs sample_data (one step, [batch, ...], or a sequence [T, batch, ...] for "
                         "multi-step neurons) unless the model is a chain of Linear layers and neurons that starts "
                         "with a Linear")
    result, size = [], first.in_features
    for _, module in steps:
        result.append((size,))
        size = module.out_features if isinstance(module, nn.Linear) else size
    return [*result, (size,)]


def node(nir, module: nn.Module, path: str, shape: tuple[int, ...], lead: int, dt: float, approximate: bool):
    """The NIR node of one module, whose input has `shape` after `lead` leading dimensions."""
    if isinstance(module, nn.Linear):
        return (nir.Linear(weight=weight(module.weight)) if module.bias is None
                else nir.Affine(weight=weight(module.weight), bias=weight(module.bias)))
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"export_to_nir: {path} (Conv2d) pads with {module.padding_mode!r}; NIR pads with zeros")
        return _conv(nir, module, shape)
    if isinstance(module, nn.AvgPool2d):
        if module.ceil_mode or not module.count_include_pad or module.divisor_override is not None:
            raise ValueError(f"export_to_nir: {path} (AvgPool2d) takes ceil_mode, count_include_pad=False or a "
                             "divisor_override, which NIR's AvgPool2d cannot say")
        return nir.AvgPool2d(kernel_size=pair(module.kernel_size), stride=pair(module.stride or module.kernel_size),
                             padding=pair(module.padding))
    if isinstance(module, nn.Flatten):
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=_leading_off(module.start_dim, path, shape,
                                                                                          lead),
                           end_dim=_leading_off(module.end_dim, path, shape, lead))
    if isinstance(module, TimeSum):  # NIR's integrator, v' = r I, stepped at dt: v_t = v_{t-1} + I_t
        return nir.I(r=np.full(shape, 1 / dt, dtype=np.float32))
    if isinstance(module, Integrator):  # the running sum of an imported model
        return nir.I(r=(np.broadcast_to(weight(module.gain).astype(np.float64), shape) / dt).astype(np.float32))
    if isinstance(module, (RLeaky, RSynaptic)):
        return _recurrent(nir, module, path, shape, dt, approximate)
    return neuron_node(nir, module, path, shape, dt, approximate)


def _conv(nir, conv: nn.Conv2d, shape: tuple[int, ...]):
    bias = np.zeros(conv.out_channels, dtype=np.float32) if conv.bias is None else weight(conv.bias)
    return nir.Conv2d(input_shape=tuple(shape[-2:]), weight=weight(conv.weight), stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=bias)


def _leading_off(dim: int, path: str, shape: tuple[int, ...], lead: int) -> int:
    """A torch dimension of the batched (and, in a multi-step model, time-major) tensor as NIR
    counts it, without those leading dimensions (negative ones count from the end either way)."""
    if (dim if dim >= 0 else dim + len(shape) + lead) < lead:
        raise ValueError(f"export_to_nir: {path} (Flatten) flattens the " + ("time or " if lead == 2 else "")
                         + "batch dimension, which NIR leaves out")
    return dim - lead if dim >= 0 else dim


def _recurrent(nir, module, path: str, shape: tuple[int, ...], dt: float, approximate: bool):
    """RLeaky / RSynaptic as snnTorch writes them: a subgraph in which the neuron's spikes feed
    back through its recurrent term, an Affine (a Linear term), a Conv2d, or a diagonal Linear
    (V, one-to-one)."""
    if isinstance(module.recurrent, nn.Conv2d):
        w_rec = _conv(nir, module.recurrent, shape)
    elif len(shape) != 1:
        raise ValueError(f"export_to_nir: {path} ({type(module).__name__}) has a Linear or one-to-one recurrent "
                         f"term over neurons of shape {shape}; NIR's Affine takes a layer of features")
    elif module.all_to_all:
        w_rec = nir.Affine(weight=weight(module.recurrent.weight), bias=weight(module.recurrent.bias))
    else:
        w_rec = nir.Linear(weight=np.diag(array(module.V, shape)))
    size = np.array(shape)
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=size),
                               "lif": neuron_node(nir, module, path, shape, dt, approximate),
                               "w_rec": w_rec, "output": nir.Output(output_type=size)},
                        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def neuron_node(nir, module, path: str, shape: tuple[int, ...], dt: float, approximate: bool):
    """The LIF (Leaky, Lapicque, RLeaky) or CubaLIF (Synaptic, RSynaptic) node of a neuron."""
    # Lapicque's reset is always delayed, and RSynaptic's whatever its reset_delay says (as in snnTorch).
    delayed = (True if isinstance(module, Lapicque) else
               module._delayed() if isinstance(module, (RLeaky, RSynaptic)) else module.reset_delay)
    settings = {"reset_mechanism": module.reset_mechanism, "reset_delay": bool(delayed)}
    gsf = array(module.graded_spikes_factor, shape)
    inexact = [f"{k}={v!r}" for k, v in settings.items() if v != EXACT[k]] + (
        ["graded spikes"] if (gsf != 1).any() else [])
    if inexact and not approximate:
        raise ValueError(f"export_to_nir: {path} ({type(module).__name__}) has {', '.join(inexact)}, which NIR's "
                         "LIF cannot express (it resets to v_reset in the step it fires): pass approximate=True to "
                         "export it anyway, its settings kept in the node's metadata for tritonsnn's import")
    saved = {"class": type(module).__name__, **settings, "graded_spikes_factor": gsf}
    decay, scale = _membrane(module, shape, saved)
    # tau dv/dt = -v + r I stepped at dt: v_t = (1 - dt / tau) v_{t-1} + (r dt / tau) I_t.
    tau_mem = dt / (1 - decay.astype(np.float64))
    r, threshold, zeros = scale / (1 - decay.astype(np.float64)), array(module.threshold, shape), np.zeros(shape)
    common = dict(r=r.astype(np.float32), v_leak=zeros.astype(np.float32), v_threshold=threshold,
                  v_reset=zeros.astype(np.float32), metadata={"tritonsnn": saved})
    if not isinstance(module, (Synaptic, RSynaptic)):
        return nir.LIF(tau=tau_mem.astype(np.float32), **common)
    tau_syn = dt / (1 - saved["alpha"].astype(np.float64))
    return nir.CubaLIF(tau_syn=tau_syn.astype(np.float32), tau_mem=tau_mem.astype(np.float32),
                       w_in=(tau_syn / dt).astype(np.float32), **common)


def _membrane(module, shape: tuple[int, ...], saved: dict) -> tuple[np.ndarray, np.ndarray]:
    """The membrane's decay and input scale per neuron, as the neuron computes them, and, in
    `saved`, what tritonsnn's import rebuilds the neuron from bit for bit (1 - dt / tau would
    round the decays again)."""
    if isinstance(module, Lapicque):
        circuit = module._circuit_given()
        # At least 1-d: NIR's files store no 0-d arrays.
        saved.update(circuit={k: np.atleast_1d(weight(torch.as_tensor(v))) for k, v in circuit.items()},
                     time_step=np.atleast_1d(weight(module.time_step)), learn_beta=bool(module.learn_beta))
        # In float64, so that R and C come out as NIR's r and tau (R C dt / time_step) to its precision.
        wide = {k: torch.as_tensor(v).detach().cpu().double() for k, v in circuit.items()}
        decay, scale = _checks.lapicque_circuit(wide.get("beta"), wide["R"], wide.get("C"),
                                                module.time_step.detach().cpu().double(),
                                                torch.zeros((1, *shape), dtype=torch.float64))
        return _wide(decay, shape), _wide(scale, shape)
    saved["beta"] = array(module.beta.clamp(0, 1), shape)
    if isinstance(module, (Synaptic, RSynaptic)):
        saved["alpha"] = array(module.alpha.clamp(0, 1), shape)
    return saved["beta"], np.ones(shape, dtype=np.float32)


def _wide(t: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(t.numpy(), shape).astype(np.float64)
