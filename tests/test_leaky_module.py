"""`tritonsnn.Leaky` as an snnTorch user meets it: constructor, state handling, single- and
multi-step calls, learnable parameters, and the SEMANTICS.md traces."""
import pytest
import snntorch
import torch
from torch import nn

import tritonsnn
import tritonsnn as snn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import assert_close


@pytest.fixture(autouse=True)
def on_test_device():
    """Tensors (and module buffers) of these tests live on the test device: the GPU when there is
    one, so that the "triton" backend runs the real kernels there."""
    with torch.device(DEVICE):
        yield

TRACES = {  # SEMANTICS.md: beta=.9, threshold=1, X=.5 every step; '*' marks a spike
    ("subtract", True): ".5 .95 1.355* .7195 1.1475* .5328",
    ("zero", True): ".5 .95 1.355* .5 .95 1.355*",
    ("none", True): ".5 .95 1.355* 1.7195* 2.0475*",
    ("subtract", False): ".5 .95 .355* .8195 .2376*",
}


def _parse(trace):
    tokens = trace.split()
    return [float(t.rstrip("*")) for t in tokens], [1.0 if t.endswith("*") else 0.0 for t in tokens]


@pytest.mark.parametrize("mode,delay", list(TRACES), ids=[f"{m}-delay{d}" for m, d in TRACES])
def test_semantics_traces(backend, mode, delay):
    mems, spikes = _parse(TRACES[(mode, delay)])
    x = torch.full((len(mems), 1), 0.5)
    spk, mem = tritonsnn.functional.leaky(x, 0.9, reset_mechanism=mode, reset_delay=delay)
    assert spk.flatten().tolist() == spikes
    torch.testing.assert_close(mem.flatten(), torch.tensor(mems), rtol=0, atol=1e-4)
    lif = snn.Leaky(beta=0.9, reset_mechanism=mode, reset_delay=delay)
    mem_t = lif.init_leaky()
    for t in range(len(mems)):
        spk_t, mem_t = lif(x[t], mem_t)
        assert spk_t.item() == spikes[t] and abs(mem_t.item() - mems[t]) < 1e-4


def test_single_step_loop_matches_snntorch_module(backend):
    torch.manual_seed(0)
    x = torch.rand(12, 4, 10) * 0.7
    ours = snn.Leaky(beta=0.8, threshold=0.9, learn_beta=True, learn_threshold=True, spike_grad=surrogate.fast_sigmoid())
    theirs = snntorch.Leaky(beta=0.8, threshold=0.9, learn_beta=True, learn_threshold=True,
                            spike_grad=snntorch.surrogate.fast_sigmoid())
    results = []
    for lif in (ours, theirs):
        xs = x.clone().requires_grad_()
        mem = lif.init_leaky()
        out = []
        for x_t in xs:
            spk, mem = lif(x_t, mem)
            out.append(spk)
        spk_seq = torch.stack(out)
        (spk_seq.sum() + mem.sum()).backward()
        results.append((spk_seq, mem, xs.grad, lif.beta.grad, lif.threshold.grad))
    (s1, m1, dx1, db1, dt1), (s2, m2, dx2, db2, dt2) = results
    assert torch.equal(s1, s2)
    assert_close(m1, m2, 1e-5, "mem")
    for name, a, b in (("dx", dx1, dx2), ("dbeta", db1, db2), ("dthreshold", dt1, dt2)):
        assert_close(a, b, 1e-4, name)


def test_multi_step_equals_single_steps(backend):
    torch.manual_seed(1)
    x = torch.rand(7, 3, 6)
    multi = snn.Leaky(beta=0.7, step_mode="multi")
    single = snn.Leaky(beta=0.7)
    spk_seq, mem_seq = multi(x)
    mem = single.init_leaky()
    for t in range(7):
        spk, mem = single(x[t], mem)
        assert torch.equal(spk, spk_seq[t])
        torch.testing.assert_close(mem, mem_seq[t])
    spk_again, _ = multi(x)  # stateless without init_hidden: a second call starts from zeros again
    assert torch.equal(spk_again, spk_seq)


def test_init_hidden_carries_state(backend):
    torch.manual_seed(2)
    x = torch.rand(8, 2, 5)
    whole = snn.Leaky(beta=0.9, step_mode="multi")(x)[0]
    lif = snn.Leaky(beta=0.9, step_mode="multi", init_hidden=True)
    first, second = lif(x[:3]), lif(x[3:])
    assert torch.equal(torch.cat([first, second]), whole)
    lif.reset_mem()
    assert torch.equal(lif(x[:3]), first)
    with pytest.raises(TypeError, match="init_hidden=True"):
        lif(x, torch.zeros(2, 5))
    out = snn.Leaky(beta=0.9, init_hidden=True, output=True)
    spk, mem = out(x[0])
    assert mem.shape == (2, 5)
    single = snn.Leaky(beta=0.9, init_hidden=True)
    assert isinstance(single(x[0]), torch.Tensor)


