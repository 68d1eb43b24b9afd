"""SLSTM and SConv2dLSTM against snnTorch 1.0.0 (spikes equal; states and the gradients of the
input, the cell's weights and a learnt threshold within 1e-5 relative), stepped and over whole
sequences, against their oracles (`tritonsnn.reference`), with per-sample lengths, the
documented difference from snnTorch's SLSTM, conversion and refusals. SLSTM's fused kernels
(the Triton backend) have their own test against snnTorch and the fp64 oracle; SConv2dLSTM,
which has none, runs its comparison on both backends."""
import copy

import pytest
import snntorch
import torch
from snntorch.functional import quant

import tritonsnn
from tritonsnn.kernels.lstm import fused as slstm_fused
from conftest import DEVICE
from helpers import assert_close, converted, count_applies
from helpers import draw as _draw
from helpers import snntorch_twins as _pair

REL = 1e-5
T, B = 6, 3
RESETS = ("none", "subtract", "zero")


def _stepped(module, x):
    syn, mem = module.reset_mem()
    outs = []
    for x_t in x:
        spk, syn, mem = module(x_t, syn, mem)
        outs.append((spk, syn, mem))
    return [torch.stack(seq) for seq in zip(*outs)]


def _multi(module, x):
    module.step_mode = "multi"
    try:
        return list(module(x))
    finally:
        module.step_mode = "single"


def _run(module, x, outputs_of, seed=1):
    x = x.detach().clone().to(DEVICE).requires_grad_()
    outputs = outputs_of(module, x)
    loss = sum((o * _draw(*o.shape, seed=seed + i).to(o.device)).sum() for i, o in enumerate(outputs))
    module.zero_grad(set_to_none=True)
    loss.backward()
    grads = {"x": x.grad, **{n: p.grad for n, p in module.named_parameters()}}
    return [o.detach().cpu() for o in outputs], {n: g.cpu() for n, g in grads.items()}


def _same(ours, theirs):
    (o_out, o_grads), (t_out, t_grads) = ours, theirs
    assert torch.equal(o_out[0], t_out[0]), "spikes differ"
    for name, o, t in zip(("syn", "mem"), o_out[1:], t_out[1:]):
        assert_close(o, t, REL, name)
    assert o_grads.keys() == t_grads.keys()
    for name in t_grads:
        assert_close(o_grads[name], t_grads[name], REL, f"d{name}")


@pytest.mark.parametrize("quantised", [False, True])
@pytest.mark.parametrize("reset", RESETS)
def test_slstm_matches_snntorch(reset, quantised):
    """input_size == hidden_size: the case where snnTorch's SLSTM carries its states."""
    q = quant.state_quant(num_bits=6, uniform=True, threshold=1.0) if quantised else False
    theirs, ours = _pair("SLSTM", input_size=5, hidden_size=5, threshold=0.1, learn_threshold=True,
                         reset_mechanism=reset, state_quant=q)
    x = _draw(T, B, 5) * 2
    expected = _run(theirs, x, _stepped)
    _same(_run(ours, x, _stepped), expected)
    _same(_run(ours, x, _multi), expected)


@pytest.mark.parametrize("pool", [{}, {"max_pool": 2}, {"avg_pool": 2}])
@pytest.mark.parametrize("reset", RESETS)
def test_sconv2dlstm_matches_snntorch(backend, reset, pool):
    theirs, ours = _pair("SConv2dLSTM", in_channels=2, out_channels=3, kernel_size=3, threshold=0.05,
                         learn_threshold=True, reset_mechanism=reset, **pool)
    x = _draw(T, B, 2, 6, 6) * 2
    expected = _run(theirs, x, _stepped)
    _same(_run(ours, x, _stepped), expected)
    _same(_run(ours, x, _multi), expected)


def test_slstm_carries_its_states_where_snntorch_forgets_them():
    """A deliberate difference: with input_size != hidden_size snnTorch 1.0.0's SLSTM compares
    its states' shape with the input's and replaces them by zeros every step. tritonsnn's
    carries them, as its oracle (one nn.LSTMCell call per step) does."""
    theirs, ours = _pair("SLSTM", input_size=3, hidden_size=5, threshold=0.1, reset_mechanism="subtract")
    x = _draw(T, B, 3) * 2
    stepped = _run(ours, x, _stepped)
    cell = ours.lstm_cell
    oracle = _run(ours, x, lambda m, x: list(tritonsnn.reference.slstm(x, cell, threshold=m.threshold,
                                                                       reset_mechanism="subtract")))
    _same(stepped, oracle)
    _same(_run(ours, x, _multi), oracle)
    constant = x[:1].expand(T, B, 3)  # the same input every step: the same states, without memory
    forgetting, carrying = _run(theirs, constant, _stepped)[0], _run(ours, constant, _stepped)[0]
    assert all(torch.equal(forgetting[1][t], forgetting[1][0]) for t in range(T))
    assert not torch.allclose(carrying[1][1], carrying[1][0])


