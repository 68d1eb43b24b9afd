"""The neurons without a reset, StateLeaky / LinearLeaky and DeltaLeaky, on both backends: against
snnTorch 1.0.0 (spikes equal; membranes and the gradients of the input and of every learnable
parameter within 1e-5 relative), against their oracles in fp64 (`tritonsnn.reference`), their
calling conventions and state handling, their conversion, and their refusals."""
import pytest
import snntorch
import torch
from snntorch.functional import quant

import tritonsnn
from tritonsnn.kernels.lif import dispatch
from conftest import DEVICE
from helpers import assert_close, converted

REL = 1e-5
T, B, C = 12, 3, 4
BETAS = {"scalar": 0.8, "per-channel": torch.tensor([0.95, 0.8, 0.6, 0.3])}
TRUNCATIONS = [None, 1, 3, T, T + 5]


def _draw(*shape, scale=1.0):
    g = torch.Generator().manual_seed(sum(shape))
    return torch.randn(*shape, generator=g) * scale + 0.3


def _grads(module, x, outputs_of, weights):
    """The module's outputs on x, and the gradients of a weighted sum of them for x and every
    learnable parameter (by name)."""
    x = x.detach().clone().to(DEVICE).requires_grad_()
    outputs = outputs_of(module, x)
    sum(((o * w.to(o.device)).sum() for o, w in zip(outputs, weights)), torch.zeros((), device=DEVICE)).backward()
    grads = {"x": x.grad, **{n: p.grad for n, p in module.named_parameters() if p.grad is not None}}
    return [o.detach().cpu() for o in outputs], {n: g.cpu() for n, g in grads.items()}


def _same(ours, theirs, rel=REL):
    (o_out, o_grads), (t_out, t_grads) = ours, theirs
    assert torch.equal(o_out[0], t_out[0]), "spikes differ"
    for i, (o, t) in enumerate(zip(o_out[1:], t_out[1:])):
        assert_close(o, t, rel, f"output {i + 1}")
    assert o_grads.keys() <= t_grads.keys()
    for name in t_grads:  # a gradient one side leaves None is zero there
        assert_close(o_grads.get(name, torch.zeros_like(t_grads[name])), t_grads[name], rel, f"d{name}")


def _sequence_outputs(module, x):
    out = module(x)
    return list(out) if isinstance(out, tuple) else [out]


# StateLeaky and LinearLeaky

@pytest.mark.parametrize("truncation", TRUNCATIONS)
@pytest.mark.parametrize("beta", list(BETAS))
def test_state_leaky_matches_snntorch(backend, beta, truncation):
    kwargs = dict(beta=BETAS[beta], channels=C, learn_beta=True, learn_threshold=True, threshold=0.9,
                  kernel_truncation_steps=truncation)
    theirs = snntorch.StateLeaky(**kwargs)
    ours = tritonsnn.StateLeaky(**kwargs).to(DEVICE)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x, weights = _draw(T, B, C), [_draw(T, B, C), _draw(T, B, C)]
    _same(_grads(ours, x, _sequence_outputs, weights), _grads(theirs, x, _sequence_outputs, weights))


@pytest.mark.parametrize("truncation", [None, 3])
def test_state_leaky_membrane_only_and_quantised(backend, truncation):
    """output=False returns the membrane alone; a state_quant quantises the membrane before it
    fires (snnTorch's quantiser is idempotent, so its second application changes nothing)."""
    q = quant.state_quant(num_bits=4, uniform=True, threshold=2.0)
    for options in (dict(output=False), dict(state_quant=q)):
        kwargs = dict(beta=BETAS["per-channel"], channels=C, learn_beta=True, kernel_truncation_steps=truncation,
                      **options)
        theirs, ours = snntorch.StateLeaky(**kwargs), tritonsnn.StateLeaky(**kwargs).to(DEVICE)
        ours.load_state_dict(theirs.state_dict())
        x = _draw(T, B, C)
        weights = [_draw(T, B, C)] if "output" in options else [_draw(T, B, C), torch.zeros(T, B, C)]
        if "output" in options:  # no spikes to compare: the membrane stands in their place
            o, t = _grads(ours, x, _sequence_outputs, weights), _grads(theirs, x, _sequence_outputs, weights)
            assert_close(o[0][0], t[0][0], REL, "mem")
            assert_close(o[1]["tau"], t[1]["tau"], REL, "dtau")
            assert_close(o[1]["x"], t[1]["x"], REL, "dx")
        else:
            _same(_grads(ours, x, _sequence_outputs, weights), _grads(theirs, x, _sequence_outputs, weights))


def test_linear_leaky_matches_snntorch(backend):
    kwargs = dict(beta=0.9, in_features=5, out_features=C, learn_beta=True, kernel_truncation_steps=4)
    torch.manual_seed(0)
    theirs = snntorch.LinearLeaky(**kwargs)
    ours = tritonsnn.LinearLeaky(**kwargs).to(DEVICE)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x, weights = _draw(T, B, 5, scale=3.0), [_draw(T, B, C), _draw(T, B, C)]
    _same(_grads(ours, x, _sequence_outputs, weights), _grads(theirs, x, _sequence_outputs, weights))


