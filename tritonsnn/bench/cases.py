"""The benchmark cases: each workload (a neuron alone, over a padded batch, or inside a Linear or
conv network) with every implementation that runs it, and the list of them that a run times."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

import tritonsnn
from tritonsnn import reference
from tritonsnn._ends import past_end
from tritonsnn.catalogue import NEURONS

SUBJECT, REFERENCE = "tritonsnn", "reference"


Runner = Callable[[torch.Tensor], torch.Tensor]  # x (a fresh leaf) -> the output to backprop


def _neuron_fns(neuron: str) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The layer's spikes from x: [T, B, N], per implementation (fused and the naive reference),
    with the catalogue's decays and snnTorch's default threshold."""
    n = NEURONS[neuron]
    return {SUBJECT: lambda x: n.call(tritonsnn.functional, x, threshold=1.0)[0],
            REFERENCE: lambda x: n.call(reference, x, threshold=1.0)[0]}


def _snntorch_neuron(neuron: str):
    import snntorch

    lif = getattr(snntorch, NEURONS[neuron].snntorch)(**NEURONS[neuron].params)

    def run(x):  # snnTorch's per-step loop over the input, its fastest form
        states, spikes = lif.reset_mem(), []
        states = list(states) if isinstance(states, tuple) else [states]
        for x_t in x:
            spk, *states = lif(x_t, *states)
            spikes.append(spk)
        return torch.stack(spikes)
    return run


def _spikingjelly_leaky(device: torch.device):
    from spikingjelly.activation_based import neuron, surrogate

    # The closest LIFNode: H = 0.9 V + X (tau = 10, decay_input=False), soft reset by the
    # threshold (detached), ATan(alpha=2) surrogate. It subtracts the threshold before the next
    # step's decay where snnTorch subtracts it after, so its spikes differ slightly: the same
    # workload, not the same numbers.
    kwargs = dict(tau=10.0, decay_input=False, v_reset=None, detach_reset=True,
                  surrogate_function=surrogate.ATan(), step_mode="m")
    if device.type == "cuda":
        kwargs["backend"] = "triton"
    lif = neuron.LIFNode(**kwargs).to(device)

    def run(x):
        lif.reset()
        return lif(x)
    return run


def _stepped(step) -> Runner:
    """The loop of snnTorch's tutorials over x: [T, ...]: `step(x_t, states)` once per step, each
    step's spikes stacked."""
    def run(x):
        states, spikes = None, []
        for x_t in x.unbind(0):
            spk, *states = step(x_t, states)
            spikes.append(spk)
        return torch.stack(spikes)
    return run


def stepped_impls(neuron: str, device: torch.device) -> dict[str, Runner]:
    """The neuron as the tutorials run it, one single-step call per time step: tritonsnn's module,
    the naive reference called on each step (its states carried by hand) and snnTorch's module."""
    n = NEURONS[neuron]
    module = n.module(threshold=1.0, **n.params).to(device)

    def tritonsnn_step(x_t, states):
        if states is None:
            module.reset_mem()
        return module(x_t)

    def reference_step(x_t, states):
        outs = n.call(reference, x_t.unsqueeze(0), states=states, threshold=1.0)
        return [o.squeeze(0) for o in outs]

    impls = {SUBJECT: _stepped(tritonsnn_step), REFERENCE: _stepped(reference_step)}
    try:
        impls["snntorch"] = _snntorch_neuron(neuron)
    except ImportError:
        pass
    return impls


def neuron_impls(neuron: str, device: torch.device, compiled: bool) -> dict[str, Runner]:
    """The neuron's spikes from x, per implementation: tritonsnn, the reference, torch.compile of
    the reference (with `compiled`), and snnTorch and SpikingJelly (Leaky only) when installed."""
    impls: dict[str, Runner] = dict(_neuron_fns(neuron))
    if compiled:
        impls["reference_compiled"] = torch.compile(impls[REFERENCE])
    try:
        impls["snntorch"] = _snntorch_neuron(neuron)
    except ImportError:
        pass
    if neuron == "leaky":
        try:
            impls["spikingjelly"] = _spikingjelly_leaky(device)
        except (ImportError, TypeError):
            pass
    return impls


