"""How the LIF and Alpha kernels walk time: in groups of four steps (four steps' loads before their stores;
the backward two where a thread owns two neurons) with the last steps one at a time, and, for
layers too small to fill a GPU, a backward split into chunks of time (carry maps, then every
chunk from its carry). Every sequence length around the group size, odd chunk counts, with and
without per-sample lengths, in every mode that reads a different set of tensors, gives what the
torch path's sequential loop gives."""
import pytest
import torch

import tritonsnn
import tritonsnn.kernels.lif.launch as lif_launch
from conftest import DEVICE
from helpers import assert_close


def _run(backend, T, case):
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend(backend)
    try:
        gen = torch.Generator().manual_seed(T)
        x = (torch.randn(T, 3, 5, generator=gen, dtype=torch.float64) * 0.8 + 0.3).to(DEVICE).requires_grad_()
        mem0 = torch.randn(3, 5, generator=gen, dtype=torch.float64).to(DEVICE).requires_grad_()
        beta = (torch.rand(5, generator=gen, dtype=torch.float64) * 0.5 + 0.4).to(DEVICE).requires_grad_()
        thr = torch.tensor(0.9, dtype=torch.float64, device=DEVICE, requires_grad=True)
        lengths = torch.tensor([T, max(T - 2, 0), 1], device=DEVICE) if case["lengths"] else None
        inputs = [x, mem0, beta, thr]
        if case["synaptic"]:
            syn0 = torch.randn(3, 5, generator=gen, dtype=torch.float64).to(DEVICE).requires_grad_()
            alpha = torch.tensor(0.7, dtype=torch.float64, device=DEVICE, requires_grad=True)
            outs = tritonsnn.functional.synaptic(x, alpha, beta, syn=syn0, mem=mem0, threshold=thr,
                                                 reset_mechanism=case["reset"], reset_delay=case["delay"],
                                                 lengths=lengths)
            inputs += [syn0, alpha]
        else:
            outs = tritonsnn.functional.leaky(x, beta, mem=mem0, threshold=thr, reset_mechanism=case["reset"],
                                              reset_delay=case["delay"], lengths=lengths)
        weights = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(DEVICE) for o in outs]
        loss = sum((o * w).sum() for o, w in zip(outs, weights))
        return [o.detach() for o in outs], torch.autograd.grad(loss, inputs)
    finally:
        tritonsnn.set_backend(previous)


CASES = [dict(synaptic=False, reset="subtract", delay=True, lengths=False),
         dict(synaptic=False, reset="zero", delay=False, lengths=True),
         dict(synaptic=True, reset="subtract", delay=False, lengths=False),
         dict(synaptic=True, reset="zero", delay=True, lengths=True)]
ALL_MODES = [dict(synaptic=syn, reset=reset, delay=delay, lengths=lengths)
             for syn in (False, True) for reset in ("subtract", "zero", "none") for delay in (True, False)
             for lengths in (False, True)]


@pytest.mark.parametrize("T", range(1, 10))
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_every_length_around_the_group_matches_the_sequential_loop(T, case):
    outs, grads = _run("triton", T, case)
    want_outs, want_grads = _run("torch", T, case)
    assert torch.equal(outs[0], want_outs[0])  # spikes
    for got, want in zip([*outs[1:], *grads], [*want_outs[1:], *want_grads]):
        assert_close(got, want, rel=1e-12)


@pytest.mark.parametrize("T,chunks", [(7, 2), (13, 3), (9, 5), (5, 4), (26, 3)])
@pytest.mark.parametrize("case", ALL_MODES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_chunked_backward_matches_the_sequential_scan(monkeypatch, T, chunks, case):
    """Results equal the sequential scan to rounding (the carry maps reassociate the products);
    (5, 4) leaves the last chunk empty, (26, 3) walks whole groups of four steps in both passes."""
    want_outs, want_grads = _run("torch", T, case)
    monkeypatch.setattr(lif_launch, "backward_chunks", lambda n, T, device: chunks)
    outs, grads = _run("triton", T, case)
    assert torch.equal(outs[0], want_outs[0])
    for got, want in zip([*outs[1:], *grads], [*want_outs[1:], *want_grads]):
        assert_close(got, want, rel=1e-10)


@pytest.mark.parametrize("T", [1, 2, 3, 6, 7])
@pytest.mark.parametrize("chunks", [1, 3])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_backward_in_groups_of_two_steps_gives_the_same_bits(monkeypatch, T, chunks, case):
    """The backward walks two steps per group at two elements per thread (`_launch.steps_ahead`):
    each step's arithmetic is the same, so the bits are those of groups of four."""
    from tritonsnn import _launch
    monkeypatch.setattr(lif_launch, "backward_chunks", lambda n, T, device: chunks)
    outs, grads = _run("triton", T, case)
    monkeypatch.setattr(_launch, "steps_ahead", lambda block, warps: 2)
    outs2, grads2 = _run("triton", T, case)
    for got, want in zip([*outs2, *grads2], [*outs, *grads]):
        assert torch.equal(got, want)


def _run_alpha(backend, T, reset, lengths):
    """Alpha with every gradient it has: learnable decays and threshold, initial currents, all
    four outputs used."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend(backend)
    try:
        gen = torch.Generator().manual_seed(100 + T)
        x = (torch.randn(T, 3, 5, generator=gen, dtype=torch.float64) * 0.8 + 0.5).to(DEVICE).requires_grad_()
        a = torch.tensor(0.9, dtype=torch.float64, device=DEVICE, requires_grad=True)
        b = torch.tensor(0.75, dtype=torch.float64, device=DEVICE, requires_grad=True)
        thr = torch.tensor(0.8, dtype=torch.float64, device=DEVICE, requires_grad=True)
        exc0, inh0 = (torch.randn(3, 5, generator=gen, dtype=torch.float64).to(DEVICE).requires_grad_() for _ in "ei")
        lens = torch.tensor([T, max(T - 2, 0), 1], device=DEVICE) if lengths else None
        outs = tritonsnn.functional.alpha(x, a, b, exc0, inh0, threshold=thr, reset_mechanism=reset, lengths=lens)
        weights = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(DEVICE) for o in outs]
        loss = sum((o * w).sum() for o, w in zip(outs, weights))
        return [o.detach() for o in outs], torch.autograd.grad(loss, (x, a, b, thr, exc0, inh0))
    finally:
        tritonsnn.set_backend(previous)


@pytest.mark.parametrize("T", range(1, 10))
@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
@pytest.mark.parametrize("lengths", [False, True])
def test_alpha_in_groups_matches_the_sequential_loop_and_groups_of_two(monkeypatch, T, reset, lengths):
    """Alpha's forward walks four steps per group and its backward GROUP (`_launch.steps_ahead`):
    the torch path's sequential loop to rounding, and groups of two give the bits of four."""
    from tritonsnn import _launch
    outs, grads = _run_alpha("triton", T, reset, lengths)
    want_outs, want_grads = _run_alpha("torch", T, reset, lengths)
    assert torch.equal(outs[0], want_outs[0])
    for got, want in zip([*outs[1:], *grads], [*want_outs[1:], *want_grads]):
        assert_close(got, want, rel=1e-12)
    monkeypatch.setattr(_launch, "steps_ahead", lambda block, warps: 2)
    outs2, grads2 = _run_alpha("triton", T, reset, lengths)
    for got, want in zip([*outs2, *grads2], [*outs, *grads]):
        assert torch.equal(got, want)
