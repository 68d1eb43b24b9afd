"""Alpha fused, against snnTorch 1.0.0 and the naive reference: spikes exactly, states within 1e-5
relative, every gradient within 1e-4 relative in fp32, on both backends."""
import pytest
import snntorch
import torch
from torch import nn

import tritonsnn
import tritonsnn as snn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import assert_close, snntorch_surrogate

NAMES = ["spk", "exc", "inh", "mem", "dx", "dexc0", "dinh0", "dalpha", "dbeta", "dthreshold", "dgsf"]


def _draw(T, shape, alpha, beta, thr, exc0, inh0, mem0, reset_mechanism, seed, margin=1e-4):
    """Inputs whose membranes stay clear of the threshold, redrawn per neuron (float64 model)."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.as_tensor(alpha, dtype=torch.float64).clamp(0, 1)
    b = torch.as_tensor(beta, dtype=torch.float64).clamp(0, 1)
    thr = torch.as_tensor(thr, dtype=torch.float64)
    tau = torch.log(a) / (torch.log(b) - torch.log(a)) + 1
    x = torch.randn((T, *shape), generator=gen, dtype=torch.float64) * 2 + 1
    for _ in range(200):
        e, i, u = exc0.double(), inh0.double(), mem0.double()
        bad = (u - thr).abs() < margin
        for x_t in x:
            r = (u > thr).double()
            eb, ib = a * e + x_t, b * i - x_t
            un = tau * (eb + ib)
            if reset_mechanism == "subtract":
                e, i, u = eb - r * thr, (1 - r) * ib, un + r * i
            elif reset_mechanism == "zero":
                e, i, u = (1 - r) * eb, (1 - r) * ib, (1 - r) * un
            else:
                e, i, u = eb, ib, un
            bad |= (u - thr).abs() < margin
        if not bad.any():
            return x.float()
        x = torch.where(bad, torch.randn((T, *shape), generator=gen, dtype=torch.float64) * 2 + 1, x)
    raise AssertionError("could not draw inputs clear of the threshold")


def _case(per_neuron, reset_mechanism, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shape = (3, 11)
    if per_neuron:
        alpha = torch.rand(11, generator=gen) * 0.15 + 0.8
        beta = torch.rand(11, generator=gen) * 0.3 + 0.4
        thr = torch.rand(11, generator=gen) * 0.3 + 0.1
        gsf = torch.rand(11, generator=gen) + 0.5
    else:
        alpha, beta, thr, gsf = torch.tensor(0.9), torch.tensor(0.6), torch.tensor(0.2), torch.tensor(1.5)
    exc0, inh0, mem0 = (torch.randn(shape, generator=gen) * 0.3 for _ in range(3))
    x = _draw(8, shape, alpha, beta, thr, exc0, inh0, mem0, reset_mechanism, seed)
    grads = [torch.randn(x.shape, generator=gen) for _ in range(4)]
    return (x, alpha, beta, exc0, inh0, mem0, thr, gsf), grads


def run_fused(fn, inputs, grads, **kwargs):
    leaves = [t.to(DEVICE).clone().requires_grad_() for t in inputs]
    x, alpha, beta, exc0, inh0, mem0, thr, gsf = leaves
    outs = fn(x, alpha, beta, exc0, inh0, mem0, thr, graded_spikes_factor=gsf, **kwargs)
    sum((o * g.to(DEVICE)).sum() for o, g in zip(outs, grads)).backward()
    grads_in = [x.grad, exc0.grad, inh0.grad, alpha.grad, beta.grad, thr.grad, gsf.grad]
    assert mem0.grad is None  # the initial membrane only sets the (detached) first reset
    return [t.detach().cpu() for t in list(outs) + grads_in]


def run_snntorch(inputs, grads, spike_grad, reset_mechanism):
    x, alpha, beta, exc0, inh0, mem0, thr, gsf = (t.clone() for t in inputs)
    x.requires_grad_()
    exc0.requires_grad_()
    inh0.requires_grad_()
    lif = snntorch.Alpha(alpha=alpha, beta=beta, threshold=thr, spike_grad=snntorch_surrogate(spike_grad),
                         learn_beta=True, learn_threshold=True, reset_mechanism=reset_mechanism)
    lif.graded_spikes_factor = nn.Parameter(gsf)  # snnTorch's Alpha takes no gsf argument
    states, outs = (exc0, inh0, mem0), [[], [], [], []]
    for x_t in x:
        spk, *states = lif(x_t, *states)
        for seq, value in zip(outs, (spk, *states)):
            seq.append(value)
    outs = [torch.stack(seq) for seq in outs]
    sum((o * g).sum() for o, g in zip(outs, grads)).backward()
    return [o.detach() for o in outs] + [x.grad, exc0.grad, inh0.grad, None, lif.beta.grad,
                                         lif.threshold.grad, lif.graded_spikes_factor.grad]


def _check(fused, expected, against):
    assert torch.equal(fused[0], expected[0]), f"spikes differ from {against}"
    for name, a, b in zip(NAMES[1:], fused[1:], expected[1:]):
        if b is not None:
            assert_close(a, b, 1e-5 if name in ("exc", "inh", "mem") else 1e-4, f"{name} vs {against}")


@pytest.mark.parametrize("reset_mechanism", ["zero", "subtract", "none"])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per_neuron"])
def test_alpha_matches_snntorch_and_reference(backend, reset_mechanism, per_neuron):
    inputs, grads = _case(per_neuron, reset_mechanism)
    sg = surrogate.fast_sigmoid(slope=5)
    kwargs = dict(spike_grad=sg, reset_mechanism=reset_mechanism)
    fused = run_fused(tritonsnn.functional.alpha, inputs, grads, **kwargs)
    assert fused[0].any() and not fused[0].all(), "the case must exercise both spikes and silences"
    _check(fused, run_fused(tritonsnn.reference.alpha, inputs, grads, **kwargs), "the reference")
    _check(fused, run_snntorch(inputs, grads, sg, reset_mechanism), "snnTorch 1.0.0")


def test_semantics_trace(backend):
    lif = snn.Alpha(alpha=0.9, beta=0.8).to(DEVICE)
    exc, inh, mem = lif.init_alpha()
    got = []
    for _ in range(3):
        _, exc, inh, mem = lif(torch.full((1,), 0.5, device=DEVICE), exc, inh, mem)
        got.append(round(mem.item(), 4))
    assert got == [0.0, 0.0947, 0.2558]


def test_learn_alpha_works(backend):
    """snnTorch 1.0.0's Alpha raises with learn_alpha=True; here alpha is a parameter with a
    gradient (through the current and through tau)."""
    with pytest.raises(TypeError):
        snntorch.Alpha(alpha=0.9, beta=0.8, learn_alpha=True)
    lif = snn.Alpha(alpha=0.9, beta=0.8, learn_alpha=True, step_mode="multi").to(DEVICE)
    x = torch.rand(6, 2, 4, device=DEVICE) * 3
    spk, exc, inh, mem = lif(x)
    (spk.sum() + mem.sum()).backward()
    a = torch.tensor(0.9, device=DEVICE, requires_grad=True)
    spk_r, _, _, mem_r = tritonsnn.reference.alpha(x, a, 0.8)
    (spk_r.sum() + mem_r.sum()).backward()
    torch.testing.assert_close(lif.alpha.grad, a.grad, rtol=1e-4, atol=1e-6)


def test_fixed_decays_and_only_some_gradients(backend):
    """Buffers for alpha and beta (no decay gradients, currents not saved), and each output alone
    carrying the loss."""
    inputs, grads = _case(True, "subtract", seed=5)
    x, alpha, beta, exc0, inh0, mem0, thr, gsf = inputs
    for used in range(4):
        results = []
        for fn in (tritonsnn.functional.alpha, tritonsnn.reference.alpha):
            xs, e0, i0 = (t.to(DEVICE).clone().requires_grad_() for t in (x, exc0, inh0))
            outs = fn(xs, alpha.to(DEVICE), beta.to(DEVICE), e0, i0, mem0.to(DEVICE), thr.to(DEVICE),
                      graded_spikes_factor=gsf.to(DEVICE), reset_mechanism="subtract")
            (outs[used] * grads[used].to(DEVICE)).sum().backward()
            # No path from an input to the chosen output: autograd leaves None, the kernel zeros.
            results.append([torch.zeros(t.shape) if t.grad is None else t.grad.cpu() for t in (xs, e0, i0)])
        for name, a, b in zip(("dx", "dexc0", "dinh0"), *results):
            assert_close(a, b, 1e-4, f"{name} (loss on output {used})")


def test_module_sequences_equal_steps(backend):
    x = torch.rand(5, 2, 3, device=DEVICE) * 3
    multi = snn.Alpha(alpha=0.9, beta=0.7, step_mode="multi").to(DEVICE)
    single = snn.Alpha(alpha=0.9, beta=0.7).to(DEVICE)
    spk_seq, _, _, mem_seq = multi(x)
    exc, inh, mem = single.init_alpha()
    for t in range(5):
        spk, exc, inh, mem = single(x[t], exc, inh, mem)
        assert torch.equal(spk, spk_seq[t])
        torch.testing.assert_close(mem, mem_seq[t])
    assert set(snn.Alpha(0.9, 0.5).state_dict()) == set(snntorch.Alpha(0.9, 0.5).state_dict())


def test_bad_decays():
    with pytest.raises(ValueError, match="alpha must be greater than beta"):
        snn.Alpha(alpha=0.5, beta=0.8)
    with pytest.raises(ValueError, match="beta below 1"):
        tritonsnn.functional.alpha(torch.ones(2, 3), alpha=1.0, beta=1.0)
    with pytest.raises(ValueError, match="alpha must be greater than beta"):
        tritonsnn.functional.alpha(torch.ones(2, 3), alpha=torch.tensor([0.9, 0.2, 0.9]), beta=0.5)
    with pytest.raises(ValueError, match=r"syn_inh has shape \(2,\)"):
        tritonsnn.functional.alpha(torch.ones(2, 3), 0.9, 0.5, syn_inh=torch.zeros(2))


def test_custom_surrogate_runs_on_alpha(backend):
    inputs, grads = _case(False, "zero", seed=2)
    custom = surrogate.custom_surrogate(lambda input_, grad_input, out: grad_input / (5 * input_.abs() + 1) ** 2)
    with pytest.warns(UserWarning, match="cannot run inside"):
        ours = run_fused(tritonsnn.functional.alpha, inputs, grads, spike_grad=custom)
    fused = run_fused(tritonsnn.functional.alpha, inputs, grads, spike_grad=surrogate.fast_sigmoid(slope=5))
    _check(ours, fused, "the fused FastSigmoid")


@pytest.mark.parametrize("storage", ["fp16 input", "bf16 states"])
def test_decay_gradients_keep_their_precision_near_alpha_equal_beta(backend, storage):
    """alpha = 0.70, beta = 0.695: the decays' gradients are differences of sums over a hundred
    times larger than themselves. With the states stored in fp16 or bf16 they still match float64
    (the two currents are kept in fp32 for them), with no spike and with spikes."""
    if storage == "bf16 states" and backend == "triton" and DEVICE.type != "cuda":
        pytest.skip("the Triton interpreter computes bf16 incorrectly")
    gen = torch.Generator().manual_seed(0)
    for x, threshold in ((torch.full((4, 1), 0.3), 100.0), (torch.rand(20, 3, generator=gen), 0.02)):
        grads = {}
        for dtype in (torch.float64, torch.float16 if storage == "fp16 input" else torch.float32):
            a = torch.tensor(0.70, dtype=torch.float64 if dtype == torch.float64 else torch.float32,
                             device=DEVICE, requires_grad=True)
            b = torch.tensor(0.695, dtype=a.dtype, device=DEVICE, requires_grad=True)
            save = torch.bfloat16 if storage == "bf16 states" and dtype != torch.float64 else None
            spk, exc, inh, mem = tritonsnn.functional.alpha(x.to(DEVICE, dtype), a, b, threshold=threshold,
                                                            save_dtype=save)
            grads[dtype] = torch.autograd.grad(spk.float().sum() + mem.float().sum(), (a, b))
        exact, low = grads.values()
        for g_low, g_exact in zip(low, exact):
            assert abs(g_low.item() - g_exact.item()) <= 1e-2 * abs(g_exact.item())