def padded_impls(shape: tuple, device: torch.device) -> dict[str, Runner]:
    """Leaky over a padded batch whose samples end at lengths between T/2 and T: tritonsnn and the
    reference with `lengths`, and, as one pads by hand without them, tritonsnn, snnTorch and
    SpikingJelly over all T steps with the spikes masked afterwards (the same spikes, and the same
    gradients, within each length)."""
    T, B = shape[:2]
    lengths = torch.randint(T // 2, T + 1, (B,), generator=torch.Generator().manual_seed(0)).to(device)
    mask = (~past_end(lengths, shape)).float()  # [T, B, 1]
    impls: dict[str, Runner] = {SUBJECT: lambda x: tritonsnn.functional.leaky(x, 0.9, lengths=lengths)[0],
                                REFERENCE: lambda x: reference.leaky(x, 0.9, lengths=lengths)[0]}
    for name, run in neuron_impls("leaky", device, compiled=False).items():
        masked = "tritonsnn_masked" if name == SUBJECT else name
        if name != REFERENCE:
            impls[masked] = lambda x, run=run: run(x) * mask
    return impls


class _LinearLIF(nn.Module):
    """The Open Neuromorphic benchmark's network: Linear(n, n), then one LIF layer."""

    def __init__(self, n: int, lif: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.lif = lif

    def forward(self, x):
        return self.lif(self.fc(x))


class _ConvLIF(nn.Module):
    """A conv SNN block: Conv2d over [T*B, C, H, W], then a multi-step neuron over [T, B, ...]."""

    def __init__(self, channels: int, lif: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.lif = lif

    def forward(self, x):
        y = self.conv(x.flatten(0, 1))
        return self.lif(y.reshape(x.shape[0], x.shape[1], *y.shape[1:]))


def network_impls(kind: str, width: int, device: torch.device, compiled: bool) -> dict[str, Runner]:
    """The Linear+LIF (width n) or conv (width = channels) network with each neuron implementation."""
    layer = _LinearLIF if kind == "linear" else _ConvLIF
    impls = {}
    for name, lif in neuron_impls("leaky", device, compiled).items():
        torch.manual_seed(0)
        impls[name] = layer(width, lif).to(device)
    return impls


class _RecurrentNet(nn.Module):
    """The speech networks' shape: Linear input projections into recurrent layers (RLeaky with a
    Linear recurrent term, beta 0.9), then a Linear readout of the last layer's spikes, e.g.
    SpyTorch's SHD network 700 -> 200 recurrent -> 20. `impl` runs the layers: tritonsnn's
    multi-step RLeaky (each projection one GEMM over every step), the naive reference on the same
    layout, or snnTorch's RLeaky called per step as its tutorials write it."""

    def __init__(self, sizes: tuple[int, ...], impl: str):
        super().__init__()
        torch.manual_seed(0)
        self.impl = impl
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-2], sizes[1:-1]))
        self.readout = nn.Linear(sizes[-2], sizes[-1])
        if impl == "snntorch":
            import snntorch

            self.lifs = nn.ModuleList(snntorch.RLeaky(beta=0.9, linear_features=n) for n in sizes[1:-1])
        else:
            self.lifs = nn.ModuleList(tritonsnn.RLeaky(beta=0.9, linear_features=n, step_mode="multi")
                                      for n in sizes[1:-1])

    def forward(self, x):
        if self.impl == "snntorch":
            states = [lif.init_rleaky() for lif in self.lifs]
            outs = []
            for x_t in x.unbind(0):
                for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                    states[i] = lif(fc(x_t), *states[i])
                    x_t = states[i][0]
                outs.append(self.readout(x_t))
            return torch.stack(outs)
        for fc, lif in zip(self.fcs, self.lifs):
            x = lif(fc(x))[0] if self.impl == SUBJECT else reference.rleaky(fc(x), 0.9, lif.recurrent)[0]
        return self.readout(x)


