"""Synaptic (and Stein) fused, against snnTorch 1.0.0 and the naive reference: spikes exactly,
states within 1e-5 relative, every gradient (x, both initial states, alpha, beta, threshold,
graded_spikes_factor; scalar and per-neuron) within 1e-4 relative in fp32, on both backends."""
import pytest
import snntorch
import torch
from torch import nn

import tritonsnn
import tritonsnn as snn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import assert_close, draw_leaky_inputs, snntorch_surrogate

NAMES = ["spk", "syn", "mem", "dx", "dsyn0", "dmem0", "dalpha", "dbeta", "dthreshold", "dgsf"]


def _case(T, shape, per_neuron, reset_mechanism, reset_delay, seed=0):
    gen = torch.Generator().manual_seed(seed)
    if per_neuron:
        n = shape[-1]
        alpha = torch.rand(n, generator=gen) * 0.5 + 0.3
        beta = torch.rand(n, generator=gen) * 0.5 + 0.4
        thr = torch.rand(n, generator=gen) * 0.6 + 0.9
        gsf = torch.rand(n, generator=gen) + 0.5
    else:
        alpha, beta, thr, gsf = torch.tensor(0.6), torch.tensor(0.8), torch.tensor(1.2), torch.tensor(1.5)
    syn0 = torch.rand(shape, generator=gen) * 0.3
    mem0 = torch.rand(shape, generator=gen) * 0.6
    x = draw_leaky_inputs(T, shape, beta, thr, mem0, reset_mechanism=reset_mechanism, reset_delay=reset_delay,
                          seed=seed, alpha=alpha, syn0=syn0, scale=0.4).float()
    grads = [torch.randn(x.shape, generator=gen) for _ in range(3)]
    return (x, alpha, beta, syn0, mem0, thr, gsf), grads


def run_fused(fn, inputs, grads, **kwargs):
    leaves = [t.to(DEVICE).clone().requires_grad_() for t in inputs]
    x, alpha, beta, syn0, mem0, thr, gsf = leaves
    spk, syn, mem = fn(x, alpha, beta, syn0, mem0, thr, graded_spikes_factor=gsf, **kwargs)
    loss = sum((out * g.to(DEVICE)).sum() for out, g in zip((spk, syn, mem), grads))
    loss.backward()
    x, alpha, beta, syn0, mem0, thr, gsf = (t.grad for t in leaves)
    return [t.detach().cpu() for t in (spk, syn, mem, x, syn0, mem0, alpha, beta, thr, gsf)]


def run_snntorch(inputs, grads, spike_grad, reset_mechanism, reset_delay):
    x, alpha, beta, syn0, mem0, thr, gsf = (t.clone() for t in inputs)
    x.requires_grad_()
    syn, mem = syn0.requires_grad_(), mem0.requires_grad_()
    lif = snntorch.Synaptic(alpha=alpha, beta=beta, threshold=thr, spike_grad=snntorch_surrogate(spike_grad),
                            learn_alpha=True, learn_beta=True, learn_threshold=True,
                            reset_mechanism=reset_mechanism, reset_delay=reset_delay)
    lif.graded_spikes_factor = nn.Parameter(gsf)  # snnTorch's Synaptic takes no gsf argument
    spikes, syns, mems = [], [], []
    state_syn, state_mem = syn, mem
    for x_t in x:
        spk, state_syn, state_mem = lif(x_t, state_syn, state_mem)
        spikes.append(spk)
        syns.append(state_syn)
        mems.append(state_mem)
    outs = [torch.stack(s) for s in (spikes, syns, mems)]
    sum((o * g).sum() for o, g in zip(outs, grads)).backward()
    return [o.detach() for o in outs] + [x.grad, syn.grad, mem.grad, lif.alpha.grad, lif.beta.grad,
                                         lif.threshold.grad, lif.graded_spikes_factor.grad]


def _check(fused, expected, against, rel_state=1e-5, rel_grad=1e-4):
    assert torch.equal(fused[0], expected[0]), f"spikes differ from {against}"
    for name, a, b in zip(NAMES[1:3], fused[1:3], expected[1:3]):
        assert_close(a, b, rel_state, f"{name} vs {against}")
    for name, a, b in zip(NAMES[3:], fused[3:], expected[3:]):
        assert_close(a, b, rel_grad, f"{name} vs {against}")


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per_neuron"])
def test_synaptic_matches_snntorch_and_reference(backend, reset_mechanism, reset_delay, per_neuron):
    inputs, grads = _case(9, (3, 23), per_neuron, reset_mechanism, reset_delay)
    sg = surrogate.fast_sigmoid(slope=5)
    kwargs = dict(spike_grad=sg, reset_mechanism=reset_mechanism, reset_delay=reset_delay)
    fused = run_fused(tritonsnn.functional.synaptic, inputs, grads, **kwargs)
    assert fused[0].any() and not fused[0].all(), "the case must exercise both spikes and silences"
    _check(fused, run_fused(tritonsnn.reference.synaptic, inputs, grads, **kwargs), "the reference")
    _check(fused, run_snntorch(inputs, grads, sg, reset_mechanism, reset_delay), "snnTorch 1.0.0")


