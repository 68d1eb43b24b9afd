"""Shared test helpers: inputs whose membranes keep clear of the threshold, snnTorch runs, and
a gradient-collecting runner."""
from __future__ import annotations

import snntorch
import torch

import tritonsnn
from conftest import DEVICE


def assert_close(actual, expected, rel, what=""):
    """Elementwise within `rel` relative, with an absolute floor of `rel` times the largest
    expected magnitude (so entries that are zero up to rounding do not fail a relative test)."""
    actual, expected = actual.detach(), expected.detach().to(actual.dtype)
    floor = rel * float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rel, atol=max(floor, 1e-12), msg=lambda m: f"{what}: {m}")


def draw_leaky_inputs(T, shape, beta, threshold, mem0=None, margin=1e-4, reset_mechanism="subtract",
                      reset_delay=True, scale=0.6, seed=0, alpha=None, syn0=None, reset_input=None):
    """x of shape [T, *shape] such that, in float64, every membrane the neuron passes through (pre-
    and post-reset) stays at least `margin` away from the threshold. Neurons are independent, so
    offending neurons are redrawn until none is left. `alpha` (with `syn0`) makes it a Synaptic
    neuron, whose zero reset also clears the input (as `reset_input=True` does for Lapicque)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((T, *shape), generator=gen, dtype=torch.float64) * scale + scale / 2
    thr64 = torch.as_tensor(threshold, dtype=torch.float64)
    reset_input = alpha is not None if reset_input is None else reset_input
    for _ in range(200):
        bad = torch.zeros(shape, dtype=torch.bool)
        if mem0 is not None:
            bad |= (mem0.double() - thr64).abs() < margin
        inputs = x if alpha is None else _currents(x, alpha, syn0)
        for seq in _membranes(inputs, beta, threshold, mem0, reset_mechanism, reset_delay, reset_input):
            bad |= ((seq - thr64).abs() < margin).any(0)
        if not bad.any():
            return x
        fresh = torch.randn((T, *shape), generator=gen, dtype=torch.float64) * scale + scale / 2
        x = torch.where(bad, fresh, x)
    raise AssertionError("could not draw inputs clear of the threshold")


def _currents(x, alpha, syn0):
    a = torch.as_tensor(alpha, dtype=torch.float64).clamp(0, 1)
    i = torch.zeros(x.shape[1:], dtype=torch.float64) if syn0 is None else syn0.double()
    out = []
    for x_t in x:
        i = a * i + x_t
        out.append(i)
    return torch.stack(out)


def _membranes(x, beta, threshold, mem0, reset_mechanism, reset_delay, reset_input=False):
    """Pre-reset and stored membranes in float64 (beta is the decay as used, clamped)."""
    b = torch.as_tensor(beta, dtype=torch.float64).clamp(0, 1)
    thr = torch.as_tensor(threshold, dtype=torch.float64)
    u = torch.zeros(x.shape[1:], dtype=torch.float64) if mem0 is None else mem0.double()
    pre, post = [], []
    for x_t in x:
        r = (u > thr).double()
        if reset_mechanism == "subtract":
            u = b * u + x_t - r * thr
        elif reset_mechanism == "zero":
            u = (1 - r) * (b * u + x_t) if reset_input else b * (1 - r) * u + x_t
        else:
            u = b * u + x_t
        pre.append(u)
        if not reset_delay:
            d = (u > thr).double() - r
            if reset_mechanism == "subtract":
                u = u - d * thr
            elif reset_mechanism == "zero":
                u = u - d * u
        post.append(u)
    return torch.stack(pre), torch.stack(post)


_SNNTORCH_FACTORY = {
    "ATan": "atan",
    "FastSigmoid": "fast_sigmoid",
    "Sigmoid": "sigmoid",
    "Heaviside": "heaviside",
    "StraightThroughEstimator": "straight_through_estimator",
    "Triangular": "triangular",
    "SpikeRateEscape": "spike_rate_escape",
    "SparseFastSigmoid": "SFS",
    "StochasticSpikeOperator": "SSO",
}


def snntorch_surrogate(sg: tritonsnn.surrogate.Surrogate):
    """snnTorch 1.0.0's closure for the same surrogate and parameters."""
    if sg.fn is not None:
        return snntorch.surrogate.custom_surrogate(sg.fn)
    factory = getattr(snntorch.surrogate, _SNNTORCH_FACTORY[sg.name])
    return factory(**dict(zip(sg.spec.params, sg.params)))