def recurrent_layer_impls(features: int, device: torch.device, kernel_size: int | None = None) -> dict[str, Runner]:
    """One RLeaky layer (beta 0.9) over given input currents, its recurrent term a Linear over
    `features` neurons, or with `kernel_size` a Conv2d over `features` channels: tritonsnn's
    multi-step module, the reference and snnTorch's per-step loop, the same weights."""
    torch.manual_seed(0)
    term = (dict(linear_features=features) if kernel_size is None
            else dict(conv2d_channels=features, kernel_size=kernel_size))
    ours = tritonsnn.RLeaky(beta=0.9, **term, step_mode="multi").to(device)
    impls = {SUBJECT: lambda x: ours(x)[0], REFERENCE: lambda x: reference.rleaky(x, 0.9, ours.recurrent)[0]}
    try:
        import snntorch
    except ImportError:
        return impls
    theirs = snntorch.RLeaky(beta=0.9, **term).to(device)
    theirs.load_state_dict(ours.state_dict())

    def snntorch_run(x):
        spk, mem = theirs.init_rleaky()
        spikes = []
        for x_t in x.unbind(0):
            spk, mem = theirs(x_t, spk, mem)
            spikes.append(spk)
        return torch.stack(spikes)
    impls["snntorch"] = snntorch_run
    return impls


def state_leaky_impls(channels: int, truncation: int | None, device: torch.device) -> dict[str, Runner]:
    """A StateLeaky layer (beta 0.9, `truncation` taps or all) over x: [T, B, channels]:
    tritonsnn's (the recurrence, fused), the reference (the kernel's sum, step by step) and
    snnTorch's (a causal convolution over the whole sequence)."""
    ours = tritonsnn.StateLeaky(beta=0.9, channels=channels, kernel_truncation_steps=truncation).to(device)
    impls = {SUBJECT: lambda x: ours(x)[0],
             REFERENCE: lambda x: reference.state_leaky(x, ours.tau, kernel_truncation_steps=truncation)[0]}
    try:
        import snntorch
    except ImportError:
        return impls
    theirs = snntorch.StateLeaky(beta=0.9, channels=channels, kernel_truncation_steps=truncation).to(device)
    impls["snntorch"] = lambda x: theirs(x)[0]
    return impls


def delta_leaky_impls(device: torch.device) -> dict[str, Runner]:
    """A DeltaLeaky layer (beta 0.9, delta threshold 0.5) over x: [T, ...]: tritonsnn's over the
    whole sequence, the reference loop and snnTorch's per-step loop (its only form)."""
    ours = tritonsnn.DeltaLeaky(beta=0.9, delta_threshold=0.5, step_mode="multi").to(device)
    impls = {SUBJECT: lambda x: ours(x, (None, None))[0],
             REFERENCE: lambda x: reference.delta_leaky(x, 0.9, delta_threshold=0.5)[0]}
    try:
        import snntorch
    except ImportError:
        return impls
    theirs = snntorch.DeltaLeaky(beta=0.9, delta_threshold=0.5).to(device)
    impls["snntorch"] = _stepped(lambda x_t, states: theirs(x_t, states[0] if states else (None, None)))
    return impls


def inhibition_impls(device: torch.device) -> dict[str, Runner]:
    """A Leaky layer (beta 0.9) with inhibition over x: [T, B, N]: tritonsnn's multi-step module
    (the winner-take-all kernels on a GPU, the oracle's loop on the CPU), the reference loop and
    snnTorch's per-step loop."""
    ours = tritonsnn.Leaky(beta=0.9, inhibition=True, step_mode="multi").to(device)
    impls = {SUBJECT: lambda x: ours(x)[0], REFERENCE: lambda x: reference.leaky(x, 0.9, inhibition=True)[0]}
    try:
        import snntorch
    except ImportError:
        return impls
    theirs = snntorch.Leaky(beta=0.9, inhibition=True).to(device)

    def snntorch_run(x):
        mem, spikes = theirs.init_leaky(), []
        for x_t in x.unbind(0):
            spk, mem = theirs(x_t, mem)
            spikes.append(spk)
        return torch.stack(spikes)
    impls["snntorch"] = snntorch_run
    return impls


