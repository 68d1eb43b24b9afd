"""snnTorch's `state_quant` on Leaky, Synaptic and Lapicque: a function applied to the states
every step (snnTorch's own quantiser, `snntorch.functional.quant.state_quant`, and a plain one),
run by the neuron's plain torch loop. Against snnTorch 1.0.0, stepped and over whole sequences:
spikes equal, states and the gradients of the input and the learnable parameters within 1e-5
relative; and its conversion, its refusals, and that it never takes the fused path."""
import pytest
import snntorch
import torch
from snntorch.functional import quant

import tritonsnn
from tritonsnn.kernels.lif import dispatch
from conftest import DEVICE
from helpers import assert_close

REL = 1e-5
T, SHAPE = 8, (3, 5)
NEURONS = {  # (ours, snnTorch's, decays, an input scale at which the neuron spikes)
    "leaky": (tritonsnn.Leaky, snntorch.Leaky, dict(beta=0.8), 0.9),
    "synaptic": (tritonsnn.Synaptic, snntorch.Synaptic, dict(alpha=0.7, beta=0.8), 0.9),
    "lapicque": (tritonsnn.Lapicque, snntorch.Lapicque, dict(beta=0.8), 6.0),
}
QUANTISERS = {
    "snntorch-4bit": lambda: quant.state_quant(num_bits=4, uniform=True, threshold=1.0),
    "rounding": lambda: (lambda u: u + (torch.round(u * 8) / 8 - u).detach()),  # a straight-through rounding
}


def _pair(name, q, **options):
    ours_cls, theirs_cls, decays, _ = NEURONS[name]
    kwargs = {**decays, "threshold": 1.0, "learn_threshold": True, **options}
    if name != "lapicque":
        kwargs["learn_beta"] = True
    theirs = theirs_cls(**kwargs, state_quant=q)
    ours = ours_cls(**kwargs, state_quant=q)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours.to(DEVICE)


def _outputs_and_grads(module, x, multi):
    x = x.detach().clone().requires_grad_()
    if multi:
        outputs = list(module(x))
        seqs = outputs
    else:
        states = [None] * (len(NEURONS_STATES[type(module).__name__]))
        steps = []
        for x_t in x.unbind(0):
            spk, *states = module(x_t, *states)
            steps.append([spk, *states])
        seqs = [torch.stack(s) for s in zip(*steps)]
    loss = sum((s * (i + 1)).sum() + 0.1 * s.square().sum() for i, s in enumerate(seqs))
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *params])
    return seqs, grads


NEURONS_STATES = {"Leaky": ("mem",), "Synaptic": ("syn", "mem"), "Lapicque": ("mem",)}


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("quantiser", list(QUANTISERS))
@pytest.mark.parametrize("name", list(NEURONS))
def test_stepped_neurons_match_snntorch(backend, name, quantiser, reset):
    q = QUANTISERS[quantiser]()
    theirs, ours = _pair(name, q, reset_mechanism=reset)
    x = torch.rand(T, *SHAPE, generator=torch.Generator().manual_seed(3)) * NEURONS[name][3]
    (theirs_seqs, theirs_grads), (our_seqs, our_grads) = (_outputs_and_grads(m, x.to(DEVICE), False)
                                                          for m in (theirs.to(DEVICE), ours))
    assert torch.equal(our_seqs[0], theirs_seqs[0])
    assert our_seqs[0].sum() > 0  # the case spikes
    for a, b in zip(our_seqs[1:] + list(our_grads), theirs_seqs[1:] + list(theirs_grads)):
        assert_close(a, b, REL)


@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("name", ["leaky", "synaptic"])
def test_whole_sequences_equal_snntorch_stepped(backend, name, reset_delay):
    """step_mode="multi" over the whole sequence against snnTorch stepped; reset_delay=False too."""
    q = QUANTISERS["snntorch-4bit"]()
    theirs, ours = _pair(name, q, reset_delay=reset_delay)
    ours.step_mode = "multi"
    x = (torch.rand(T, *SHAPE, generator=torch.Generator().manual_seed(4)) * NEURONS[name][3]).to(DEVICE)
    theirs_seqs, theirs_grads = _outputs_and_grads(theirs.to(DEVICE), x, False)
    our_seqs, our_grads = _outputs_and_grads(ours, x, True)
    assert torch.equal(our_seqs[0], theirs_seqs[0])
    for a, b in zip(our_seqs[1:] + list(our_grads), theirs_seqs[1:] + list(theirs_grads)):
        assert_close(a, b, REL)


def test_state_quant_takes_no_fused_path(monkeypatch, backend):
    """Neither the fused neuron nor a settled single step: every call runs the plain loop."""
    def refuse(*args, **kwargs):
        raise AssertionError("the fused neuron ran")
    monkeypatch.setattr(dispatch, "run", refuse)
    lif = tritonsnn.Leaky(beta=0.9, state_quant=QUANTISERS["rounding"]())
    mem = None
    for x_t in torch.rand(4, 2, 3).to(DEVICE):
        spk, mem = lif(x_t, mem)
    assert torch.equal(mem, torch.round(mem * 8) / 8)


def test_from_snntorch_keeps_the_quantiser():
    q = QUANTISERS["snntorch-4bit"]()
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), snntorch.Leaky(beta=0.9, state_quant=q))
    converted = tritonsnn.from_snntorch(net)
    assert converted[1].state_quant is q
    with pytest.raises(TypeError, match="state_quant is not implemented for Alpha"):
        tritonsnn.from_snntorch(torch.nn.Sequential(snntorch.Alpha(alpha=0.9, beta=0.8, state_quant=q)))
