"""User-defined surrogates: snnTorch's custom_surrogate (a documented slower path, announced once
by a warning) and surrogate.register (a Triton gradient fused into the kernels)."""
import warnings

import pytest
import snntorch.surrogate as snn_sg
import torch
import triton
import triton.language as tl

import tritonsnn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import NAMES, assert_close, draw_leaky_inputs, run_leaky, run_snntorch


def fast_sigmoid_in_python(input_, grad_input, out):
    """snnTorch's documentation example of a custom surrogate."""
    slope = 25
    return grad_input / (slope * torch.abs(input_) + 1.0) ** 2


def _case(reset_mechanism, reset_delay, seed=0):
    shape = (3, 17)
    gen = torch.Generator().manual_seed(seed)
    beta, thr, gsf = torch.rand(17, generator=gen) * 0.8 + 0.1, torch.tensor(0.9), torch.tensor(1.5)
    mem0 = torch.rand(shape, generator=gen) * 0.5
    x = draw_leaky_inputs(7, shape, beta, thr, mem0, reset_mechanism=reset_mechanism,
                          reset_delay=reset_delay, seed=seed).float()
    return x, beta, mem0, thr, gsf, torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_custom_surrogate_matches_snntorch(backend, reset_mechanism, reset_delay):
    case = _case(reset_mechanism, reset_delay)
    sg = surrogate.custom_surrogate(fast_sigmoid_in_python)
    kwargs = dict(spike_grad=sg, reset_mechanism=reset_mechanism, reset_delay=reset_delay)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_leaky(tritonsnn.functional.leaky, *case, **kwargs)
    theirs = run_snntorch(*case[:5], sg, reset_mechanism, reset_delay, *case[5:])
    fused = run_leaky(tritonsnn.functional.leaky, *case, **{**kwargs, "spike_grad": surrogate.fast_sigmoid()})
    assert torch.equal(ours[0], theirs[0])
    for name, a, b, c in zip(NAMES[1:], ours[1:], theirs[1:], fused[1:]):
        assert_close(a, b, 1e-4, f"{name} vs snnTorch")
        assert_close(a, c, 1e-4, f"{name} vs the fused FastSigmoid")


def test_custom_surrogate_warns_once_and_works_in_every_mode(backend):
    def my_grad(input_, grad_input, out):
        return grad_input * torch.exp(-input_.abs())

    sg = surrogate.custom_surrogate(my_grad)
    x = torch.rand(5, 2, 4, device=DEVICE, requires_grad=True)
    with pytest.warns(UserWarning, match="cannot run inside the fused backward kernel"):
        spk, _ = tritonsnn.functional.leaky(x, 0.9, spike_grad=sg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second use is silent
        spk, _ = tritonsnn.functional.leaky(x, 0.9, spike_grad=sg)
        single, multi = tritonsnn.Leaky(0.9, spike_grad=sg), tritonsnn.Leaky(0.9, spike_grad=sg, step_mode="multi")
        mem = single.init_leaky()
        for x_t in x:
            spk_t, mem = single(x_t, mem)
        spk_m, mem_m = multi(x)
    assert torch.equal(spk_m[-1], spk_t)
    (spk_m.sum() + mem_m.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert surrogate.resolve(snn_sg.custom_surrogate(my_grad)).fn is my_grad
    per_step = torch.tensor([-0.5, 0.5], requires_grad=True)
    sg(per_step).sum().backward()
    torch.testing.assert_close(per_step.grad, torch.exp(-torch.tensor([0.5, 0.5])))


@triton.jit
def box_grad(x, width, height):
    return tl.where(tl.abs(x) < width, height, 0.0)


def box_grad_torch(x, width, height):
    return (x.abs() < width).to(x.dtype) * height


Box, box = surrogate.register("Box", box_grad, box_grad_torch, width=0.5, height=1.0)


def test_registered_surrogate_is_fused_and_matches_its_torch_twin():
    assert "Box" in surrogate.registered() and box().fused
    assert box(width=0.25).params == (0.25, 1.0)
    case = _case("subtract", True, seed=3)
    kwargs = dict(spike_grad=box(width=0.3, height=2.0))
    previous = tritonsnn.get_backend()
    try:
        results = {}
        for name in ("triton", "torch"):
            tritonsnn.set_backend(name)
            results[name] = run_leaky(tritonsnn.functional.leaky, *case, **kwargs)
    finally:
        tritonsnn.set_backend(previous)
    reference = run_leaky(tritonsnn.reference.leaky, *case, **kwargs)
    for name, a, b, c in zip(NAMES, results["triton"], results["torch"], reference):
        assert_close(a, b, 1e-5, f"{name}: Triton vs torch twin")
        assert_close(a, c, 1e-5, f"{name}: Triton vs reference")
    assert results["triton"][2].abs().sum() > 0
    x = torch.tensor([-0.4, 0.1, 0.4], requires_grad=True)
    Box.apply(x, 0.3, 2.0).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0]


def test_register_refuses_bad_definitions():
    with pytest.raises(ValueError, match="already registered"):
        surrogate.register("ATan", box_grad, box_grad_torch)
    with pytest.raises(ValueError, match="at most two parameters"):
        surrogate.register("Three", box_grad, box_grad_torch, a=1.0, b=2.0, c=3.0)
    with pytest.raises(TypeError, match="@triton.jit"):
        surrogate.register("NotJit", box_grad_torch, box_grad_torch)