@pytest.mark.parametrize("used", ["spk", "syn", "mem"])
def test_fixed_decays_and_one_output(backend, used):
    """alpha and beta as buffers (the current is not saved, no decay gradients), the loss on one
    output: x and both initial states still get exactly the reference's gradients."""
    inputs, grads = _case(6, (2, 9), True, "zero", True, seed=8)
    x, alpha, beta, syn0, mem0, thr, gsf = inputs
    index = ["spk", "syn", "mem"].index(used)
    results = []
    for fn in (tritonsnn.functional.synaptic, tritonsnn.reference.synaptic):
        xs, s0, m0 = (t.to(DEVICE).clone().requires_grad_() for t in (x, syn0, mem0))
        outs = fn(xs, alpha.to(DEVICE), beta.to(DEVICE), s0, m0, thr.to(DEVICE),
                  graded_spikes_factor=gsf.to(DEVICE), reset_mechanism="zero")
        (outs[index] * grads[index].to(DEVICE)).sum().backward()
        results.append([torch.zeros(t.shape) if t.grad is None else t.grad.cpu() for t in (xs, s0, m0)])
    for name, a, b in zip(("dx", "dsyn0", "dmem0"), *results):
        assert_close(a, b, 1e-4, name)


def test_alpha_and_beta_are_clamped_like_snntorch(backend):
    """Outside [0, 1] the decays are clamped and their gradients are zero."""
    inputs, grads = _case(6, (2, 3), True, "subtract", True, seed=4)
    x, _, _, syn0, mem0, thr, gsf = inputs
    alpha, beta = torch.tensor([1.2, 0.5, -0.1]), torch.tensor([0.7, 1.5, 0.2])
    inputs = (draw_leaky_inputs(6, (2, 3), beta, thr, mem0, alpha=alpha, syn0=syn0, scale=0.3, seed=4).float(),
              alpha, beta, syn0, mem0, thr, gsf)
    fused = run_fused(tritonsnn.functional.synaptic, inputs, grads)
    _check(fused, run_snntorch(inputs, grads, surrogate.atan(), "subtract", True), "snnTorch 1.0.0")
    assert fused[6][0] == 0 and fused[6][2] == 0 and fused[7][1] == 0


def test_semantics_trace(backend):
    """SEMANTICS.md: alpha=.8, beta=.9, X=.5 as (spk, syn, mem)."""
    lif = snn.Synaptic(alpha=0.8, beta=0.9).to(DEVICE)
    syn, mem = lif.init_synaptic()
    got = []
    for _ in range(4):
        spk, syn, mem = lif(torch.full((1,), 0.5, device=DEVICE), syn, mem)
        got.append((spk.item(), round(syn.item(), 4), round(mem.item(), 4)))
    assert got == [(0.0, 0.5, 0.5), (1.0, 0.9, 1.35), (1.0, 1.22, 1.435), (1.0, 1.476, 1.7675)]


def test_module_steps_sequences_and_state(backend):
    torch.manual_seed(0)
    x = torch.rand(7, 3, 5, device=DEVICE)
    single = snn.Synaptic(alpha=0.7, beta=0.85).to(DEVICE)
    multi = snn.Synaptic(alpha=0.7, beta=0.85, step_mode="multi").to(DEVICE)
    spk_seq, syn_seq, mem_seq = multi(x)
    syn, mem = single.init_synaptic()
    for t in range(7):
        spk, syn, mem = single(x[t], syn, mem)
        assert torch.equal(spk, spk_seq[t])
        torch.testing.assert_close(syn, syn_seq[t])
        torch.testing.assert_close(mem, mem_seq[t])
    hidden = snn.Synaptic(alpha=0.7, beta=0.85, step_mode="multi", init_hidden=True).to(DEVICE)
    assert torch.equal(torch.cat([hidden(x[:4]), hidden(x[4:])]), spk_seq)
    with pytest.raises(TypeError, match="should not be passed"):
        hidden(x, torch.zeros(3, 5, device=DEVICE))
    assert set(snn.Synaptic(0.5, 0.4).state_dict()) == set(snntorch.Synaptic(0.5, 0.4).state_dict())