@pytest.mark.parametrize("cls_name,shape,kwargs", [
    ("SLSTM", (4,), dict(input_size=4, hidden_size=3)),
    ("SConv2dLSTM", (2, 5, 5), dict(in_channels=2, out_channels=2, kernel_size=3, avg_pool=5)),
])
def test_lengths_end_each_sample(cls_name, shape, kwargs):
    """With per-sample lengths each sample's outputs equal its own run at its own length (zeros
    after), and the state carried with init_hidden is its state after its last step."""
    torch.manual_seed(0)
    module = getattr(tritonsnn, cls_name)(**kwargs, threshold=0.05, step_mode="multi").to(DEVICE)
    x = _draw(T, B, *shape).to(DEVICE)
    lengths = torch.tensor([T, 2, 0])
    spk, syn, mem = module(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = module(x[:n, b:b + 1]) if n else None
        for whole, part in zip((spk, syn, mem), alone or (None,) * 3):
            assert not whole[n:, b].any()
            if n:
                assert_close(whole[:n, b:b + 1], part, REL)
    carrying = getattr(tritonsnn, cls_name)(**kwargs, threshold=0.05, step_mode="multi", init_hidden=True,
                                            output=True).to(DEVICE)
    carrying.load_state_dict(module.state_dict())
    carrying(x, lengths=lengths)
    assert_close(carrying.mem[0], mem[-1, 0], REL)
    assert_close(carrying.mem[1], mem[1, 1], REL)
    assert not carrying.mem[2].any()


@pytest.mark.parametrize("make", [
    lambda: snntorch.SLSTM(4, 3, reset_mechanism="zero", learn_threshold=True, bias=False),
    lambda: snntorch.SConv2dLSTM(2, 3, 3, max_pool=2, reset_mechanism="subtract"),
])
def test_from_snntorch_converts_them(make):
    theirs, ours = converted(make)
    assert ours.reset_mechanism == theirs.reset_mechanism
    x = _draw(T, B, 4) if isinstance(theirs, snntorch.SLSTM) else _draw(T, B, 2, 4, 4)
    if isinstance(theirs, snntorch.SLSTM):  # snnTorch's carries no state here (see above): one step
        x = x[:1]
    _same(_run(ours, x, _stepped), _run(theirs, x, _stepped))


@pytest.mark.parametrize("make,x,match", [
    (lambda: tritonsnn.SLSTM(4, 3), torch.zeros(2, 5), "input_size=4"),
    (lambda: tritonsnn.SConv2dLSTM(2, 3, 3), torch.zeros(2, 1, 4, 4), "in_channels=2"),
    (lambda: tritonsnn.SConv2dLSTM(2, 3, 3, max_pool=2, avg_pool=2), None, "not both"),
    (lambda: tritonsnn.SLSTM(4, 3), (torch.zeros(2, 4), torch.zeros(2, 4), None), "syn has shape"),
])
def test_bad_input_is_refused(make, x, match):
    with pytest.raises(ValueError, match=match):
        module = make()
        module(*x) if isinstance(x, tuple) else module(x)


@pytest.mark.parametrize("reset", RESETS)
def test_the_fused_slstm_matches_snntorch_and_its_oracle(monkeypatch, reset):
    """On the Triton backend a whole fp32 sequence is one kernel per direction (a single step
    too). Its spikes and states against snnTorch's, where snnTorch carries its states
    (input_size == hidden_size), and every gradient against the oracle in fp64 (fp32 against
    fp32 would measure snnTorch's rounding: its scalar threshold gradient, a sum of terms of
    both signs, is 1.3e-5 off fp64; the kernels', 2e-6), also with other sizes and given states."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("triton")
    try:
        calls = count_applies(monkeypatch, slstm_fused.SLSTMSequence)
        theirs, ours = _pair("SLSTM", input_size=20, hidden_size=20, threshold=0.1, learn_threshold=True,
                             reset_mechanism=reset)
        x = _draw(T, B, 20) * 2
        snntorch_states = _run(theirs, x, _stepped)[0]
        for outputs_of in (_multi, _stepped):
            got = _run(ours, x, outputs_of)
            assert torch.equal(got[0][0], snntorch_states[0])
            for name, a, b in zip(("syn", "mem"), got[0][1:], snntorch_states[1:]):
                assert_close(a, b, REL, name)
            _same(got, _exact(ours, x, None, None, reset))
        assert len(calls) == 1 + T
        torch.manual_seed(1)
        ours = tritonsnn.SLSTM(5, 19, threshold=0.05, learn_threshold=True, reset_mechanism=reset,
                               step_mode="multi").to(DEVICE)
        syn0, mem0 = _draw(B, 19, seed=3).to(DEVICE), _draw(19, seed=4).to(DEVICE)
        x = _draw(T, B, 5, seed=5)
        _same(_run(ours, x, lambda m, x: list(m(x, syn0, mem0))), _exact(ours, x, syn0, mem0, reset))
    finally:
        tritonsnn.set_backend(previous)


def _exact(module, x, syn0, mem0, reset):
    """The oracle's outputs and gradients for a copy of `module` in fp64."""
    module.reset_mem()  # (a carried state holds a graph, which a copy cannot)
    exact = copy.deepcopy(module).double()
    shape = (x.shape[1], module.hidden_size)  # (the oracle's LSTMCell takes [B, H] states only)
    syn0, mem0 = (None if s is None else s.double().expand(shape) for s in (syn0, mem0))
    return _run(exact, x.double(), lambda m, x: list(tritonsnn.reference.slstm(
        x, m.lstm_cell, syn0, mem0, m.threshold, reset_mechanism=reset)))