def slstm_impls(features: int, device: torch.device) -> dict[str, Runner]:
    """An SLSTM layer (`features` in and hidden, threshold 0.1, so that snnTorch's carries its
    states) over x: [T, B, features]: tritonsnn's multi-step module, the reference (one LSTMCell
    call per step) and snnTorch's per-step loop, the same weights."""
    torch.manual_seed(0)
    ours = tritonsnn.SLSTM(features, features, threshold=0.1, step_mode="multi").to(device)
    impls = {SUBJECT: lambda x: ours(x)[0],
             REFERENCE: lambda x: reference.slstm(x, ours.lstm_cell, threshold=0.1)[0]}
    try:
        import snntorch
    except ImportError:
        return impls
    theirs = snntorch.SLSTM(features, features, threshold=0.1).to(device)
    theirs.load_state_dict(ours.state_dict())

    def snntorch_run(x):
        syn, mem = theirs.init_slstm()
        spikes = []
        for x_t in x.unbind(0):
            spk, syn, mem = theirs(x_t, syn, mem)
            spikes.append(spk)
        return torch.stack(spikes)
    impls["snntorch"] = snntorch_run
    return impls


def recurrent_impls(sizes: tuple[int, ...], device: torch.device) -> dict[str, Runner]:
    """The recurrent network `sizes` with each implementation, the same initial weights."""
    impls = {SUBJECT: _RecurrentNet(sizes, SUBJECT).to(device), REFERENCE: _RecurrentNet(sizes, REFERENCE).to(device)}
    try:
        impls["snntorch"] = _RecurrentNet(sizes, "snntorch").to(device)
    except ImportError:
        pass
    return impls


@dataclass
class Case:
    """One workload and the implementations that run it."""

    name: str
    group: str  # what the ratios compare within: one workload
    mode: str  # "fwd", "bwd" or "fwd+bwd"
    shape: tuple
    dtype: torch.dtype
    impls: dict
    neuron_steps: int
    model_bytes: float | None = None  # per neuron-step, for the bandwidth fraction
    extra: dict = field(default_factory=dict)
    # A whole network's input is data: a training step takes no gradient of it (a layer's input
    # comes from the layer before and does).
    data_input: bool = False


COMPILE_MAX_T = 128  # torch.compile unrolls the reference's time loop: beyond this, compiling dominates


def neuron_case(neuron, mode, shape, dtype, device, compiled) -> Case:
    """The neuron alone over x: `shape` [T, B, N] of `dtype`, timed in `mode`; torch.compile of
    the reference joins with `compiled` for T <= COMPILE_MAX_T."""
    size = torch.finfo(dtype).bits // 8
    fwd, bwd = NEURONS[neuron].model_bytes  # fp32; half for 2-byte dtypes
    model = {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}[mode] * size / 4
    name = f"{neuron} {mode} [{','.join(map(str, shape))}] {str(dtype).removeprefix('torch.')}"
    return Case(name, name, mode, shape, dtype, neuron_impls(neuron, device, compiled and shape[0] <= COMPILE_MAX_T),
                shape[0] * shape[1] * shape[2], model)


