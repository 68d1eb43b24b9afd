"""Per-sample sequence lengths (`lengths=`): a padded batch gives exactly what each sample gives
when run alone at its own length (outputs, final states and every gradient), with zeros and no
gradient past each length; for every neuron, on both backends, functional and module forms."""
import warnings

import pytest
import torch

import tritonsnn
from tritonsnn import reference, surrogate
from tritonsnn.catalogue import NEURONS, cases
from conftest import DEVICE
from helpers import assert_close, draw_leaky_inputs

F = tritonsnn.functional
T, LENGTHS, SHAPE = 9, [9, 4, 0, 1, 6], (2, 3)
B = len(LENGTHS)


def _params(neuron):
    """Learnable parameters: the catalogue's decays, and a per-neuron threshold (their gradients
    sum over the batch, so per-sample runs must add up to the batched one)."""
    n = NEURONS[neuron]
    gen = torch.Generator().manual_seed(3)
    per_neuron = torch.rand(SHAPE, generator=gen, dtype=torch.float64).float()
    p = {name: torch.tensor(value) for name, value in n.params.items()}
    p.update(threshold=n.threshold * (0.8 + 0.4 * per_neuron), graded_spikes_factor=torch.tensor(1.3))
    return {k: v.to(DEVICE).requires_grad_() for k, v in p.items()}


def _run(neuron, x, states, params, mechanism, delay, lengths=None, fn_module=F, **kw):
    """(spk, *state sequences) of `neuron` from `fn_module` (functional or reference)."""
    if NEURONS[neuron].reset_delay:
        kw["reset_delay"] = delay
    return NEURONS[neuron].call(fn_module, x, states, reset_mechanism=mechanism, lengths=lengths, **params, **kw)