def test_learnable_parameters_receive_gradients(backend):
    lif = snn.Synaptic(alpha=torch.full((4,), 0.6), beta=torch.full((4,), 0.8), learn_alpha=True, learn_beta=True,
                       learn_threshold=True, graded_spikes_factor=2.0, learn_graded_spikes_factor=True,
                       step_mode="multi").to(DEVICE)
    spk, syn, mem = lif(torch.rand(6, 2, 4, device=DEVICE) * 2)
    (spk.sum() + mem.sum() + syn.sum()).backward()
    assert {n for n, _ in lif.named_parameters()} == {"alpha", "beta", "threshold", "graded_spikes_factor"}
    for p in lif.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_saved_for_backward(backend):
    """The membrane always; the synaptic current only when alpha needs its gradient."""
    T, N = 5, 12
    for learn_alpha in (False, True):
        x = torch.randn(T, N, device=DEVICE, requires_grad=True)
        alpha = torch.tensor(0.5, device=DEVICE, requires_grad=learn_alpha)
        params = [alpha] + [torch.tensor(v, device=DEVICE) for v in (0.9, 1.0, 1.0)]
        saved = {}

        def pack(t):
            saved[t.data_ptr()] = t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            tritonsnn.functional.synaptic(x, params[0], params[1], threshold=params[2], graded_spikes_factor=params[3])
        sequences = sum(b for b in saved.values() if b >= T * N * 4)
        assert sequences == (2 if learn_alpha else 1) * T * N * 4


def test_bad_input():
    x = torch.ones(4, 3)
    with pytest.raises(ValueError, match=r"syn has shape \(2,\)"):
        tritonsnn.functional.synaptic(x, 0.5, 0.5, syn=torch.zeros(2))
    with pytest.raises(ValueError, match=r"alpha has shape \(2,\)"):
        tritonsnn.functional.synaptic(x, torch.ones(2), 0.5)
    with pytest.raises(ValueError, match="reset_mechanism"):
        snn.Synaptic(0.5, 0.5, reset_mechanism="hard")


def test_stein_is_synaptic_with_the_old_default_surrogate():
    lif = snn.Stein(alpha=0.9, beta=0.85)
    assert isinstance(lif, snn.Synaptic)
    assert lif._surrogate().name == "LIF.Heaviside"


def test_seed_document_example_verbatim(backend, monkeypatch):
    """../shared/seed/snntorch.surrogate.rst, with `import tritonsnn as snn` and the placeholders
    (num_inputs, num_hidden, num_outputs, device) given values."""
    monkeypatch.setattr(surrogate, "slope", 25)
    num_inputs, num_hidden, num_outputs, device = 10, 20, 4, DEVICE

    # --- the seed document's code, unchanged apart from the import ---
    import tritonsnn as snn
    from tritonsnn import surrogate as seed_surrogate
    import torch
    import torch.nn as nn

    alpha = 0.9
    beta = 0.85

    # Initialize surrogate gradient
    spike_grad = seed_surrogate.FastSigmoid.apply
    snn.surrogate.slope = 10

    # Define Network
    class Net(nn.Module):
        def __init__(self):
            super().__init__()

        # Initialize layers, overriding the ``spike_grad`` argument
            self.fc1 = nn.Linear(num_inputs, num_hidden)
            self.lif1 = snn.Stein(alpha=alpha, beta=beta, spike_grad=spike_grad)
            self.fc2 = nn.Linear(num_hidden, num_outputs)
            self.lif2 = snn.Stein(alpha=alpha, beta=beta, spike_grad=spike_grad)

        def forward(self, x, syn1, mem1, spk1, syn2, mem2):
            cur1 = self.fc1(x)
            spk1, syn1, mem1 = self.lif1(cur1, syn1, mem1)
            cur2 = self.fc2(spk1)
            spk2, syn2, mem2 = self.lif2(cur2, syn2, mem2)
            return syn1, mem1, spk1, syn2, mem2, spk2

    net = Net().to(device)
    # --- end of the seed document's code ---

    syn1, mem1 = net.lif1.init_synaptic()
    syn2, mem2 = net.lif2.init_synaptic()
    spk1, total = None, 0
    for x_t in torch.rand(6, 3, num_inputs, device=device) * 2:
        syn1, mem1, spk1, syn2, mem2, spk2 = net(x_t, syn1, mem1, spk1, syn2, mem2)
        total = total + spk2.sum() + mem2.sum()
    total.backward()
    assert net.fc1.weight.grad is not None and net.fc1.weight.grad.abs().sum() > 0
    assert net.lif1._surrogate().resolved_params() == (10.0,)