def suite(device: torch.device, full: bool) -> list[Case]:
    """The cases: `full` is the perf suite, otherwise the short run of `python -m tritonsnn bench`
    (and of the regression check)."""
    gpu = device.type == "cuda"
    neurons = tuple(NEURONS)
    shapes = [(32, 64, 65536)] if gpu else [(25, 128, 1000)]
    if full:
        shapes += [(128, 16, 16384), (512, 16, 4096)] if gpu else [(100, 16, 1000), (25, 16, 256)]
    # Low precision: bf16 and fp16 on a GPU, bf16 (the CPU's) on the main shape in the full run.
    dtypes = [torch.float32] + ([torch.bfloat16, torch.float16] if gpu and full else [])
    if gpu and not full:
        dtypes.append(torch.bfloat16)
    cases = []
    for neuron in neurons:
        for shape in shapes if full else shapes[:1]:
            extra = [torch.bfloat16] if full and not gpu and shape == shapes[0] else []
            for dtype in dtypes + extra:
                for mode in ("fwd", "bwd", "fwd+bwd") if full or neuron == "leaky" else ("fwd+bwd",):
                    cases.append(neuron_case(neuron, mode, shape, dtype, device, full))
    for neuron in neurons:  # the tutorials' loop, one call per step, on the main shape
        shape = shapes[0]
        name = f"{neuron} stepped fwd+bwd [{','.join(map(str, shape))}] float32"
        cases.append(Case(name, name, "fwd+bwd", shape, torch.float32, stepped_impls(neuron, device),
                          shape[0] * shape[1] * shape[2]))
    shape = shapes[0]
    name = f"leaky padded fwd+bwd [{','.join(map(str, shape))}] float32"
    cases.append(Case(name, name, "fwd+bwd", shape, torch.float32, padded_impls(shape, device),
                      shape[0] * shape[1] * shape[2], sum(NEURONS["leaky"].model_bytes)))
    widths = ((4096, 8192, 16384) if full else (4096,)) if gpu else ((256, 512) if full else (256,))
    T = 500 if gpu else 100
    for n in widths:
        name = f"linear+leaky fwd+bwd B=16 T={T} n={n}"
        cases.append(Case(name, name, "fwd+bwd", (T, 16, n), torch.float32,
                          network_impls("linear", n, device, full and T <= COMPILE_MAX_T), T * 16 * n,
                          data_input=True))
    T, B, n = 100, 256, 200
    name = f"rleaky layer fwd+bwd [{T},{B},{n}] float32"
    cases.append(Case(name, name, "fwd+bwd", (T, B, n), torch.float32, recurrent_layer_impls(n, device), T * B * n))
    shape = (25, 16, 8, 16, 16)
    name = f"rleaky conv3x3 layer fwd+bwd [{','.join(map(str, shape))}] float32"
    cases.append(Case(name, name, "fwd+bwd", shape, torch.float32, recurrent_layer_impls(shape[2], device, 3),
                      math.prod(shape)))
    for label, sizes in (("SHD 700-200r-20", (700, 200, 20)), ("sparch-like 700-3x128r-20", (700, 128, 128, 128, 20))):
        T, B = 100, 256
        name = f"rleaky {label} fwd+bwd B={B} T={T}"
        cases.append(Case(name, name, "fwd+bwd", (T, B, sizes[0]), torch.float32, recurrent_impls(sizes, device),
                          T * B * sum(sizes[1:-1]), data_input=True))
    T, B, n = (512, 64, 1024) if gpu else (100, 32, 256)
    for label, impls in (("stateleaky", state_leaky_impls(n, None, device)),
                         ("stateleaky K=16", state_leaky_impls(n, 16, device)),
                         ("deltaleaky", delta_leaky_impls(device))):
        name = f"{label} layer fwd+bwd [{T},{B},{n}] float32"
        cases.append(Case(name, name, "fwd+bwd", (T, B, n), torch.float32, impls, T * B * n))
    T, B, n = (100, 256, 1024) if gpu else (25, 128, 100)
    name = f"leaky inhibition layer fwd+bwd [{T},{B},{n}] float32"
    cases.append(Case(name, name, "fwd+bwd", (T, B, n), torch.float32, inhibition_impls(device), T * B * n))
    T, B, n = (512, 64, 512) if gpu else (100, 32, 128)
    name = f"slstm layer fwd+bwd [{T},{B},{n}] float32"
    cases.append(Case(name, name, "fwd+bwd", (T, B, n), torch.float32, slstm_impls(n, device), T * B * n))
    T, B, C, H = (4, 32, 128, 32) if gpu else (4, 4, 32, 16)
    name = f"conv+leaky fwd+bwd T={T} B={B} C={C} {H}x{H}"
    cases.append(Case(name, name, "fwd+bwd", (T, B, C, H, H), torch.float32,
                      network_impls("conv", C, device, full), T * B * C * H * H, data_input=True))
    return cases