def _inputs(neuron, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scale = NEURONS[neuron].input_scale
    x = torch.randn(T, B, *SHAPE, generator=gen) * scale + scale / 2
    states = [torch.randn(B, *SHAPE, generator=gen) * 0.3 for _ in NEURONS[neuron].states]
    return x.to(DEVICE), [s.to(DEVICE) for s in states]


def _weights(outs, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(o.shape, generator=gen).to(DEVICE) for o in outs]


@pytest.mark.parametrize("neuron,mechanism,delay", cases())
def test_padded_batch_equals_each_sample_alone(backend, neuron, mechanism, delay):
    """Outputs (zero past each length), the final state of every state (`final_state`), dL/dx
    (zero past each length), the initial states' and the parameters' gradients, for a loss on
    every output sequence and every final state."""
    x, states = _inputs(neuron)
    lengths = torch.tensor(LENGTHS, device=DEVICE)

    def loss_of(x, states, params, lengths, seq_w, final_w):
        outs = _run(neuron, x, states, params, mechanism, delay, lengths)
        finals = [F.final_state(seq, lengths, s0) for seq, s0 in zip(outs[1:], states)]
        loss = sum((o * w).sum() for o, w in zip(outs, seq_w)) + sum((f * w).sum() for f, w in zip(finals, final_w))
        return loss, outs, finals

    seq_w = _weights([x] * (1 + len(NEURONS[neuron].states)))
    final_w = _weights(states, seed=2)
    xb, sb = x.clone().requires_grad_(), [s.clone().requires_grad_() for s in states]
    params = _params(neuron)
    loss, outs, finals = loss_of(xb, sb, params, lengths, seq_w, final_w)
    loss.backward()

    alone_params = _params(neuron)
    for b, n in enumerate(LENGTHS):
        xa = x[:n, b:b + 1].clone().requires_grad_()
        sa = [s[b:b + 1].clone().requires_grad_() for s in states]
        loss_a, outs_a, finals_a = loss_of(xa, sa, alone_params, None, [w[:n, b:b + 1] for w in seq_w],
                                           [w[b:b + 1] for w in final_w])
        loss_a.backward()
        # The same arithmetic per neuron: spikes identical, states to rounding (a GPU compiler
        # may contract the two kernel variants' multiply-adds differently).
        assert torch.equal(outs[0][:n, b:b + 1], outs_a[0]), f"spikes of sample {b}"
        for i, (o, o_a) in enumerate(zip(outs, outs_a)):
            assert_close(o[:n, b:b + 1], o_a, 1e-6, f"output {i}, sample {b}")
            assert not o[n:, b].any(), f"output {i} past the length of sample {b}"
        for i, (f, f_a) in enumerate(zip(finals, finals_a)):
            assert_close(f[b:b + 1], f_a, 1e-6, f"final state {i}, sample {b}")
        assert_close(xb.grad[:n, b:b + 1], xa.grad, 1e-5, f"dx of sample {b}")
        assert not xb.grad[n:, b].any(), f"dx past the length of sample {b}"
        for i, (s, s_a) in enumerate(zip(sb, sa)):
            assert_close(_grad(s)[b:b + 1], _grad(s_a), 1e-5, f"initial state {i} of sample {b}")
    for name, p in params.items():
        assert_close(p.grad, alone_params[name].grad, 1e-5, f"d{name}")


@pytest.mark.parametrize("neuron,mechanism,delay", [("leaky", "subtract", True), ("leaky", "zero", False),
                                                    ("synaptic", "zero", True), ("synaptic", "subtract", False),
                                                    ("lapicque", "zero", True), ("alpha", "subtract", True),
                                                    ("alpha", "zero", True)])
def test_matches_the_reference_with_lengths(backend, neuron, mechanism, delay):
    """Against the oracle, whose state is literally frozen past each length (torch.where)."""
    x, states = _inputs(neuron, seed=4)
    if neuron in ("leaky", "synaptic"):  # membranes clear of the threshold, so fp rounding flips no spike
        p = _params(neuron)
        x = draw_leaky_inputs(T, (B, *SHAPE), p["beta"].detach().cpu(), p["threshold"].detach().cpu(),
                              mem0=states[-1].cpu(),
                              reset_mechanism=mechanism, reset_delay=delay, scale=0.4, seed=4,
                              alpha=p["alpha"].detach().cpu() if neuron == "synaptic" else None,
                              syn0=states[0].cpu() if neuron == "synaptic" else None).float().to(DEVICE)
    lengths = torch.tensor(LENGTHS, device=DEVICE)
    results = []
    for fn_module in (F, reference):
        xs, ss, params = x.clone().requires_grad_(), [s.clone().requires_grad_() for s in states], _params(neuron)
        outs = _run(neuron, xs, ss, params, mechanism, delay, lengths, fn_module)
        sum((o * w).sum() for o, w in zip(outs, _weights(outs))).backward()
        results.append([*outs, *map(_grad, (xs, *ss, *params.values()))])
    for i, (got, want) in enumerate(zip(*results)):
        assert_close(got, want, 1e-5, f"result {i}")


def _grad(t):
    """t's gradient; zeros for None (no path reached it, e.g. Alpha's initial membrane, which
    only decides the first, detached, reset; the oracle's torch.where yields explicit zeros)."""
    return torch.zeros_like(t) if t.grad is None else t.grad


@pytest.mark.parametrize("neuron", ["leaky", "synaptic", "alpha"])
def test_gradcheck_float64_with_lengths(backend, neuron):
    """Exact gradients (surrogate disabled, membranes clear of the threshold) through inputs,
    initial states, parameters and the final states, with samples of full, partial and zero
    length."""
    x = draw_leaky_inputs(6, (3, 2), 0.8, 0.6, margin=1e-3, scale=0.4, seed=5)
    x = {"leaky": x, "synaptic": x * 0.5, "alpha": x * 0.3}[neuron]
    lengths = torch.tensor([6, 2, 0], device=DEVICE)
    gen = torch.Generator().manual_seed(0)
    state = torch.rand(3, 2, generator=gen, dtype=torch.float64) * 0.2
    beta = torch.tensor([0.8, 0.7], dtype=torch.float64)
    off = surrogate.DISABLED

    def fn(x, state, beta):
        if neuron == "leaky":
            spk, mem = F.leaky(x, beta, mem=state, threshold=0.6, spike_grad=off, lengths=lengths)
            return spk, mem, F.final_state(mem, lengths, state)
        if neuron == "synaptic":
            spk, syn, mem = F.synaptic(x, 0.6, beta, syn=state, mem=state * 0.5, threshold=0.6, spike_grad=off,
                                       lengths=lengths)
            return spk, mem, F.final_state(syn, lengths, state), F.final_state(mem, lengths, state * 0.5)
        spk, exc, inh, mem = F.alpha(x, 0.95, beta, syn_exc=state, syn_inh=-state, threshold=0.6, spike_grad=off,
                                     lengths=lengths)
        return spk, mem, F.final_state(exc, lengths, state), F.final_state(inh, lengths, -state)

    inputs = [t.to(DEVICE).requires_grad_() for t in (x, state, beta)]
    fast = backend == "triton" and DEVICE.type != "cuda"  # the interpreter is slow: random projections
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, fast_mode=fast)


