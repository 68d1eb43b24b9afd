"""Forward-mode AD through every fused op: torch.func.jvp, torch.func.jacfwd and
torch.autograd.forward_ad give the tangents the backward implies, never a silent zero.

The check is the dot-product identity <J v, w> = <v, J^T w>: a jvp with random tangents v against
the (tested) backward with random cotangents w, for every neuron, reset mechanism and option."""
import pytest
import torch
import torch.autograd.forward_ad as fwAD

import tritonsnn
from tritonsnn import surrogate
from conftest import DEVICE

F = tritonsnn.functional


def _inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 2, 5, generator=gen) * 0.6 + 0.4
    mem0 = torch.randn(2, 5, generator=gen)
    return x.to(DEVICE), mem0.to(DEVICE)


def _scalar(v):
    return torch.tensor(v, device=DEVICE)


def assert_jvp_matches_backward(fn, inputs, seed=0):
    """<jvp(v), w> == <v, vjp(w)> for random v and w, both sides in float64."""
    gen = torch.Generator().manual_seed(seed)
    vs = tuple(torch.randn(t.shape, generator=gen).to(DEVICE) for t in inputs)
    outs, tangents = torch.func.jvp(fn, tuple(inputs), vs)
    ws = [torch.randn(o.shape, generator=gen).to(DEVICE) for o in outs]
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    grads = torch.autograd.grad(sum((o.float() * w).sum() for o, w in zip(fn(*leaves), ws)), leaves, allow_unused=True)
    forward = sum((t.double() * w.double()).sum() for t, w in zip(tangents, ws))
    reverse = sum((g.double() * v.double()).sum() for g, v in zip(grads, vs) if g is not None)
    assert forward.abs() > 0
    torch.testing.assert_close(forward, reverse, rtol=1e-5, atol=1e-5)


RESETS = ["subtract", "zero", "none"]


@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("reset", RESETS)
def test_leaky(backend, reset, reset_delay):
    x, mem0 = _inputs()

    def run(x, beta, thr, gsf, mem0):
        return F.leaky(x, beta, mem0, thr, graded_spikes_factor=gsf, reset_mechanism=reset, reset_delay=reset_delay)

    assert_jvp_matches_backward(run, [x, _scalar(0.8), _scalar(0.7), _scalar(1.3), mem0])


@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("reset", RESETS)
def test_synaptic(backend, reset, reset_delay):
    x, mem0 = _inputs(1)

    def run(x, alpha, beta, thr, gsf, syn0, mem0):
        return F.synaptic(x, alpha, beta, syn0, mem0, thr, graded_spikes_factor=gsf, reset_mechanism=reset,
                          reset_delay=reset_delay)

    per_neuron_beta = torch.linspace(0.6, 0.9, 5, device=DEVICE)
    assert_jvp_matches_backward(run, [x, _scalar(0.6), per_neuron_beta, _scalar(0.7), _scalar(1.3), mem0 / 2, mem0])


@pytest.mark.parametrize("reset", RESETS)
def test_lapicque(backend, reset):
    x, mem0 = _inputs(2)

    def run(x, beta, thr, mem0):
        return F.lapicque(x, beta=beta, mem=mem0, threshold=thr, reset_mechanism=reset)

    assert_jvp_matches_backward(run, [x, _scalar(0.8), _scalar(0.3), mem0])


@pytest.mark.parametrize("reset", RESETS)
def test_alpha(backend, reset):
    x, mem0 = _inputs(3)

    def run(x, alpha, beta, thr, gsf, exc0, inh0):
        return F.alpha(x, alpha, beta, exc0, inh0, None, thr, graded_spikes_factor=gsf, reset_mechanism=reset)

    assert_jvp_matches_backward(run, [x, _scalar(0.9), _scalar(0.8), _scalar(0.3), _scalar(1.3), mem0, mem0 / 3])


@pytest.mark.parametrize("neuron", ["leaky", "synaptic", "alpha"])
def test_lengths_and_custom_surrogates(backend, neuron):
    x, _ = _inputs(4)
    lengths = torch.tensor([3, 6])
    custom = surrogate.custom_surrogate(lambda input_, grad_input, out: grad_input / (1 + 10 * input_.abs()))
    run = {"leaky": lambda x, b, sg: F.leaky(x, b, spike_grad=sg, lengths=lengths),
           "synaptic": lambda x, b, sg: F.synaptic(x, 0.7, b, spike_grad=sg, lengths=lengths),
           "alpha": lambda x, b, sg: F.alpha(x, 0.9, b, spike_grad=sg, lengths=lengths)}[neuron]
    with pytest.warns(UserWarning, match="cannot run inside the fused backward"):
        for sg in (surrogate.fast_sigmoid(), custom):
            assert_jvp_matches_backward(lambda x, b: run(x, b, sg), [x, _scalar(0.8)])
    _, tangents = torch.func.jvp(lambda x: run(x, 0.8, surrogate.atan()), (x,), (torch.ones_like(x),))
    assert all(torch.all(t[3:, 0] == 0) for t in tangents)  # nothing past the first sample's end


def test_stochastic_surrogate_on_the_torch_path():
    """SSO's noise comes from the forward's seed: the same seed gives the same noise to the jvp
    and to the backward (the torch path; the kernels' backward draws other numbers, Philox)."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("torch")
    try:
        x, _ = _inputs(5)
        v, w = torch.randn_like(x), torch.randn_like(x)
        torch.manual_seed(7)
        _, (_, t_mem) = torch.func.jvp(lambda x: F.leaky(x, 0.8, spike_grad=surrogate.SSO()), (x,), (v,))
        torch.manual_seed(7)
        leaf = x.clone().requires_grad_()
        (g,) = torch.autograd.grad((F.leaky(leaf, 0.8, spike_grad=surrogate.SSO())[1] * w).sum(), leaf)
        torch.testing.assert_close((t_mem * w).sum(), (g * v).sum(), rtol=1e-5, atol=1e-5)
    finally:
        tritonsnn.set_backend(previous)


def test_jacfwd_equals_the_backwards_jacobian(backend):
    x, _ = _inputs(6)
    x = x[:, :1, :3]
    for fn in (lambda x: F.leaky(x, 0.8, threshold=0.5)[1], lambda x: F.alpha(x, 0.9, 0.8, threshold=0.2)[0]):
        reverse = torch.autograd.functional.jacobian(fn, x)  # row by row through the backward
        torch.testing.assert_close(torch.func.jacfwd(fn)(x), reverse, rtol=1e-5, atol=1e-6)


def test_dual_tensors_and_modules(backend):
    """torch.autograd.forward_ad, through a single-step module call as snnTorch users write it."""
    x, _ = _inputs(7)
    lif = tritonsnn.Leaky(beta=0.8, threshold=0.5)
    with fwAD.dual_level():
        mem = lif.init_leaky()
        for x_t in fwAD.make_dual(x, torch.ones_like(x)):
            spk, mem = lif(x_t, mem)
        tangent = fwAD.unpack_dual(mem).tangent
    _, expected = torch.func.jvp(lambda x: F.leaky(x, 0.8, threshold=0.5)[1][-1], (x,), (torch.ones_like(x),))
    torch.testing.assert_close(tangent, expected)
    assert tangent.abs().sum() > 0
