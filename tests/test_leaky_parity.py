"""Fused Leaky (Triton kernels under the interpreter, and the torch path) against the naive
reference and snnTorch 1.0.0: spikes exactly, membranes within 1e-5 relative, every gradient
(x, initial membrane, beta, threshold, graded_spikes_factor) within 1e-4 relative in fp32."""
import pytest
import torch

import tritonsnn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import NAMES, assert_close, draw_leaky_inputs, run_leaky, run_snntorch

MODES = ["subtract", "zero", "none"]


def _params(shape, per_neuron, seed=0):
    gen = torch.Generator().manual_seed(seed + 1)
    if per_neuron:
        n = shape[-1]
        return (torch.rand(n, generator=gen) * 0.9 + 0.05,
                torch.rand(n, generator=gen) * 0.6 + 0.7,
                torch.rand(n, generator=gen) + 0.5)
    return torch.tensor(0.85), torch.tensor(1.1), torch.tensor(1.5)


def _case(T, shape, per_neuron, reset_mechanism, reset_delay, seed=0, margin=1e-4):
    beta, threshold, gsf = _params(shape, per_neuron, seed)
    gen = torch.Generator().manual_seed(seed + 2)
    mem0 = (torch.rand(shape, generator=gen, dtype=torch.float64) * 0.8).float()
    x = draw_leaky_inputs(T, shape, beta, threshold, mem0, reset_mechanism=reset_mechanism,
                          reset_delay=reset_delay, seed=seed, margin=margin).float()
    g_spk = torch.randn(x.shape, generator=gen)
    g_mem = torch.randn(x.shape, generator=gen)
    return x, beta, mem0, threshold, gsf, g_spk, g_mem


def _check(fused, expected, mem_rel=1e-5, grad_rel=1e-4, against=""):
    assert torch.equal(fused[0], expected[0]), f"spikes differ from {against}"
    assert_close(fused[1], expected[1], mem_rel, f"mem vs {against}")
    for name, a, b in zip(NAMES[2:], fused[2:], expected[2:]):
        assert_close(a, b, grad_rel, f"{name} vs {against}")


@pytest.mark.parametrize("reset_mechanism", MODES)
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per_neuron"])
def test_fused_matches_snntorch_and_reference(backend, reset_mechanism, reset_delay, per_neuron):
    case = _case(9, (3, 37), per_neuron, reset_mechanism, reset_delay)
    sg = surrogate.atan()
    kwargs = dict(spike_grad=sg, reset_mechanism=reset_mechanism, reset_delay=reset_delay)
    fused = run_leaky(tritonsnn.functional.leaky, *case, **kwargs)
    reference = run_leaky(tritonsnn.reference.leaky, *case, **kwargs)
    snn = run_snntorch(*case[:5], sg, reset_mechanism, reset_delay, *case[5:])
    assert fused[0].any() and not fused[0].all(), "the case must exercise both spikes and silences"
    _check(fused, reference, against="reference")
    _check(fused, snn, against="snnTorch 1.0.0")


SNNTORCH_SURROGATES = [surrogate.atan(alpha=3.0), surrogate.fast_sigmoid(slope=10), surrogate.sigmoid(slope=5),
                       surrogate.heaviside(), surrogate.straight_through_estimator(), surrogate.triangular(0.5),
                       surrogate.spike_rate_escape(beta=2.0, slope=3.0), surrogate.SFS(slope=5.0, B=0.2)]
OTHER_SURROGATES = [surrogate.LSO(slope=0.2), surrogate.piecewise_quadratic(alpha=1.5), surrogate.piecewise_exp(),
                    surrogate.soft_sign(), surrogate.super_spike(alpha=0.5), surrogate.erf(),
                    surrogate.resolve(tritonsnn.LIF.Heaviside.apply)]


@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("sg", SNNTORCH_SURROGATES + OTHER_SURROGATES, ids=repr)
def test_every_surrogate_through_the_sequence(backend, sg, reset_delay):
    """Against the reference, and against snnTorch 1.0.0 for every surrogate it computes (its LSO
    raises; SpikingJelly's surrogates and the old LIF.Heaviside are not in it)."""
    case = _case(8, (2, 19), True, "subtract", reset_delay, seed=3)
    kwargs = dict(spike_grad=sg, reset_delay=reset_delay)
    fused = run_leaky(tritonsnn.functional.leaky, *case, **kwargs)
    _check(fused, run_leaky(tritonsnn.reference.leaky, *case, **kwargs), against="reference")
    if sg in SNNTORCH_SURROGATES:
        _check(fused, run_snntorch(*case[:5], sg, "subtract", reset_delay, *case[5:]), against="snnTorch 1.0.0")


