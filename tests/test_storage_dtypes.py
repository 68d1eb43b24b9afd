"""save_dtype (state sequences stored, and saved for the backward, in a smaller dtype) and
spike_dtype (binary spikes in one byte): what they change and what they must not."""
import pytest
import torch

import tritonsnn
from tritonsnn import precision
from tritonsnn.catalogue import NEURONS, cases
from conftest import DEVICE

F = tritonsnn.functional
SAVE_DTYPES = [torch.bfloat16, torch.float16]


def skip_interpreter_bf16(save_dtype):
    if save_dtype == torch.bfloat16 and tritonsnn.get_backend() == "triton" and DEVICE.type != "cuda":
        pytest.skip("the Triton interpreter computes bf16 incorrectly (it truncates on conversion)")


def _run(neuron, reset, delay, x, **kw):
    """The neuron's functional call (the catalogue's settings), returning (spikes, *state sequences)."""
    n = NEURONS[neuron]
    return n.call(F, x, reset_mechanism=reset, **({"reset_delay": delay} if n.reset_delay else {}), **kw)


def _input(neuron, *shape):
    scale = NEURONS[neuron].input_scale
    return torch.randn(*shape, device=DEVICE) * scale + scale / 3


def rounded_on_side(state, thr, dtype):
    """The fp32 membrane rounded to `dtype` as the storage options promise: to nearest, except where
    the nearest value lies across the threshold from the state itself (the forward's decision),
    where it is the adjacent value on the state's side."""
    nearest = state.to(dtype)
    crossed = (nearest.float() > thr) != (state > thr)
    c = torch.tensor(thr).to(dtype)
    above = c if c.float() > thr else torch.nextafter(c, torch.tensor(float("inf"), dtype=dtype))
    below = c if c.float() <= thr else torch.nextafter(c, torch.tensor(-float("inf"), dtype=dtype))
    return torch.where(crossed, torch.where(state > thr, above, below), nearest)


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES, ids=str)
@pytest.mark.parametrize("neuron,reset,delay", cases())
def test_low_precision_saving_keeps_the_fp32_forward(backend, neuron, reset, delay, save_dtype):
    """The dynamics run in fp32 either way: identical spikes; the currents are stored as the fp32
    ones rounded to nearest, the membrane likewise but on the side of the threshold the forward
    decided (so the backward rebuilds exactly the forward's spikes and resets from it)."""
    skip_interpreter_bf16(save_dtype)
    x = _input(neuron, 12, 3, 20)
    spk, *states = _run(neuron, reset, delay, x)
    spk_b, *states_b = _run(neuron, reset, delay, x, save_dtype=save_dtype)
    assert torch.equal(spk_b, spk) and spk_b.dtype == torch.float32
    thr = NEURONS[neuron].threshold
    *currents, mem = states
    *currents_b, mem_b = states_b
    for s, s_b in zip(currents, currents_b):
        assert s_b.dtype == save_dtype
        assert torch.equal(s_b, s.to(save_dtype))
    assert mem_b.dtype == save_dtype
    assert torch.equal(mem_b, rounded_on_side(mem, thr, save_dtype))
    assert torch.equal(mem_b.float() > thr, mem > thr)


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES, ids=str)
@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero", "none"])
def test_rounding_never_crosses_the_threshold(backend, reset_mechanism, save_dtype):
    """A membrane within rounding of the threshold (1.0003 under a threshold of 1.0: 1.0 in fp16 and bf16):
    the forward fires, and the backward sees that spike (gradients of graded_spikes_factor and of
    the zero reset's cut path), exactly as with fp32 saving."""
    skip_interpreter_bf16(save_dtype)
    x = torch.tensor([[1.0003], [0.2], [0.5]], device=DEVICE).requires_grad_()
    grads = {}
    for save in (None, save_dtype):
        gsf = torch.tensor(2.0, device=DEVICE, requires_grad=True)
        beta = torch.tensor(0.9, device=DEVICE, requires_grad=True)
        spk, mem = F.leaky(x, beta, threshold=1.0, graded_spikes_factor=gsf, reset_mechanism=reset_mechanism,
                           save_dtype=save)
        assert spk[0].item() == 2.0 and mem[0].item() > 1.0
        grads[save] = torch.autograd.grad(spk.sum() + mem.float().sum(), (x, beta, gsf))
    assert grads[save_dtype][2].item() == grads[None][2].item() == spk.sum().item() / 2  # dspk/dgsf: the spikes
    for exact, approx in zip(grads[None], grads[save_dtype]):
        torch.testing.assert_close(approx, exact, rtol=0.05, atol=1e-3)


@pytest.mark.parametrize("neuron,reset,delay", cases())
def test_low_precision_saving_backends_agree(neuron, reset, delay):
    """The kernels and the torch path compute the same gradients from the same saved states
    (bf16 on a GPU; fp16 in the interpreter, which gets bf16 wrong). The two forwards' fp32
    states may differ in their last bit (the order of a multiply-add), and then, rarely, round to
    neighbouring stored values: the saved states agree to one unit of the storage dtype, and
    the gradients to what that unit moves them (to fp32 rounding where every state is equal)."""
    save_dtype = torch.bfloat16 if DEVICE.type == "cuda" else torch.float16
    torch.manual_seed(0)
    x = _input(neuron, 10, 2, 16).requires_grad_()
    grads, saved = [], []
    previous = tritonsnn.get_backend()
    try:
        for name in ("triton", "torch"):
            tritonsnn.set_backend(name)
            spk, *states = _run(neuron, reset, delay, x, save_dtype=save_dtype)
            loss = (spk * torch.linspace(0, 1, 16, device=DEVICE)).sum() + states[-1].float().square().mean()
            grads.append(torch.autograd.grad(loss, x)[0])
            saved.append(states)
    finally:
        tritonsnn.set_backend(previous)
    ulp = torch.finfo(save_dtype).eps
    for a, b in zip(*saved):
        torch.testing.assert_close(a.float(), b.float(), rtol=ulp, atol=ulp)
    equal = all(torch.equal(a, b) for a, b in zip(*saved))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5 if equal else 10 * ulp, atol=1e-6 if equal else ulp)


@pytest.mark.parametrize("sg", sorted(precision.SURROGATES))
@pytest.mark.parametrize("neuron,reset,reset_delay", precision.CASES)
def test_bf16_saving_gradient_error_bound(auto_backend, neuron, reset, reset_delay, sg):
    """Every gradient with the states stored in bf16 stays within the bound the README states
    (tritonsnn.precision.BOUNDS) of the gradient with fp32 storage, on random configurations
    (the kernels on a GPU, the torch path on a CPU)."""
    worst = precision.worst_errors(neuron, reset, reset_delay, precision.SURROGATES[sg], configs=2, device=DEVICE)
    assert set(worst) >= {"x", "initial state", "beta", "threshold", "graded_spikes_factor"}
    for name, error in worst.items():
        assert error <= precision.BOUNDS[sg][name], (name, error)


@pytest.mark.parametrize("spike_dtype", [torch.bool, torch.uint8])
@pytest.mark.parametrize("neuron", list(NEURONS))
def test_binary_spikes_are_the_fire_bits(backend, neuron, spike_dtype):
    x = _input(neuron, 8, 3, 10)
    with torch.no_grad():
        spk, *states = NEURONS[neuron].call(F, x)
        spk_b, *states_b = NEURONS[neuron].call(F, x, spike_dtype=spike_dtype)
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