def test_graded_spikes_are_scaled_once():
    """A deliberate difference: snnTorch 1.0.0's StateLeaky multiplies its spikes by
    graded_spikes_factor twice (fire() scales them, then forward() again)."""
    x = _draw(T, B, C)
    ours = tritonsnn.StateLeaky(beta=0.9, channels=C, graded_spikes_factor=2.0)(x.to(DEVICE))[0].cpu()
    theirs = snntorch.StateLeaky(beta=0.9, channels=C, graded_spikes_factor=2.0)(x)[0]
    assert set(ours.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(theirs, 2 * ours)


@pytest.mark.parametrize("truncation", [None, 2, 5])
def test_state_leaky_matches_its_oracle_in_fp64(backend, truncation):
    x = _draw(T, B, C).double().to(DEVICE)
    params = [torch.tensor([3.0, 5.0, 10.0, 1.5], dtype=torch.float64), torch.tensor(0.9, dtype=torch.float64),
              torch.tensor(1.5, dtype=torch.float64)]
    results = []
    for fn in (tritonsnn.functional.state_leaky, tritonsnn.reference.state_leaky):
        leaves = [t.to(DEVICE).clone().requires_grad_() for t in (x, *params)]
        spk, mem = fn(leaves[0], leaves[1], threshold=leaves[2], graded_spikes_factor=leaves[3],
                      kernel_truncation_steps=truncation)
        ((spk * 0.7).sum() + (mem * mem).sum()).backward()
        results.append([spk, mem, *(t.grad for t in leaves)])
    for name, ours, oracle in zip(["spk", "mem", "dx", "dtau", "dthreshold", "dgsf"], *results):
        assert_close(ours.cpu(), oracle.cpu(), 1e-10, name)


def test_state_leaky_runs_the_fused_time_loop(monkeypatch):
    """Every form's membrane is the LIF family's fused neuron: one call per sequence."""
    calls = []
    run = dispatch.run
    monkeypatch.setattr(dispatch, "run", lambda **kw: calls.append(kw["reset"]) or run(**kw))
    x = _draw(T, B, C).to(DEVICE)
    tritonsnn.StateLeaky(beta=0.9, channels=C)(x)
    tritonsnn.StateLeaky(beta=0.9, channels=C, kernel_truncation_steps=3, output=False)(x)
    tritonsnn.DeltaLeaky(beta=0.9, step_mode="multi")(x, (None, None))
    assert calls == [tritonsnn.SpikingNeuron.reset_dict["none"]] * 3


def test_output_false_accepts_any_spike_grad_until_spikes_are_asked_for():
    with pytest.warns(UserWarning, match="output=False makes no spikes"):
        lif = tritonsnn.StateLeaky(beta=0.9, channels=C, output=False, spike_grad=lambda u: u)
    assert lif(_draw(T, B, C)).shape == (T, B, C)
    lif.output = True
    with pytest.raises(TypeError, match="is not a tritonsnn surrogate"):
        lif(_draw(T, B, C))


@pytest.mark.parametrize("make,x,match", [
    (lambda: tritonsnn.StateLeaky(beta=0.9, channels=C), torch.zeros(T, B), r"\[T, batch, channels\]"),
    (lambda: tritonsnn.StateLeaky(beta=BETAS["per-channel"], channels=C), torch.zeros(T, B, 3), "4 channels"),
    (lambda: tritonsnn.StateLeaky(beta=torch.ones(3), channels=C), None, r"one per channel \(4,\)"),
    (lambda: tritonsnn.StateLeaky(beta=0.9, channels=C, kernel_truncation_steps=0), None, "positive integer"),
    (lambda: tritonsnn.StateLeaky(beta=0.9, channels=C, kernel_truncation_steps=2.5), None, "positive integer"),
    (lambda: tritonsnn.LinearLeaky(beta=0.9, in_features=2, out_features=C), torch.zeros(B, 2), "in_features"),
])
def test_state_leaky_refuses_bad_input(make, x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()(x)


def test_state_leaky_has_no_step_api():
    lif = tritonsnn.StateLeaky(beta=0.9, channels=2)
    for call in (lambda: lif.fire_inhibition(1, torch.zeros(1, 2)), lambda: lif.mem_reset(torch.zeros(1, 2)),
                 lambda: lif.state_function(torch.zeros(1, 2))):
        with pytest.raises(NotImplementedError):
            call()


# DeltaLeaky

def _delta_pair(**options):
    kwargs = dict(beta=torch.tensor(0.7), delta_threshold=0.4, learn_beta=True, **options)
    theirs = snntorch.DeltaLeaky(**kwargs)
    ours = tritonsnn.DeltaLeaky(**kwargs).to(DEVICE)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def _stepped(module, x):
    """snnTorch's loop: (spk, mem, mem_prev) sequences, the state passed unless init_hidden."""
    state = None if module.init_hidden else (None, None)
    outs = []
    for x_t in x:
        spk, state = module(x_t) if module.init_hidden else module(x_t, state)
        outs.append((spk, *state))
    return [torch.stack(seq) for seq in zip(*outs)]


@pytest.mark.parametrize("init_hidden", [False, True])
def test_delta_leaky_steps_as_snntorch(backend, init_hidden):
    theirs, ours = _delta_pair(init_hidden=init_hidden)
    x, weights = _draw(T, B, C), [_draw(T, B, C) for _ in range(3)]
    _same(_grads(ours, x, _stepped, weights), _grads(theirs, x, _stepped, weights))


def test_delta_leaky_over_a_sequence_matches_snntorchs_loop(backend):
    theirs, _ = _delta_pair()
    ours = tritonsnn.DeltaLeaky(beta=0.7, delta_threshold=0.4, learn_beta=True, step_mode="multi").to(DEVICE)
    ours.load_state_dict(theirs.state_dict())
    x, weights = _draw(T, B, C), [_draw(T, B, C) for _ in range(3)]
    multi = _grads(ours, x, lambda m, x: [m(x, (None, None))[0], *m(x, (None, None))[1]], weights)
    _same(multi, _grads(theirs, x, _stepped, weights))


def test_delta_leaky_carries_its_state_over_sequences(backend):
    x = _draw(2 * T, B, C).to(DEVICE)
    whole = tritonsnn.DeltaLeaky(beta=0.7, delta_threshold=0.4, step_mode="multi")(x, (None, None))
    chunked = tritonsnn.DeltaLeaky(beta=0.7, delta_threshold=0.4, step_mode="multi", init_hidden=True)
    halves = [chunked(half) for half in x.split(T)]
    assert torch.equal(torch.cat([h[0] for h in halves]), whole[0])
    for i in range(2):
        assert_close(torch.cat([h[1][i] for h in halves]), whole[1][i], REL, f"state {i}")
    assert torch.equal(chunked.mem, halves[1][1][0][-1]) and torch.equal(chunked.mem_prev, halves[1][1][1][-1])
    assert chunked.reset_mem() == (None, None) and chunked.mem is None


def test_delta_leaky_matches_its_oracle_in_fp64(backend):
    x, mem0 = _draw(T, B, C).double(), _draw(B, C).double()
    beta, dthr = torch.tensor([0.9, 0.5, 1.2, 0.7], dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    results = []
    for fn in (tritonsnn.functional.delta_leaky, tritonsnn.reference.delta_leaky):
        leaves = [t.to(DEVICE).clone().requires_grad_() for t in (x, mem0, beta, dthr)]
        spk, mem = fn(leaves[0], leaves[2], leaves[1], delta_threshold=leaves[3])
        ((spk * 0.7).sum() + (mem * mem).sum()).backward()
        results.append([spk, mem, *(t.grad for t in leaves)])
    for name, ours, oracle in zip(["spk", "mem", "dx", "dmem0", "dbeta", "ddelta_threshold"], *results):
        assert_close(ours.cpu(), oracle.cpu(), 1e-10, name)


def test_delta_leaky_binds_as_snntorch():
    delta = tritonsnn.DeltaLeaky(0.2, 0.9)  # snnTorch's order: delta_threshold, then Leaky's
    assert delta.delta_threshold == 0.2 and delta.beta.item() == pytest.approx(0.9)
    with pytest.raises(TypeError, match="missing the required argument 'beta'"):
        tritonsnn.DeltaLeaky(0.2)
    with pytest.raises(ValueError, match="takes no state_quant"):
        tritonsnn.DeltaLeaky(beta=0.9, state_quant=quant.state_quant(num_bits=4))
    with pytest.raises(TypeError, match=r"pass \(mem, mem_prev\)"):
        tritonsnn.DeltaLeaky(beta=0.9)(torch.zeros(2))
    with pytest.raises(TypeError, match="should not be passed"):
        tritonsnn.DeltaLeaky(beta=0.9, init_hidden=True)(torch.zeros(2), (None, None))


@pytest.mark.parametrize("make", [
    lambda: snntorch.StateLeaky(beta=torch.tensor([0.9, 0.8]), channels=2, learn_beta=True, kernel_truncation_steps=3),
    lambda: snntorch.LinearLeaky(beta=0.9, in_features=3, out_features=2, learn_beta=True, learn_threshold=True),
    lambda: snntorch.DeltaLeaky(0.3, beta=0.8, learn_beta=True, init_hidden=True),
])
def test_from_snntorch_converts_them(make):
    theirs, ours = converted(make)
    x = _draw(T, B, 3 if isinstance(theirs, snntorch.LinearLeaky) else 2)
    outputs = _stepped if isinstance(theirs, snntorch.DeltaLeaky) else _sequence_outputs
    _same(_grads(ours, x, outputs, [torch.ones(1)] * 3), _grads(theirs, x, outputs, [torch.ones(1)] * 3))