@pytest.mark.parametrize("T,shape", [(1, (4, 10)), (33, (5,)), (4, (1000,)), (3, (2, 3, 4, 5))],
                         ids=["T1", "T33", "1000neurons", "BCHW"])
def test_odd_shapes(backend, T, shape):
    case = _case(T, shape, False, "subtract", True, seed=5)
    fused = run_leaky(tritonsnn.functional.leaky, *case)
    _check(fused, run_leaky(tritonsnn.reference.leaky, *case), against="reference")
    _check(fused, run_snntorch(*case[:5], surrogate.atan(), "subtract", True, *case[5:]), against="snnTorch 1.0.0")


def test_per_channel_parameters_broadcast(backend):
    """[C, 1, 1] parameters on a [T, B, C, H, W] input: gradients summed back to [C, 1, 1]."""
    T, shape = 4, (2, 3, 4, 5)
    beta = torch.tensor([0.5, 0.8, 0.95]).view(3, 1, 1)
    thr = torch.tensor([0.9, 1.0, 1.2]).view(3, 1, 1)
    gsf = torch.tensor([1.0, 2.0, 0.5]).view(3, 1, 1)
    x = draw_leaky_inputs(T, shape, beta, thr, seed=7).float()
    mem0 = torch.zeros(shape)
    g_spk, g_mem = torch.randn(x.shape), torch.randn(x.shape)
    case = (x, beta, mem0, thr, gsf, g_spk, g_mem)
    fused = run_leaky(tritonsnn.functional.leaky, *case)
    assert fused[4].shape == (3, 1, 1)
    _check(fused, run_leaky(tritonsnn.reference.leaky, *case), against="reference")


def test_non_contiguous_input(backend):
    case = list(_case(6, (8, 12), False, "zero", True, seed=9))
    base = case[0].transpose(1, 2).contiguous()
    case[0] = base.transpose(1, 2)  # same values, neurons no longer contiguous
    assert not case[0].is_contiguous()
    fused = run_leaky(tritonsnn.functional.leaky, *case, reset_mechanism="zero")
    _check(fused, run_leaky(tritonsnn.reference.leaky, *case, reset_mechanism="zero"), against="reference")
    time_slice = torch.cat([case[0], case[0]])[::2]  # strided along T only: read in place
    case[0] = time_slice
    fused = run_leaky(tritonsnn.functional.leaky, *case, reset_mechanism="zero")
    _check(fused, run_leaky(tritonsnn.reference.leaky, *case, reset_mechanism="zero"), against="reference")


def test_beta_outside_unit_interval_is_clamped(backend):
    """beta is clamped to [0, 1] in the forward and its gradient is zero outside (snnTorch)."""
    for beta in (torch.tensor(1.3), torch.tensor([-0.2, 0.5, 1.5])):
        shape = (2, 3)
        x = draw_leaky_inputs(5, shape, beta, 1.0, seed=11).float()
        case = (x, beta, torch.zeros(shape), torch.tensor(1.0), torch.tensor(1.0),
                torch.randn(x.shape), torch.randn(x.shape))
        fused = run_leaky(tritonsnn.functional.leaky, *case)
        _check(fused, run_leaky(tritonsnn.reference.leaky, *case), against="reference")
        _check(fused, run_snntorch(*case[:5], surrogate.atan(), "subtract", True, *case[5:]),
               against="snnTorch 1.0.0")
    assert fused[4][0] == 0 and fused[4][2] == 0 and fused[4][1] != 0


LOW_PRECISION = {torch.float16: 2e-3, torch.bfloat16: 1e-2, torch.float64: 1e-12}


