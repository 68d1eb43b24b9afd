"""snnTorch's `state_quant` on every neuron: a function applied to the states every step
(snnTorch's own quantiser, `snntorch.functional.quant.state_quant`, and a plain one), run by the
neuron's plain torch loop. Against snnTorch 1.0.0, stepped and over whole sequences: spikes
equal, states and the gradients of the input and the learnable parameters (recurrent weights
included) within 1e-5 relative; and its conversion, its refusals, and that it never takes the
fused path."""
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
NEURONS = {  # (ours, snnTorch's, decays and terms, an input scale at which the neuron spikes)
    "leaky": (tritonsnn.Leaky, snntorch.Leaky, dict(beta=0.8), 0.9),
    "synaptic": (tritonsnn.Synaptic, snntorch.Synaptic, dict(alpha=0.7, beta=0.8), 0.9),
    "lapicque": (tritonsnn.Lapicque, snntorch.Lapicque, dict(beta=0.8), 6.0),
    "alpha": (tritonsnn.Alpha, snntorch.Alpha, dict(alpha=0.9, beta=0.8), 3.0),
    "rleaky": (tritonsnn.RLeaky, snntorch.RLeaky, dict(beta=0.8, linear_features=SHAPE[-1]), 0.9),
    "rsynaptic": (tritonsnn.RSynaptic, snntorch.RSynaptic, dict(alpha=0.7, beta=0.8, all_to_all=False, V=0.4), 0.9),
}
STATES = {"Leaky": ("mem",), "Synaptic": ("syn", "mem"), "Lapicque": ("mem",), "Alpha": ("exc", "inh", "mem"),
          "RLeaky": ("spk", "mem"), "RSynaptic": ("spk", "syn", "mem")}
QUANTISERS = {
    "snntorch-4bit": lambda: quant.state_quant(num_bits=4, uniform=True, threshold=2.0),  # levels over [-2, 2.4]
    "rounding": lambda: (lambda u: u + (torch.round(u * 8) / 8 - u).detach()),  # a straight-through rounding
}


def _pair(name, q, **options):
    ours_cls, theirs_cls, decays, _ = NEURONS[name]
    kwargs = {**decays, "threshold": 1.0, "learn_threshold": True, **options}
    if name not in ("lapicque", "alpha"):  # (snnTorch's Alpha cannot learn its decays)
        kwargs["learn_beta"] = True
    theirs = theirs_cls(**kwargs, state_quant=q)
    ours = ours_cls(**kwargs, state_quant=q)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours.to(DEVICE)


def _outputs_and_grads(module, x, multi):
    x = x.detach().clone().requires_grad_()
    if multi:
        seqs = list(module(x))
    else:
        states = [None] * len(STATES[type(module).__name__])
        steps = []
        for x_t in x.unbind(0):
            out = module(x_t, *states)  # (spk, *states); a recurrent neuron's states begin with spk
            states = list(out)[-len(states):]
            steps.append(list(out))
        seqs = [torch.stack(s) for s in zip(*steps)]
    loss = sum((s * (i + 1)).sum() + 0.1 * s.square().sum() for i, s in enumerate(seqs))
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *params])
    return seqs, grads



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
@pytest.mark.parametrize("name", ["leaky", "synaptic", "rleaky"])
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


def test_recurrent_neurons_refuse_lengths_with_state_quant():
    rlif = tritonsnn.RLeaky(beta=0.9, all_to_all=False, step_mode="multi", state_quant=QUANTISERS["rounding"]())
    with pytest.raises(ValueError, match="state_quant with per-sample lengths"):
        rlif(torch.rand(4, 2, 3).to(DEVICE), lengths=torch.tensor([4, 2]).to(DEVICE))


def test_from_snntorch_keeps_the_quantiser():
    q = QUANTISERS["snntorch-4bit"]()
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), snntorch.Leaky(beta=0.9, state_quant=q),
                              snntorch.RSynaptic(alpha=0.8, beta=0.9, linear_features=5, state_quant=q))
    converted = tritonsnn.from_snntorch(net)
    assert converted[1].state_quant is q and converted[2].state_quant is q