def test_state_shape_mismatch_is_an_error_and_empty_state_means_zeros(backend):
    lif = snn.Leaky(beta=0.9)
    spk, mem = lif(torch.ones(3, 4), lif.init_leaky())
    assert mem.shape == (3, 4)
    with pytest.raises(ValueError, match="reset_mem"):
        lif(torch.ones(5, 4))  # stale state of another batch size: snnTorch would zero it silently
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        lif(torch.ones(3, 4), torch.zeros(2))
    lif.reset_mem()
    lif(torch.ones(5, 4))


def test_learnable_and_per_neuron_parameters_receive_gradients(backend):
    lif = snn.Leaky(beta=torch.full((6,), 0.8), threshold=torch.full((6,), 0.7), learn_beta=True,
                    learn_threshold=True, graded_spikes_factor=torch.full((6,), 2.0),
                    learn_graded_spikes_factor=True, step_mode="multi")
    assert {n for n, _ in lif.named_parameters()} == {"beta", "threshold", "graded_spikes_factor"}
    spk, mem = lif(torch.rand(5, 3, 6))
    (spk.sum() + mem.sum()).backward()
    for p in lif.parameters():
        assert p.grad is not None and p.grad.shape == (6,) and p.grad.abs().sum() > 0


def test_buffers_follow_snntorch_names():
    ours, theirs = snn.Leaky(beta=0.5), snntorch.Leaky(beta=0.5)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    lif = snn.Leaky(beta=0.5)
    lif.reset_mechanism = "zero"
    assert lif.reset_mechanism_val.item() == 1
    with pytest.raises(ValueError, match="reset_mechanism must be one of"):
        lif.reset_mechanism = "hard"


def test_unsupported_options_say_so():
    with pytest.raises(ValueError, match="DeltaLeaky takes no inhibition"):
        snn.DeltaLeaky(beta=0.5, inhibition=True)
    with pytest.raises(ValueError, match="inhibition runs the neuron's plain torch loop"):
        snn.Leaky(beta=0.5, inhibition=True, spike_dtype=torch.bool)
    with pytest.raises(TypeError, match="state_quant must be a function"):
        snn.Leaky(beta=0.5, state_quant=True)
    with pytest.raises(ValueError, match="state_quant runs the neuron's plain torch loop"):
        snn.Leaky(beta=0.5, state_quant=lambda u: u, save_dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="step_mode"):
        snn.Leaky(beta=0.5, step_mode="both")


def test_surrogate_disable_gives_no_spike_gradient(backend):
    x = torch.rand(5, 2, 3, requires_grad=True)
    spk, _ = snn.Leaky(beta=0.9, surrogate_disable=True, step_mode="multi")(x)
    spk.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_seed_example_runs_with_leaky(backend, monkeypatch):
    """The seed document's example, with `import tritonsnn as snn` and Leaky standing in for Stein
    (Synaptic is a later issue): old-style FastSigmoid.apply with the module-level slope."""
    monkeypatch.setattr(surrogate, "slope", 25)
    num_inputs, num_hidden, num_outputs, device = 12, 16, 3, DEVICE
    beta = 0.85

    spike_grad = surrogate.FastSigmoid.apply
    snn.surrogate.slope = 10

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(num_inputs, num_hidden)
            self.lif1 = snn.Leaky(beta=beta, spike_grad=spike_grad)
            self.fc2 = nn.Linear(num_hidden, num_outputs)
            self.lif2 = snn.Leaky(beta=beta, spike_grad=spike_grad)

        def forward(self, x, mem1, spk1, mem2):
            cur1 = self.fc1(x)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            return mem1, spk1, mem2, spk2

    net = Net().to(device)
    assert net.lif1._surrogate().name == "FastSigmoid"
    assert net.lif1._surrogate().resolved_params() == (10.0,)
    mem1, spk1, mem2 = net.lif1.init_leaky(), None, net.lif2.init_leaky()
    total = 0
    for x_t in torch.rand(5, 4, num_inputs) * 3:
        mem1, spk1, mem2, spk2 = net(x_t, mem1, spk1, mem2)
        total = total + spk2.sum() + mem2.sum()
    total.backward()
    assert net.fc1.weight.grad is not None and net.fc1.weight.grad.abs().sum() > 0