@pytest.mark.parametrize("reset_mechanism,reset_delay", [("subtract", False), ("zero", True), ("none", True)])
@pytest.mark.parametrize("dtype", list(LOW_PRECISION), ids=str)
def test_other_dtypes_match_reference(backend, dtype, reset_mechanism, reset_delay):
    """fp16/bf16 run fp32 math with low-precision storage (thresholds compare the stored value,
    as the reference models), with fp32 parameters as module buffers hold them; fp64 runs fp64
    math end to end, parameters included. (Triton's interpreter gets bf16 wrong: bf16 runs on the
    torch path here and on the kernels only on a GPU.)"""
    if dtype == torch.bfloat16 and backend == "triton" and DEVICE.type != "cuda":
        pytest.skip("the Triton interpreter computes bf16 incorrectly")
    margin = 1e-4 if dtype == torch.float64 else 3e-2
    case = _case(7, (3, 21), True, reset_mechanism, reset_delay, seed=13, margin=margin)
    converted = range(len(case)) if dtype == torch.float64 else (0, 2)
    case = [t.to(dtype) if i in converted else t for i, t in enumerate(case)]
    kwargs = dict(reset_mechanism=reset_mechanism, reset_delay=reset_delay)
    fused = run_leaky(tritonsnn.functional.leaky, *case, **kwargs)
    expected = run_leaky(tritonsnn.reference.leaky, *case, **kwargs)
    assert fused[0].dtype == fused[1].dtype == fused[2].dtype == dtype
    rel = LOW_PRECISION[dtype]
    _check(fused, expected, mem_rel=rel, grad_rel=10 * rel, against="reference")


def test_spikes_exactly_at_threshold(backend):
    """U == threshold does not fire (strict >), and the next step sees no reset."""
    x = torch.tensor([[1.0, 0.5], [0.0, 0.5], [0.25, 0.0]], device=DEVICE)
    spk, mem = tritonsnn.functional.leaky(x, beta=1.0, threshold=1.0)
    assert spk.tolist() == [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]
    assert mem.tolist() == [[1.0, 0.5], [1.0, 1.0], [1.25, 1.0]]
    ref_spk, ref_mem = tritonsnn.reference.leaky(x, beta=1.0, threshold=1.0)
    assert torch.equal(spk, ref_spk) and torch.equal(mem, ref_mem)


@pytest.mark.parametrize("reset_mechanism", MODES)
def test_negative_threshold_without_initial_state(backend, reset_mechanism):
    """With mem=None the initial membrane is 0, which is above a negative threshold: the first
    step already sees a reset, as in snnTorch."""
    x = draw_leaky_inputs(6, (2, 7), 0.8, -0.3, reset_mechanism=reset_mechanism, seed=23).float().to(DEVICE)
    kwargs = dict(threshold=-0.3, reset_mechanism=reset_mechanism)
    spk, mem = tritonsnn.functional.leaky(x, 0.8, **kwargs)
    ref_spk, ref_mem = tritonsnn.reference.leaky(x, 0.8, **kwargs)
    assert torch.equal(spk, ref_spk)
    assert_close(mem, ref_mem, 1e-5, "mem")


def test_unused_outputs_and_partial_gradients(backend):
    """Only spikes used, only membrane used, and only some inputs requiring grad."""
    x, beta, mem0, thr, gsf, g_spk, g_mem = (t.to(DEVICE) for t in _case(5, (2, 9), False, "subtract", True, seed=17))
    for use_spk, use_mem in ((True, False), (False, True)):
        xs = x.clone().requires_grad_()
        spk, mem = tritonsnn.functional.leaky(xs, beta, mem0, thr, graded_spikes_factor=gsf)
        (((spk * g_spk).sum() if use_spk else 0) + ((mem * g_mem).sum() if use_mem else 0)).backward()
        xr = x.clone().requires_grad_()
        spk, mem = tritonsnn.reference.leaky(xr, beta, mem0, thr, graded_spikes_factor=gsf)
        (((spk * g_spk).sum() if use_spk else 0) + ((mem * g_mem).sum() if use_mem else 0)).backward()
        assert_close(xs.grad, xr.grad, 1e-4, "dx")


def test_nothing_left_unwritten(backend, nan_poison):
    for delay in (True, False):
        case = _case(6, (3, 29), True, "zero", delay, seed=19)
        out = run_leaky(tritonsnn.functional.leaky, *case, reset_mechanism="zero", reset_delay=delay)
        for name, t in zip(NAMES, out):
            assert not t.isnan().any(), f"{name} has unwritten (NaN) elements"


def test_empty_sequences(backend):
    x = torch.zeros(0, 3, 4, device=DEVICE, requires_grad=True)
    mem0 = torch.rand(3, 4, device=DEVICE, requires_grad=True)
    spk, mem = tritonsnn.functional.leaky(x, 0.9, mem0)
    assert spk.shape == mem.shape == (0, 3, 4)
    mem.sum().backward()
    assert x.grad.shape == x.shape and torch.equal(mem0.grad, torch.zeros_like(mem0))
    spk, mem = tritonsnn.functional.leaky(torch.zeros(4, 0, device=DEVICE), 0.9)
    assert spk.shape == mem.shape == (4, 0)
