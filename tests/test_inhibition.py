"""snnTorch's inhibition (winner-take-all) on the six neurons that take it, run by the neuron's
plain torch loop: against snnTorch 1.0.0 stepped, and over whole sequences (spikes equal; states
and the gradients of the input and every learnable parameter within 1e-5 relative), with a
graded_spikes_factor that snnTorch's inhibited spikes ignore; conversion and refusals."""
import inspect

import pytest
import snntorch
import torch

import tritonsnn
from tritonsnn.kernels.lif import dispatch, wta
from conftest import DEVICE
from helpers import assert_close, count_applies

pytestmark = pytest.mark.filterwarnings("ignore:Inhibition is an unstable feature")
REL = 1e-5
T, SHAPE = 10, (4, 6)
NEURONS = {  # (snnTorch's class name, decays and terms, an input scale at which several neurons cross)
    "leaky": ("Leaky", dict(beta=0.8), 0.9),
    "synaptic": ("Synaptic", dict(alpha=0.7, beta=0.8), 0.6),
    "lapicque": ("Lapicque", dict(beta=0.8), 6.0),
    "alpha": ("Alpha", dict(alpha=0.9, beta=0.8), 3.0),
    "rleaky": ("RLeaky", dict(beta=0.8, linear_features=SHAPE[-1]), 0.9),
    "rsynaptic": ("RSynaptic", dict(alpha=0.7, beta=0.8, all_to_all=False, V=0.4), 0.6),
}
STATES = {"Leaky": 1, "Synaptic": 2, "Lapicque": 1, "Alpha": 3, "RLeaky": 2, "RSynaptic": 3}


def _pair(name, **options):
    cls_name, decays, _ = NEURONS[name]
    kwargs = {**decays, "threshold": torch.linspace(0.9, 1.1, SHAPE[-1]), "learn_threshold": True,
              "inhibition": True, **options}
    if name not in ("lapicque", "alpha"):  # (snnTorch's Alpha cannot learn its decays)
        kwargs["learn_beta"] = True
    torch.manual_seed(0)
    theirs = getattr(snntorch, cls_name)(**kwargs)
    ours = getattr(tritonsnn, cls_name)(**kwargs)
    ours.load_state_dict(theirs.state_dict())
    return theirs.to(DEVICE), ours.to(DEVICE)


def _outputs_and_grads(module, x, multi):
    x = x.detach().clone().requires_grad_()
    if multi:
        seqs = list(module(x))
    else:
        states = [None] * STATES[type(module).__name__]
        steps = []
        for x_t in x.unbind(0):
            out = module(x_t, *states)
            states = list(out)[-len(states):]
            steps.append(list(out))
        seqs = [torch.stack(s) for s in zip(*steps)]
    loss = sum((s * (i + 1)).sum() + 0.1 * s.square().sum() for i, s in enumerate(seqs))
    params = [p for p in module.parameters() if p.requires_grad]
    return seqs, torch.autograd.grad(loss, [x, *params])


def _compare(ours, theirs):
    (our_seqs, our_grads), (their_seqs, their_grads) = ours, theirs
    assert torch.equal(our_seqs[0], their_seqs[0])
    assert ((our_seqs[0] != 0).sum(-1) <= 1).all()  # at most one spike per sample and step
    assert (our_seqs[0] != 0).sum() > T  # and many of them
    for a, b in zip(our_seqs[1:] + list(our_grads), their_seqs[1:] + list(their_grads)):
        assert_close(a, b, REL)


def _input(name, seed):
    return (torch.rand(T, *SHAPE, generator=torch.Generator().manual_seed(seed)) * NEURONS[name][2]).to(DEVICE)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("name", list(NEURONS))
def test_stepped_neurons_match_snntorch(backend, name, reset):
    theirs, ours = _pair(name, reset_mechanism=reset)
    x = _input(name, 3)
    _compare(_outputs_and_grads(ours, x, False), _outputs_and_grads(theirs, x, False))