def test_python_surrogate_path_with_lengths(backend):
    """custom_surrogate(fn) runs the fused forward and the torch path's backward: lengths reach it."""
    sg = surrogate.custom_surrogate(lambda input_, grad_input, out: grad_input / (1 + input_.abs()) ** 2)
    lengths = torch.tensor(LENGTHS, device=DEVICE)
    for neuron in ("leaky", "alpha"):
        x, states = _inputs(neuron, seed=6)
        results = []
        for spike_grad in (sg, surrogate.fast_sigmoid(slope=1.0)):  # the same gradient, fused
            xs, params = x.clone().requires_grad_(), _params(neuron)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # that the custom surrogate is not fused
                outs = _run(neuron, xs, states, params, "subtract", True, lengths, spike_grad=spike_grad)
            sum((o * w).sum() for o, w in zip(outs, _weights(outs))).backward()
            results.append([*outs, xs.grad, *(p.grad for p in params.values())])
        for i, (got, want) in enumerate(zip(*results)):
            assert_close(got, want, 1e-5, f"{neuron} result {i}")


def test_full_lengths_change_nothing(backend):
    """lengths = T everywhere gives bit for bit what no lengths give, gradients included."""
    x, states = _inputs("synaptic", seed=7)
    results = []
    for lengths in (None, torch.full((B,), T, device=DEVICE)):
        xs = x.clone().requires_grad_()
        params = _params("synaptic")
        outs = _run("synaptic", xs, states, params, "subtract", True, lengths)
        sum((o * w).sum() for o, w in zip(outs, _weights(outs))).backward()
        results.append([*outs, xs.grad, *(p.grad for p in params.values())])
    for i, (a, b) in enumerate(zip(*results)):
        assert torch.equal(a, b), f"result {i}"


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_padding_never_leaks(backend, neuron, nan_poison):
    """Past each length the input and the incoming gradients may hold anything (NaN, inf): the
    outputs, and every gradient, are those of finite padding; and every output element is written
    (nan_poison fills fresh buffers with NaN)."""
    x, states = _inputs(neuron, seed=8)
    lengths = torch.tensor(LENGTHS, device=DEVICE)
    dead = (torch.arange(T, device=DEVICE)[:, None] >= lengths).view(T, B, 1, 1)
    results = []
    for pad in (0.0, float("nan"), float("inf")):
        xs = torch.where(dead, pad, x).requires_grad_()
        params = _params(neuron)
        outs = _run(neuron, xs, states, params, "subtract", True, lengths)
        grads_out = [torch.where(dead, pad, w) for w in _weights(outs)]
        grads = torch.autograd.grad(outs, [xs, *params.values()], grads_out)
        results.append([*outs, *grads])
    for got in results[1:]:
        for i, (a, b) in enumerate(zip(got, results[0])):
            assert torch.equal(a, b), f"result {i}"
    assert all(torch.isfinite(t).all() for t in results[0])


def test_zero_lengths_and_empty_sequences(backend):
    x, (mem0,) = _inputs("leaky")
    zeros = torch.zeros(B, dtype=torch.long, device=DEVICE)
    xs, m0 = x.clone().requires_grad_(), mem0.clone().requires_grad_()
    spk, mem = F.leaky(xs, 0.9, mem=m0, lengths=zeros)
    assert not spk.any() and not mem.any()
    final = F.final_state(mem, zeros, m0)
    assert torch.equal(final, mem0)
    (spk.sum() + mem.sum() + final.sum()).backward()
    assert not xs.grad.any() and torch.equal(m0.grad, torch.ones_like(m0))
    spk, mem = F.leaky(x[:0], 0.9, mem=mem0, lengths=zeros)
    assert spk.shape == (0, B, *SHAPE) and torch.equal(F.final_state(mem, zeros, mem0), mem0)