def run_snntorch(x, beta, mem0, threshold, gsf, spike_grad, reset_mechanism, reset_delay, g_spk, g_mem):
    """snnTorch's Leaky stepped in a Python loop, with every parameter learnable so that it
    reports their gradients. Returns [spk, mem, dx, dmem0, dbeta, dthreshold, dgsf]."""
    x = x.clone().requires_grad_()
    mem = mem0.clone().requires_grad_()
    lif = snntorch.Leaky(
        beta=beta.clone(), threshold=threshold.clone(), spike_grad=snntorch_surrogate(spike_grad),
        learn_beta=True, learn_threshold=True, graded_spikes_factor=gsf.clone(),
        learn_graded_spikes_factor=True, reset_mechanism=reset_mechanism, reset_delay=reset_delay,
    )
    state, spikes, mems = mem, [], []
    for x_t in x:
        spk, state = lif(x_t, state)
        spikes.append(spk)
        mems.append(state)
    spk, mem_seq = torch.stack(spikes), torch.stack(mems)
    ((spk * g_spk).sum() + (mem_seq * g_mem).sum()).backward()
    return [spk.detach(), mem_seq.detach(), x.grad, mem.grad, lif.beta.grad, lif.threshold.grad,
            lif.graded_spikes_factor.grad]


def run_leaky(fn, x, beta, mem0, threshold, gsf, g_spk, g_mem, **kwargs):
    """Run `fn` (functional.leaky or reference.leaky) on the test device with gradients on every
    tensor argument. Returns [spk, mem, dx, dmem0, dbeta, dthreshold, dgsf] on the CPU."""
    leaves = [t.to(DEVICE).clone().requires_grad_() for t in (x, mem0, beta, threshold, gsf)]
    x_, mem0_, beta_, thr_, gsf_ = leaves
    spk, mem = fn(x_, beta_, mem0_, thr_, graded_spikes_factor=gsf_, **kwargs)
    loss = (spk * g_spk.to(DEVICE)).sum() + (mem * g_mem.to(DEVICE)).sum()
    loss.backward()
    return [t.cpu() for t in [spk.detach(), mem.detach()] + [t.grad for t in leaves]]


NAMES = ["spk", "mem", "dx", "dmem0", "dbeta", "dthreshold", "dgsf"]


def count_applies(monkeypatch, function) -> list:
    """A list that gets one entry per call of the autograd Function `function` (its `apply`
    wrapped for the test)."""
    calls = []
    apply = function.apply
    monkeypatch.setattr(function, "apply", lambda *a: calls.append(1) or apply(*a))
    return calls


def draw(*shape, seed=0) -> torch.Tensor:
    """A standard normal tensor on the CPU, the same for the same shape and seed."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + sum(shape)))


def snntorch_twins(cls_name: str, **kwargs):
    """snnTorch 1.0.0's module `cls_name` and tritonsnn's, built with the same arguments from the
    same random state; tritonsnn's loads snnTorch's state_dict (the same keys in the same order,
    checked) and learns the same tensors. Returns (snnTorch's, tritonsnn's), both on DEVICE."""
    torch.manual_seed(0)
    theirs = getattr(snntorch, cls_name)(**kwargs)
    ours = getattr(tritonsnn, cls_name)(**kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    for mine, their in zip(ours.parameters(), theirs.parameters()):
        mine.requires_grad_(their.requires_grad)
    return theirs.to(DEVICE), ours.to(DEVICE)


def converted(make):
    """snnTorch's module `make()` (in a Sequential) and `tritonsnn.from_snntorch`'s copy of it,
    checked to hold a class of the same name, the same state_dict (keys in order, values) and
    the same parameters (names, whether each learns). Returns (snnTorch's, tritonsnn's) modules."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(make())
    ours = tritonsnn.from_snntorch(theirs)
    assert type(ours[0]).__name__ == type(theirs[0]).__name__
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name
    assert [(n, p.requires_grad) for n, p in ours.named_parameters()] == [
        (n, p.requires_grad) for n, p in theirs.named_parameters()]
    return theirs[0], ours[0].to(DEVICE)