@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("name", ["leaky", "synaptic", "rleaky"])
def test_whole_sequences_equal_snntorch_stepped(backend, name, reset_delay):
    """step_mode="multi" against snnTorch stepped, reset_delay=False too, and a graded spike
    factor where snnTorch's neuron takes one: its inhibited spikes do not carry it (but its
    same-step reset divides by it)."""
    graded = "graded_spikes_factor" in inspect.signature(getattr(snntorch, NEURONS[name][0])).parameters
    theirs, ours = _pair(name, reset_delay=reset_delay, **({"graded_spikes_factor": 2.0} if graded else {}))
    ours.step_mode = "multi"
    x = _input(name, 4)
    ours_out = _outputs_and_grads(ours, x, True)
    _compare(ours_out, _outputs_and_grads(theirs, x, False))
    assert set(ours_out[0][0].unique().tolist()) == {0.0, 1.0}


def test_inhibition_takes_no_fused_path(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the fused neuron ran")
    monkeypatch.setattr(dispatch, "run", refuse)
    lif = tritonsnn.Leaky(beta=0.9, inhibition=True)
    mem = None
    for x_t in torch.rand(4, 2, 3).to(DEVICE) * 2:
        spk, mem = lif(x_t, mem)
        assert spk.sum(1).le(1).all()


def test_inhibition_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match=r"steps of shape \[batch, neurons\]"):
        tritonsnn.Leaky(beta=0.9, inhibition=True)(torch.rand(2, 3, 4))
    with pytest.raises(ValueError, match="inhibition with per-sample lengths"):
        tritonsnn.RLeaky(beta=0.9, all_to_all=False, step_mode="multi", inhibition=True)(
            torch.rand(4, 2, 3).to(DEVICE), lengths=torch.tensor([4, 2]).to(DEVICE))
    for make in (lambda: tritonsnn.SLSTM(2, 2, inhibition=True),
                 lambda: tritonsnn.DeltaLeaky(beta=0.9, inhibition=True)):
        with pytest.raises(ValueError, match="takes no inhibition"):
            make()


def test_from_snntorch_keeps_it():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), snntorch.Leaky(beta=0.9, inhibition=True, init_hidden=True))
    converted = tritonsnn.from_snntorch(net)
    assert converted[1].inhibition
    x = torch.rand(5, 2, 3) * 3
    for x_t in x:
        assert torch.equal(converted(x_t), net(x_t))


@pytest.mark.parametrize("name", ["leaky", "synaptic"])
def test_the_winner_take_all_kernels_run_leaky_and_synaptic(monkeypatch, name):
    """On the Triton backend a whole fp32 sequence is one kernel per direction (the comparisons
    above run through it there), and a single step too."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("triton")
    try:
        calls = count_applies(monkeypatch, wta.WinnerTakeAll)
        theirs, ours = _pair(name, reset_mechanism="zero")
        ours.step_mode = "multi"
        x = _input(name, 5)
        _compare(_outputs_and_grads(ours, x, True), _outputs_and_grads(theirs, x, False))
        assert len(calls) == 1
    finally:
        tritonsnn.set_backend(previous)


def test_the_kernels_pick_the_first_of_equal_membranes_and_refuse_large_samples():
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("triton")
    try:
        lif = tritonsnn.Leaky(beta=0.5, inhibition=True, step_mode="multi")
        x = torch.tensor([[[2.0, 3.0, 3.0, 1.0]], [[0.0, 0.0, 0.0, 0.0]]], device=DEVICE)
        spk, mem = lif(x)
        assert spk[0].tolist() == [[0.0, 1.0, 0.0, 0.0]]
        assert spk[1].tolist() == [[0.0, 0.0, 0.0, 0.0]]  # the winner is below the threshold: no spike
        with pytest.raises(ValueError, match="at most 4096 neurons per sample"):
            lif(torch.zeros(2, 1, wta.MAX_NEURONS + 1, device=DEVICE))
    finally:
        tritonsnn.set_backend(previous)
