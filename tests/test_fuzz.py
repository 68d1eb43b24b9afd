"""Differential fuzzing: random neurons, options, surrogates, layouts, dtypes, storage options,
per-sample lengths and chunked calls, each compared with the naive reference (outputs and every
gradient) and, where snnTorch 1.0.0 has the same configuration, with snnTorch itself.

Bounded so that CI stays fast (hypothesis, derandomized: 300 examples on the torch path, 40 in
Triton's interpreter, 100 on a GPU). A configuration
whose membrane comes within rounding of the threshold may spike differently in two correct
implementations; such draws are rejected, and only when the spikes differ (see `_near_tie`)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest
import snntorch
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tritonsnn
from tritonsnn import reference, surrogate
from conftest import DEVICE
from helpers import _currents, _membranes, assert_close, snntorch_surrogate

F = tritonsnn.functional
ON_GPU = DEVICE.type == "cuda"

# Surrogates whose gradient is continuous but for a jump at x = 0: two implementations that agree
# on every spike then agree on every surrogate value (a kink elsewhere, as SFS's at x = B, could
# fall between their roundings). The custom one exercises the unfused backward.
SMOOTH = [surrogate.atan(), surrogate.atan(alpha=5.0), surrogate.fast_sigmoid(slope=10), surrogate.sigmoid(slope=5),
          surrogate.triangular(), surrogate.heaviside(), surrogate.straight_through_estimator(),
          surrogate.spike_rate_escape(beta=1.5, slope=3), surrogate.LSO(slope=0.2), surrogate.erf(),
          surrogate.custom_surrogate(lambda input_, grad_input, out: grad_input / (1 + 5 * input_.abs()) ** 2)]
IN_SNNTORCH = {"ATan", "FastSigmoid", "Sigmoid", "Triangular", "Heaviside", "StraightThroughEstimator",
               "SpikeRateEscape", "CustomSurrogate"}
SHAPES = [(3, 4), (2, 2, 3), (2, 3, 2, 2)]  # [B, *neurons]
TOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.float16: 1e-2}


@dataclass
class Config:
    neuron: str
    reset: str
    reset_delay: bool
    dtype: torch.dtype
    sg: surrogate.Surrogate
    T: int
    shape: tuple
    per_neuron: bool
    graded: bool
    layout: str
    padded: bool
    save_dtype: torch.dtype | None
    chunk: int
    seed: int


@st.composite
def configs(draw, backend):
    neuron = draw(st.sampled_from(["leaky", "synaptic", "lapicque", "alpha"]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16]))
    # bf16 storage where bf16 is computed right (not in Triton's interpreter); fp16 elsewhere.
    low = torch.bfloat16 if ON_GPU or backend == "torch" else torch.float16
    return Config(
        neuron=neuron,
        reset=draw(st.sampled_from(["subtract", "zero", "none"])),
        reset_delay=draw(st.booleans()) if neuron in ("leaky", "synaptic") else True,
        dtype=dtype,
        sg=draw(st.sampled_from(SMOOTH)),
        T=draw(st.integers(1, 7)),
        shape=draw(st.sampled_from(SHAPES)),
        per_neuron=draw(st.booleans()),
        graded=draw(st.booleans()),
        layout=draw(st.sampled_from(["contiguous", "time-strided", "transposed"])),
        padded=draw(st.booleans()),
        save_dtype=draw(st.sampled_from([None, None, low])) if dtype == torch.float32 else None,
        chunk=draw(st.integers(1, 7)),
        seed=draw(st.integers(0, 2**16)),
    )


def _draw(cfg: Config):
    """Input (in the configuration's layout), parameters, initial states, lengths and incoming
    gradients, all from the configuration's seed."""
    gen = torch.Generator().manual_seed(cfg.seed)
    T, shape = cfg.T, cfg.shape
    neurons = shape[1:] if cfg.per_neuron else ()
    base = torch.randn((T * (2 if cfg.layout == "time-strided" else 1), *shape), generator=gen) * 0.6 + 0.35
    if cfg.layout == "time-strided":
        x = base[::2]
    elif cfg.layout == "transposed":
        x = base.transpose(1, 2).contiguous().transpose(1, 2)  # batch and first neuron dims swapped in memory
    else:
        x = base
    beta = 0.3 + 0.6 * torch.rand(neurons, generator=gen)
    params = {"beta": beta, "threshold": 0.4 + 0.8 * torch.rand(neurons, generator=gen),
              "gsf": 0.5 + torch.rand(neurons, generator=gen) if cfg.graded else torch.ones(neurons)}
    if cfg.neuron == "synaptic":
        params["alpha"] = 0.3 + 0.6 * torch.rand(neurons, generator=gen)
    if cfg.neuron == "alpha":
        params["alpha"] = beta + 0.05 + 0.04 * torch.rand(neurons, generator=gen)
        params["threshold"] = params["threshold"] * 0.2
    if cfg.dtype == torch.float64:
        params = {k: v.double() for k, v in params.items()}
    states = {name: torch.randn(shape, generator=gen) * 0.3 for name in _STATES[cfg.neuron]}
    lengths = torch.randint(0, T + 1, shape[:1], generator=gen) if cfg.padded else None
    g_spk, g_mem = (torch.randn((T, *shape), generator=gen) for _ in range(2))
    return x.to(cfg.dtype), params, states, lengths, g_spk, g_mem


_STATES = {"leaky": ("mem",), "synaptic": ("syn", "mem"), "lapicque": ("mem",), "alpha": ("syn_exc", "syn_inh")}


def _run(impl, cfg: Config, x, params, states, lengths, **storage):
    """(spikes, membrane) of the functional neuron in `impl` (tritonsnn.functional or
    tritonsnn.reference)."""
    p, s = params, states
    common = dict(threshold=p["threshold"], graded_spikes_factor=p["gsf"], spike_grad=cfg.sg,
                  reset_mechanism=cfg.reset, lengths=lengths, **storage)
    if cfg.neuron == "leaky":
        spk, mem = impl.leaky(x, p["beta"], s["mem"], reset_delay=cfg.reset_delay, **common)
    elif cfg.neuron == "synaptic":
        spk, _, mem = impl.synaptic(x, p["alpha"], p["beta"], s["syn"], s["mem"], reset_delay=cfg.reset_delay,
                                    **common)
    elif cfg.neuron == "lapicque":
        spk, mem = impl.lapicque(x, beta=p["beta"], mem=s["mem"], **common)
    else:
        spk, _, _, mem = impl.alpha(x, p["alpha"], p["beta"], s["syn_exc"], s["syn_inh"], **common)
    return spk, mem


def _gradients(impl, cfg, x, params, states, lengths, g_spk, g_mem, **storage):
    """Outputs and the gradient of every input, on the test device."""
    leaves = {"x": x, **params, **states}
    leaves = {k: v.to(DEVICE).detach().requires_grad_() for k, v in leaves.items()}
    p = {k: leaves[k] for k in params}
    s = {k: leaves[k] for k in states}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the custom surrogate's "not fused" notice
        spk, mem = _run(impl, cfg, leaves["x"], p, s, None if lengths is None else lengths.to(DEVICE), **storage)
        loss = (spk.float() * g_spk.to(DEVICE)).sum() + (mem.float() * g_mem.to(DEVICE)).sum()
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return spk.detach(), mem.detach(), dict(zip(leaves, grads))


def _near_tie(cfg, x, params, states, lengths) -> bool:
    """Whether some membrane the neuron passes through (in float64) lies within rounding of the
    threshold, where correct implementations may decide differently."""
    d = {k: v.double() for k, v in params.items()}
    thr = d["threshold"]
    if cfg.neuron == "alpha":
        _, mem = _run(reference, cfg, x.double(), d, {k: v.double() for k, v in states.items()}, lengths)
        seqs = [mem]
    else:
        inputs = x.double()
        decay, reset_input = d["beta"].clamp(0, 1), cfg.neuron != "leaky"
        if cfg.neuron == "synaptic":
            inputs = _currents(inputs, d["alpha"], states["syn"].double())
        if cfg.neuron == "lapicque":
            decay = 1 + torch.log(d["beta"])
            inputs = inputs * -torch.log(d["beta"])
        seqs = _membranes(inputs, decay, thr, states["mem"].double(), cfg.reset, cfg.reset_delay, reset_input)
    margin = {torch.float64: 1e-9, torch.float32: 1e-4, torch.float16: 2e-2}[cfg.dtype] * (1 + float(thr.abs().max()))
    return any(bool(((seq - thr).abs() < margin).any()) for seq in seqs)


def _compare(got, want, what, rel):
    """The membrane and every gradient the oracle reports (a gradient it leaves None, for an
    input that does not reach its outputs, must be zero here), within `rel`."""
    _, mem, grads = got
    _, mem_w, grads_w = want
    assert_close(mem.double(), mem_w.double(), rel, f"{what}: mem")
    for name, g in grads_w.items():
        if g is None:
            assert grads[name] is None or not grads[name].any(), f"{what}: d{name}"
        else:
            assert_close(grads[name].double(), g.double(), rel, f"{what}: d{name}")


def _check(backend, cfg: Config):
    x, params, states, lengths, g_spk, g_mem = _draw(cfg)
    fused = _gradients(F, cfg, x, params, states, lengths, g_spk, g_mem)
    naive = _gradients(reference, cfg, x, params, states, lengths, g_spk, g_mem)
    if not torch.equal(fused[0], naive[0]):
        assume(not _near_tie(cfg, x, params, states, lengths))
        raise AssertionError(f"spikes differ from the reference: {cfg}")
    _compare(fused, naive, "reference", TOL[cfg.dtype])
    if cfg.save_dtype is not None:
        _check_storage(cfg, x, params, states, lengths, g_spk, g_mem, fused)
    if _in_snntorch(cfg):
        oracle = _snntorch(cfg, x, params, states, g_spk, g_mem)
        assert torch.equal(fused[0].float(), oracle[0].float()), "spikes differ from snnTorch's"
        # snnTorch keeps some constants in fp32 whatever the input (Lapicque's R and C).
        _compare(fused, oracle, "snntorch", max(TOL[cfg.dtype], 1e-5))
    _check_chunks(cfg, x, params, states, lengths, fused)
    _check_binary_spikes(cfg, x, params, states, lengths, fused)


def _check_storage(cfg, x, params, states, lengths, g_spk, g_mem, fused):
    """Low-precision storage keeps the forward's spikes and decisions: identical spikes and
    graded_spikes_factor gradient (it counts the spikes the backward sees), and every other
    gradient close to fp32 storage's: within the surrogates' slopes times bf16's rounding. A
    scalar parameter's gradient is left out: a sum over every neuron and step, it may cancel to
    near zero, where no relative bound holds (tritonsnn.precision measures it per neuron)."""
    spk, mem, grads = _gradients(F, cfg, x, params, states, lengths, g_spk, g_mem, save_dtype=cfg.save_dtype)
    assert torch.equal(spk, fused[0]) and mem.dtype == cfg.save_dtype
    assert torch.equal(grads["gsf"], fused[2]["gsf"])
    for name, g in fused[2].items():
        if name != "gsf" and g.numel() > 1:
            error = ((grads[name] - g).norm() / g.norm().clamp_min(1e-6)).item()
            assert error < 0.25, (name, error, cfg)


def _check_chunks(cfg, x, params, states, lengths, fused):
    """A multi-step module with init_hidden=True, fed the sequence in chunks of `cfg.chunk` steps
    (the states carried, the lengths left in each chunk), gives the whole sequence's membrane."""
    p = params
    common = dict(threshold=p["threshold"], graded_spikes_factor=p["gsf"], spike_grad=cfg.sg,
                  reset_mechanism=cfg.reset, init_hidden=True, output=True, step_mode="multi")
    build = {"leaky": lambda: tritonsnn.Leaky(p["beta"], reset_delay=cfg.reset_delay, **common),
             "synaptic": lambda: tritonsnn.Synaptic(p["alpha"], p["beta"], reset_delay=cfg.reset_delay, **common),
             "alpha": lambda: tritonsnn.Alpha(p["alpha"], p["beta"], **common)}.get(cfg.neuron)
    if build is None:  # Lapicque's module keeps R and C, not beta: other rounding
        return
    lif = build().to(DEVICE)
    for name, value in states.items():
        setattr(lif, name, value.to(DEVICE, cfg.dtype))
    mems = []
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, cfg.T, cfg.chunk):
            left = None if lengths is None else (lengths - start).clamp(0, cfg.chunk).to(DEVICE)
            mems.append(lif(x[start:start + cfg.chunk].to(DEVICE), lengths=left)[-1])
    assert_close(torch.cat(mems).float(), fused[1].float(), TOL[cfg.dtype], "chunked")


