"""save_dtype (state sequences stored, and saved for the backward, in a smaller dtype) and
spike_dtype (binary spikes in one byte): what they change and what they must not."""
import pytest
import torch

import tritonsnn
from tritonsnn import surrogate
from conftest import DEVICE

F = tritonsnn.functional
SAVE_DTYPES = [torch.bfloat16, torch.float16]


def skip_interpreter_bf16(save_dtype):
    if save_dtype == torch.bfloat16 and tritonsnn.get_backend() == "triton" and DEVICE.type != "cuda":
        pytest.skip("the Triton interpreter computes bf16 incorrectly (it truncates on conversion)")


def _runs(x):
    """Every neuron's functional call, returning (spikes, *state sequences)."""
    return {
        "leaky": lambda **kw: F.leaky(x, 0.9, threshold=0.7, **kw),
        "leaky_immediate": lambda **kw: F.leaky(x, 0.9, threshold=0.7, reset_delay=False, **kw),
        "synaptic": lambda **kw: F.synaptic(x, 0.8, 0.9, threshold=0.7, reset_mechanism="zero", **kw),
        "lapicque": lambda **kw: F.lapicque(x, beta=0.9, threshold=0.1, **kw),
        "alpha": lambda **kw: F.alpha(x, 0.9, 0.8, threshold=0.1, **kw),
    }


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES, ids=str)
@pytest.mark.parametrize("neuron", ["leaky", "leaky_immediate", "synaptic", "lapicque", "alpha"])
def test_low_precision_saving_keeps_the_fp32_forward(backend, neuron, save_dtype):
    """The dynamics run in fp32 either way: identical spikes, and the stored states are exactly
    the fp32 states rounded to save_dtype."""
    skip_interpreter_bf16(save_dtype)
    x = torch.randn(12, 3, 20, device=DEVICE) * 0.6 + 0.2
    run = _runs(x)[neuron]
    spk, *states = run()
    spk_b, *states_b = run(save_dtype=save_dtype)
    assert torch.equal(spk_b, spk) and spk_b.dtype == torch.float32
    for s, s_b in zip(states, states_b):
        assert s_b.dtype == save_dtype
        assert torch.equal(s_b, s.to(save_dtype))


@pytest.mark.parametrize("neuron", ["leaky", "leaky_immediate", "synaptic", "alpha"])
def test_low_precision_saving_backends_agree(neuron):
    """The kernels and the torch path compute the same gradients from the same saved states
    (bf16 on a GPU; fp16 in the interpreter, which gets bf16 wrong)."""
    save_dtype = torch.bfloat16 if DEVICE.type == "cuda" else torch.float16
    torch.manual_seed(0)
    x = (torch.randn(10, 2, 16, device=DEVICE) * 0.6 + 0.2).requires_grad_()
    grads = []
    previous = tritonsnn.get_backend()
    try:
        for name in ("triton", "torch"):
            tritonsnn.set_backend(name)
            spk, *states = _runs(x)[neuron](save_dtype=save_dtype)
            loss = (spk * torch.linspace(0, 1, 16, device=DEVICE)).sum() + states[-1].float().square().mean()
            grads.append(torch.autograd.grad(loss, x)[0])
    finally:
        tritonsnn.set_backend(previous)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


# Relative (L2) error of dL/dx with the membrane saved in bf16 instead of fp32, as documented
# in the README: the surrogate is evaluated at U rounded to 8 significant bits, so the error
# scales with the surrogate's steepness (about 2^-8 |U| times its log-derivative).
BF16_GRAD_BOUND = {"atan(alpha=2)": (surrogate.atan(), 5e-3),
                   "fast_sigmoid(slope=25)": (surrogate.fast_sigmoid(slope=25), 8e-2)}


@pytest.mark.parametrize("name", sorted(BF16_GRAD_BOUND))
def test_bf16_saving_gradient_error_bound(name):
    sg, bound = BF16_GRAD_BOUND[name]
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(50, 16, 64, generator=gen) * 0.5 + 0.15).requires_grad_()
    beta = torch.tensor(0.9, requires_grad=True)
    grads = {}
    for save in (None, torch.bfloat16):
        spk, mem = F.leaky(x, beta, spike_grad=sg, save_dtype=save)
        loss = (spk * torch.linspace(0, 1, 64)).sum() + mem.float().square().mean()
        grads[save] = torch.autograd.grad(loss, (x, beta))
    for exact, approx in zip(grads[None], grads[torch.bfloat16]):
        assert ((approx - exact).norm() / exact.norm()).item() < bound


@pytest.mark.parametrize("spike_dtype", [torch.bool, torch.uint8])
@pytest.mark.parametrize("neuron", ["leaky", "synaptic", "alpha"])
def test_binary_spikes_are_the_fire_bits(backend, neuron, spike_dtype):
    x = torch.randn(8, 3, 10, device=DEVICE) + 0.3
    run = _runs(x)[neuron]
    with torch.no_grad():
        spk, *states = run()
        spk_b, *states_b = run(spike_dtype=spike_dtype)
    assert spk_b.dtype == spike_dtype
    assert torch.equal(spk_b, spk.to(spike_dtype))
    for s, s_b in zip(states, states_b):
        assert torch.equal(s_b, s)


def test_binary_spikes_refuse_training_and_graded_spikes():
    x = torch.randn(4, 3, requires_grad=True)
    with pytest.raises(ValueError, match="not differentiable"):
        F.leaky(x, 0.9, spike_dtype=torch.bool)
    with torch.no_grad():
        with pytest.raises(ValueError, match="graded_spikes_factor must be 1"):
            F.leaky(x, 0.9, spike_dtype=torch.uint8, graded_spikes_factor=2.0)
    with pytest.raises(ValueError, match="spike_dtype must be"):
        F.leaky(x, 0.9, spike_dtype=torch.float16)
    with pytest.raises(ValueError, match="save_dtype must be"):
        F.leaky(x, 0.9, save_dtype=torch.int8)
    with pytest.raises(ValueError, match="spike_dtype must be"):
        tritonsnn.Leaky(beta=0.9, spike_dtype=torch.int32)


def test_modules_take_storage_dtypes(backend):
    x = torch.randn(6, 2, 5, device=DEVICE)
    lif = tritonsnn.Synaptic(alpha=0.8, beta=0.9, step_mode="multi", save_dtype=torch.bfloat16)
    spk, syn, mem = lif(x)
    assert (spk.dtype, syn.dtype, mem.dtype) == (torch.float32, torch.bfloat16, torch.bfloat16)
    with torch.inference_mode():
        spk, mem = tritonsnn.Leaky(beta=0.9, spike_dtype=torch.bool)(x[0])
    assert spk.dtype == torch.bool and mem.dtype == torch.float32
