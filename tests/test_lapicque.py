"""Lapicque fused, against snnTorch 1.0.0 and the naive reference, for every way of giving its
RC circuit."""
import math

import pytest
import snntorch
import torch

import tritonsnn
import tritonsnn as snn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import assert_close, draw_leaky_inputs, snntorch_surrogate

CIRCUITS = [dict(beta=0.9), dict(R=2.0, C=3.0), dict(beta=0.8, R=3.0), dict(beta=0.85, C=0.5)]


def _decay_and_scale(circuit, dt=1.0):
    if "beta" not in circuit:
        return 1 - dt / (circuit["R"] * circuit["C"]), dt / circuit["C"]
    log_inv = math.log(1 / circuit["beta"])
    if "C" in circuit:
        return 1 - log_inv, dt / circuit["C"]
    return 1 - log_inv, circuit.get("R", 1.0) * log_inv


def _case(circuit, reset_mechanism, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shape, thr = (3, 13), torch.tensor(0.5)
    decay, scale = _decay_and_scale(circuit)
    mem0 = torch.rand(shape, generator=gen) * 0.4
    x = draw_leaky_inputs(8, shape, decay, thr / scale, mem0 / scale, reset_mechanism=reset_mechanism,
                          reset_input=True, seed=seed, scale=1.0).float()
    return x, mem0, thr, torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("circuit", CIRCUITS, ids=lambda c: ",".join(c))
def test_lapicque_matches_snntorch_and_reference(backend, circuit, reset_mechanism):
    x, mem0, thr, g_spk, g_mem = _case(circuit, reset_mechanism)
    sg = surrogate.atan()
    results = []
    for make in (lambda: snn.Lapicque(**circuit, learn_threshold=True, spike_grad=sg, reset_mechanism=reset_mechanism),
                 lambda: snntorch.Lapicque(**circuit, learn_threshold=True, spike_grad=snntorch_surrogate(sg),
                                           reset_mechanism=reset_mechanism)):
        lif = make()
        lif.threshold.data = thr.clone()
        lif = lif.to(DEVICE)
        xs, m = x.to(DEVICE).requires_grad_(), mem0.to(DEVICE).requires_grad_()
        mem, spikes, mems = m, [], []
        for x_t in xs:
            spk, mem = lif(x_t, mem)
            spikes.append(spk)
            mems.append(mem)
        spk, mem = torch.stack(spikes), torch.stack(mems)
        ((spk * g_spk.to(DEVICE)).sum() + (mem * g_mem.to(DEVICE)).sum()).backward()
        results.append([t.detach().cpu() for t in (spk, mem, xs.grad, m.grad, lif.threshold.grad)])
    ours, theirs = results
    assert ours[0].any() and torch.equal(ours[0], theirs[0])
    for name, a, b in zip(["mem", "dx", "dmem0", "dthreshold"], ours[1:], theirs[1:]):
        assert_close(a, b, 1e-5 if name == "mem" else 1e-4, name)
    spk_ref, mem_ref = tritonsnn.reference.lapicque(x.to(DEVICE), mem=mem0.to(DEVICE), threshold=thr,
                                                    reset_mechanism=reset_mechanism, **circuit)
    assert torch.equal(spk_ref.cpu(), ours[0])
    assert_close(mem_ref.cpu(), ours[1], 1e-5, "mem vs reference")


def test_semantics_trace(backend):
    lif = snn.Lapicque(beta=0.9).to(DEVICE)
    mem = lif.init_lapicque()
    got = []
    for _ in range(2):
        _, mem = lif(torch.full((1,), 0.5, device=DEVICE), mem)
        got.append(round(mem.item(), 4))
    assert got == [0.0527, 0.0998]
    assert round(float(1 - 1 / (lif.R * lif.C)), 4) == 0.8946


def test_learn_beta_sets_the_dynamics_and_gets_its_gradient(backend):
    """snnTorch 1.0.0 registers a learnable beta its Lapicque never uses; here beta sets R C."""
    x = torch.rand(6, 2, 4, device=DEVICE)
    lif = snn.Lapicque(beta=0.9, learn_beta=True, step_mode="multi").to(DEVICE)
    spk, mem = lif(x)
    mem.sum().backward()
    beta = torch.tensor(0.9, device=DEVICE, requires_grad=True)
    _, mem_ref = tritonsnn.reference.lapicque(x, beta=beta)
    mem_ref.sum().backward()
    torch.testing.assert_close(mem, mem_ref)
    torch.testing.assert_close(lif.beta.grad, beta.grad, rtol=1e-4, atol=1e-6)
    assert lif.beta.grad != 0


def test_bad_circuits_and_time_steps():
    with pytest.raises(ValueError, match="time_step must be a finite positive number"):
        snn.Lapicque(beta=0.9, time_step=-1)
    with pytest.raises(ValueError, match="Either beta or 2 of beta, R and C"):
        snn.Lapicque(R=1.0)
    with pytest.raises(ValueError, match="not all three"):
        snn.Lapicque(beta=0.9, R=1.0, C=2.0)
    x = torch.ones(3, 2)
    with pytest.raises(ValueError, match="time_step must be a finite positive number"):
        tritonsnn.functional.lapicque(x, beta=0.9, time_step=0.0)
    with pytest.raises(ValueError, match="needs beta, or both R and C"):
        tritonsnn.functional.lapicque(x, C=1.0)
    with pytest.raises(ValueError, match="beta must be below 1"):
        tritonsnn.functional.lapicque(x, beta=1.0)
    with pytest.raises(ValueError, match="R must be positive"):
        tritonsnn.functional.lapicque(x, R=-1.0, C=1.0)


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
def test_per_neuron_circuit_and_its_gradients(backend, reset_mechanism):
    """Per-neuron beta (and R): snnTorch 1.0.0's Lapicque cannot take them (it tests `not beta`);
    against the reference, every gradient including beta's, R's and the threshold's."""
    gen = torch.Generator().manual_seed(3)
    beta, R = torch.rand(7, generator=gen) * 0.3 + 0.6, torch.rand(7, generator=gen) + 0.5
    thr, mem0 = torch.rand(7, generator=gen) * 0.3 + 0.3, torch.rand(2, 7, generator=gen) * 0.2
    x = torch.rand(9, 2, 7, generator=gen) * 2
    g = torch.randn(2, *x.shape, generator=gen)
    results = []
    for fn in (tritonsnn.functional.lapicque, tritonsnn.reference.lapicque):
        leaves = [t.to(DEVICE).clone().requires_grad_() for t in (x, beta, R, thr, mem0)]
        spk, mem = fn(leaves[0], beta=leaves[1], R=leaves[2], threshold=leaves[3], mem=leaves[4],
                      reset_mechanism=reset_mechanism)
        ((spk * g[0].to(DEVICE)).sum() + (mem * g[1].to(DEVICE)).sum()).backward()
        results.append([spk.detach().cpu(), mem.detach().cpu()] + [t.grad.cpu() for t in leaves])
    ours, ref = results
    assert torch.equal(ours[0], ref[0]) and ours[0].any()
    for name, a, b in zip(["mem", "dx", "dbeta", "dR", "dthreshold", "dmem0"], ours[1:], ref[1:]):
        assert_close(a, b, 1e-5 if name == "mem" else 1e-4, name)


def test_fp16_input_with_a_per_neuron_circuit(backend):
    """A per-neuron beta gives a per-neuron fp32 input scale dt / C: the scaled input stays in the
    input's dtype, so the spikes keep their dtype and graded_spikes_factor, as in the reference."""
    x = (torch.rand(6, 2, 4, generator=torch.Generator().manual_seed(0)) + 0.4).half().to(DEVICE)
    beta = torch.linspace(0.8, 0.95, 4, device=DEVICE)
    args = dict(beta=beta, threshold=0.05, graded_spikes_factor=2.0)
    spk, mem = tritonsnn.functional.lapicque(x, **args)
    spk_ref, mem_ref = tritonsnn.reference.lapicque(x, **args)
    assert spk.dtype == mem.dtype == torch.float16
    assert set(spk.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(spk, spk_ref)
    torch.testing.assert_close(mem, mem_ref)