def _check_binary_spikes(cfg, x, params, states, lengths, fused):
    """spike_dtype=torch.bool under no_grad: the fire bits of the same spikes."""
    if cfg.graded:
        return
    dev = {k: v.to(DEVICE) for k, v in params.items()}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spk, _ = _run(F, cfg, x.to(DEVICE), dev, {k: v.to(DEVICE) for k, v in states.items()},
                      None if lengths is None else lengths.to(DEVICE), spike_dtype=torch.bool)
    assert spk.dtype == torch.bool and torch.equal(spk, fused[0] != 0)


def _in_snntorch(cfg: Config) -> bool:
    """Whether snnTorch 1.0.0 runs the same configuration: no per-sample lengths, fp32 or fp64,
    one of its surrogates, graded spikes and a per-neuron beta only where its constructors take
    them."""
    return (cfg.dtype != torch.float16 and not cfg.padded and cfg.sg.name in IN_SNNTORCH
            and not (cfg.neuron == "lapicque" and cfg.per_neuron) and (cfg.neuron == "leaky" or not cfg.graded))


def _snntorch(cfg, x, params, states, g_spk, g_mem):
    """snnTorch 1.0.0's neuron stepped in a Python loop, every parameter learnable."""
    p = {k: v.to(DEVICE, cfg.dtype).clone() for k, v in params.items()}
    common = dict(threshold=p["threshold"], spike_grad=snntorch_surrogate(cfg.sg), reset_mechanism=cfg.reset,
                  learn_beta=True, learn_threshold=True)
    if cfg.neuron == "leaky":
        neuron = snntorch.Leaky(beta=p["beta"], graded_spikes_factor=p["gsf"], learn_graded_spikes_factor=True,
                                reset_delay=cfg.reset_delay, **common)
    elif cfg.neuron == "synaptic":
        neuron = snntorch.Synaptic(alpha=p["alpha"], beta=p["beta"], learn_alpha=True, reset_delay=cfg.reset_delay,
                                   **common)
    elif cfg.neuron == "lapicque":
        neuron = snntorch.Lapicque(beta=p["beta"], **common)
    else:
        neuron = snntorch.Alpha(alpha=p["alpha"], beta=p["beta"], **common)
    neuron = neuron.to(DEVICE)
    xs = x.to(DEVICE).detach().requires_grad_()
    st_ = {k: v.to(DEVICE, cfg.dtype).detach().requires_grad_() for k, v in states.items()}
    carried = [st_[k] for k in _STATES[cfg.neuron]] + ([torch.zeros_like(xs[0])] if cfg.neuron == "alpha" else [])
    spikes, mems = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x_t in xs:
            spk, *carried = neuron(x_t, *carried)
            spikes.append(spk)
            mems.append(carried[-1])
    spk, mem = torch.stack(spikes), torch.stack(mems)
    loss = (spk.float() * g_spk.to(DEVICE)).sum() + (mem.float() * g_mem.to(DEVICE)).sum()
    named = {"x": xs, **st_, "threshold": neuron.threshold}
    if cfg.neuron == "leaky":
        named["gsf"] = neuron.graded_spikes_factor
    if cfg.neuron != "lapicque":  # snnTorch's Lapicque registers beta but computes with R and C
        named["beta"] = neuron.beta
    if cfg.neuron == "synaptic":  # snnTorch's Alpha cannot learn alpha
        named["alpha"] = neuron.alpha
    grads = torch.autograd.grad(loss, list(named.values()), allow_unused=True)
    out = dict(zip(named, grads))
    return spk.detach(), mem.detach(), out


@settings(max_examples=100 if ON_GPU else 300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_matches_the_reference_and_snntorch(backend, data):
    if backend == "triton" and not ON_GPU:
        pytest.skip("the Triton interpreter runs the kernels: see test_matches_in_the_interpreter")
    _check(backend, data.draw(configs(backend)))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_matches_in_the_interpreter(data):
    """The kernels in Triton's interpreter: fewer examples, it runs programs one by one."""
    if ON_GPU:
        pytest.skip("on a GPU the kernels run in test_matches_the_reference_and_snntorch")
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("triton")
    try:
        _check("triton", data.draw(configs("triton")))
    finally:
        tritonsnn.set_backend(previous)