def test_final_state_without_lengths_is_the_last_step():
    seq = torch.randn(4, 3, 2)
    assert torch.equal(F.final_state(seq), seq[-1])
    assert torch.equal(F.final_state(seq[:0], initial=seq[0]), seq[0])
    assert torch.equal(F.final_state(seq[:0]), torch.zeros(3, 2))


def test_lengths_on_the_cpu_for_any_input_device(backend):
    """A DataLoader hands lengths on the CPU: they are checked there and moved to x's device."""
    x, _ = _inputs("leaky")
    on_device = F.leaky(x, 0.9, lengths=torch.tensor(LENGTHS, device=DEVICE))
    on_cpu = F.leaky(x, 0.9, lengths=torch.tensor(LENGTHS, dtype=torch.int32))
    for a, b in zip(on_device, on_cpu):
        assert torch.equal(a, b)


@pytest.mark.parametrize("lengths,error,match", [
    ([9, 4, 0, 1, 6], TypeError, "integer torch.Tensor"),
    (torch.tensor([9.0, 4, 0, 1, 6]), TypeError, "integer tensor"),
    (torch.ones(5, dtype=torch.bool), TypeError, "integer tensor"),
    (torch.tensor([9, 4, 0, 1]), ValueError, "batch size 5"),
    (torch.tensor([[9, 4, 0, 1, 6]]), ValueError, "shape"),
    (torch.tensor([10, 4, 0, 1, 6]), ValueError, r"\[0, T\] = \[0, 9\]"),
    (torch.tensor([9, 4, -1, 1, 6]), ValueError, r"\[0, T\]"),
])
def test_bad_lengths_are_refused(lengths, error, match):
    x, _ = _inputs("leaky")
    with pytest.raises(error, match=match):
        F.leaky(x.cpu(), 0.9, lengths=lengths)


def test_lengths_need_a_batch_dimension():
    with pytest.raises(ValueError, match="batch dimension"):
        F.leaky(torch.rand(5), 0.9, lengths=torch.tensor([5]))


# --- modules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("neuron", list(NEURONS))
def test_module_carries_each_samples_final_state(backend, neuron):
    x, _ = _inputs(neuron, seed=9)
    lengths = torch.tensor(LENGTHS, device=DEVICE)
    lif = NEURONS[neuron].make(step_mode="multi", init_hidden=True, output=True).to(DEVICE)
    spk, *seqs = lif(x, lengths=lengths)
    stateless = NEURONS[neuron].make(step_mode="multi").to(DEVICE)
    for a, b in zip((spk, *seqs), stateless(x, lengths=lengths)):
        assert torch.equal(a, b)
    for name, seq in zip(lif.state_names, seqs):
        assert torch.equal(getattr(lif, name), F.final_state(seq, lengths))


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_chunked_calls_with_per_chunk_lengths_equal_one_call(backend, neuron):
    """Feeding a padded batch in chunks of K steps, each with the lengths left in it, carries each
    sample's state across calls exactly: the same outputs and gradients as one call."""
    x, _ = _inputs(neuron, seed=10)
    lengths = torch.tensor(LENGTHS, device=DEVICE)
    results = []
    for K in (T, 4):
        torch.manual_seed(0)
        xs = x.clone().requires_grad_()
        lif = NEURONS[neuron].make(step_mode="multi", init_hidden=True, output=True).to(DEVICE)
        outs = []
        for start in range(0, T, K):
            chunk_lengths = (lengths - start).clamp(0, K)
            outs.append(lif(xs[start:start + K], lengths=chunk_lengths))
        outs = [torch.cat(parts) for parts in zip(*outs)]
        finals = [getattr(lif, name) for name in lif.state_names]
        sum((o * w).sum() for o, w in zip(outs + finals, _weights(outs + finals))).backward()
        results.append([*outs, *finals, xs.grad, *(p.grad for p in lif.parameters())])
    for i, (chunked, whole) in enumerate(zip(results[1], results[0])):
        assert_close(chunked, whole, 1e-5, f"result {i}")


def test_single_step_calls_refuse_lengths():
    lif = tritonsnn.Leaky(beta=0.9)
    with pytest.raises(ValueError, match="step_mode='multi'"):
        lif(torch.rand(3, 4), lengths=torch.tensor([1, 1, 1]))
