"""Reliability: edge cases and bad input, determinism, exact gradients (gradcheck in float64), and
property tests against the naive reference, on both backends."""
import pytest
import snntorch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tritonsnn
from tritonsnn import reference, surrogate
from tritonsnn.catalogue import NEURONS as CATALOGUE
from tritonsnn.catalogue import cases
from conftest import DEVICE
from helpers import assert_close, draw_leaky_inputs

F = tritonsnn.functional


def _call(neuron, x, **kw):
    """(spikes, *state sequences) of one neuron over x with the catalogue's parameters."""
    return CATALOGUE[neuron].call(F, x, **kw)


# --- bad input and edge cases ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_propagate_as_in_snntorch(backend, bad):
    x = torch.randn(6, 2, 5) * 0.5 + 0.4
    x[2, 0, 1] = bad
    x[4, 1, 3] = bad
    xs = x.to(DEVICE).requires_grad_()
    spk, mem = F.leaky(xs, 0.9)
    lif, m, spikes, mems = snntorch.Leaky(beta=0.9), torch.zeros(2, 5), [], []
    for x_t in x:
        s, m = lif(x_t, m)
        spikes.append(s)
        mems.append(m)
    torch.testing.assert_close(spk.cpu(), torch.stack(spikes), equal_nan=True)
    torch.testing.assert_close(mem.detach().cpu(), torch.stack(mems), equal_nan=True)
    (spk.sum() + mem.sum()).backward()  # completes; neurons that never saw the value stay finite
    assert torch.isfinite(xs.grad[:, 0, 0]).all() and torch.isfinite(xs.grad[:, 1, 1]).all()


def _snntorch(neuron, reset, delay):
    """snnTorch 1.0.0's neuron of the same name, with the catalogue's parameters."""
    n = CATALOGUE[neuron]
    options = {"reset_delay": delay} if n.reset_delay else {}
    return getattr(snntorch, n.snntorch)(**n.params, threshold=n.threshold, reset_mechanism=reset, **options)


@pytest.mark.parametrize("neuron,reset,delay", cases())
def test_inf_and_nan_behave_as_in_snntorch_under_every_reset(neuron, reset, delay):
    """Non-finite inputs give snnTorch's numbers in every state, reset included (a zero reset of
    an infinite membrane is NaN, as snnTorch's arithmetic makes it), and both backends give the
    same outputs and gradients."""
    x = torch.randn(8, 2, 5, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.5
    x[2, 0, 1], x[3, 1, 2], x[5, 0, 4] = float("inf"), float("-inf"), float("nan")
    kw = {"reset_delay": delay} if CATALOGUE[neuron].reset_delay else {}
    lif, states, seqs = _snntorch(neuron, reset, delay), None, []
    for x_t in x:
        spk, *states = lif(x_t) if states is None else lif(x_t, *states)
        seqs.append((spk, *states))
    expected = [torch.stack(s) for s in zip(*seqs)]
    results = []
    previous = tritonsnn.get_backend()
    try:
        for name in ("triton", "torch"):
            tritonsnn.set_backend(name)
            xs = x.to(DEVICE).requires_grad_()
            outs = _call(neuron, xs, reset_mechanism=reset, **kw)
            for got, want in zip(outs, expected):
                torch.testing.assert_close(got.detach().cpu(), want, equal_nan=True)
            (grad,) = torch.autograd.grad(sum(o.sum() for o in outs), xs)
            results.append([o.detach().cpu() for o in outs] + [grad.cpu()])
    finally:
        tritonsnn.set_backend(previous)
    for kernels, torch_path in zip(*results):
        torch.testing.assert_close(kernels, torch_path, equal_nan=True)


@pytest.mark.parametrize("neuron", list(CATALOGUE))
def test_empty_neuron_shape(backend, neuron):
    x = torch.zeros(5, 3, 0, device=DEVICE, requires_grad=True)
    outs = _call(neuron, x)
    assert all(o.shape == x.shape for o in outs)
    sum(o.sum() for o in outs).backward()
    assert x.grad.shape == x.shape


def test_very_long_sequence_on_the_cpu_path():
    """T = 10,000 steps: the torch path against the naive reference, spikes exact and gradients
    close (float64, so the comparison is not drowned in rounding)."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("torch")
    try:
        x = draw_leaky_inputs(10_000, (3,), 0.95, 1.0, margin=1e-6, scale=0.3, seed=2).requires_grad_()
        spk, mem = F.leaky(x, 0.95)
        spk_r, mem_r = reference.leaky(x, 0.95)
        assert torch.equal(spk, spk_r)
        assert_close(mem, mem_r, 1e-9, "mem")
        g = torch.autograd.grad((spk + mem).sum(), x)[0]
        g_r = torch.autograd.grad((spk_r + mem_r).sum(), x)[0]
        assert_close(g, g_r, 1e-9, "dx")
    finally:
        tritonsnn.set_backend(previous)


@pytest.mark.parametrize("neuron", list(CATALOGUE))
def test_channels_last_and_strided_layouts(backend, neuron):
    """A conv's channels_last output reshaped to [T, B, C, H, W], a transposed and a sliced
    input give the results of the same values laid out contiguously."""
    conv_out = torch.randn(4 * 2, 3, 5, 5, device=DEVICE).to(memory_format=torch.channels_last)
    layouts = [conv_out.reshape(4, 2, 3, 5, 5),
               torch.randn(6, 4, 3, device=DEVICE).transpose(1, 2),
               torch.randn(12, 3, 8, device=DEVICE)[::2, :, 1::2]]
    for x in layouts:
        assert not x.is_contiguous()
        for got, want in zip(_call(neuron, x), _call(neuron, x.contiguous())):
            assert torch.equal(got, want)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("neuron", list(CATALOGUE))
def test_no_grad_and_inference_mode_save_nothing(backend, neuron, mode):
    saved = []
    x = torch.randn(4, 3, device=DEVICE, requires_grad=True)
    with mode(), torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        outs = _call(neuron, x)
    assert saved == [] and all(not o.requires_grad for o in outs)


def test_autocast_cpu_bf16_gives_the_documented_dtypes():
    """Under autocast the neuron takes the preceding layer's output dtype (bf16 here): spikes and
    states in bf16, math in fp32, and the parameters' gradients in their own dtype."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("torch")  # the Triton interpreter gets bf16 wrong
    try:
        fc = torch.nn.Linear(6, 4)
        lif = tritonsnn.Leaky(beta=0.9, learn_beta=True, step_mode="multi")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            spk, mem = lif(fc(torch.randn(5, 2, 6)))
        assert spk.dtype == mem.dtype == torch.bfloat16
        (spk.float().sum() + mem.float().sum()).backward()
        assert fc.weight.grad.dtype == torch.float32 and lif.beta.grad.dtype == torch.float32
    finally:
        tritonsnn.set_backend(previous)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_cuda(dtype):
    fc = torch.nn.Linear(6, 4).cuda()
    lif = tritonsnn.Synaptic(alpha=0.8, beta=0.9, learn_beta=True, step_mode="multi").cuda()
    with torch.autocast("cuda", dtype=dtype):
        spk, syn, mem = lif(fc(torch.randn(5, 2, 6, device="cuda")))
    assert spk.dtype == syn.dtype == mem.dtype == dtype
    mem.float().sum().backward()
    assert lif.beta.grad.dtype == torch.float32


@pytest.mark.parametrize("neuron", list(CATALOGUE))
def test_double_backward_is_a_clear_error(backend, neuron):
    x = torch.randn(5, 3, device=DEVICE, requires_grad=True)
    spk, *states = _call(neuron, x)
    (g,) = torch.autograd.grad(spk.sum() + states[-1].sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward .* not supported"):
        g.sum().backward()


def test_mixed_devices_and_dtypes_name_both(backend):
    x = torch.randn(4, 3, device=DEVICE)
    with pytest.raises(ValueError, match=f"threshold is on meta but the input is on {DEVICE.type}"):
        F.leaky(x, 0.9, threshold=torch.tensor(1.0, device="meta"))
    # Per-neuron float64 parameters (a 0-d one computes in the input's precision, as in PyTorch).
    with pytest.raises(TypeError, match=r"beta is a float64 tensor of shape \(3,\) but the input is torch.float32"):
        F.leaky(x, torch.full((3,), 0.9, dtype=torch.float64, device=DEVICE))
    with pytest.raises(TypeError, match=r"alpha is a float64 tensor of shape \(3,\) but the input is torch.float16"):
        F.synaptic(x.half(), torch.full((3,), 0.8, dtype=torch.float64, device=DEVICE), 0.9)


# --- determinism and exactness ----------------------------------------------------------------------

@pytest.mark.parametrize("neuron", list(CATALOGUE))
def test_bitwise_reproducible(backend, neuron):
    def run():
        torch.manual_seed(0)
        x = (torch.randn(7, 3, 9, device=DEVICE) * 0.6 + 0.3).requires_grad_()
        beta = torch.full((9,), 0.85, device=DEVICE, requires_grad=True)
        thr = torch.tensor(0.5, device=DEVICE, requires_grad=True)
        outs = CATALOGUE[neuron].call(F, x, beta=beta, threshold=thr)
        loss = sum((o * torch.randn_like(o)).sum() for o in outs)
        return [o.detach() for o in outs] + list(torch.autograd.grad(loss, (x, beta, thr)))

    first, second = run(), run()
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def _gradcheck_inputs(neuron):
    """fp64 inputs with every membrane clear of the threshold, so that no finite-difference step
    flips a spike: the function is then smooth where gradcheck probes it."""
    x = draw_leaky_inputs(6, (2, 3), 0.8, 0.6, margin=1e-3, scale=0.4, seed=5)
    return {"leaky": (x,), "synaptic": (x * 0.5,), "lapicque": (x * 0.2,), "alpha": (x * 0.3,)}[neuron]


@pytest.mark.parametrize("neuron,delay", [("leaky", True), ("leaky", False), ("synaptic", True),
                                          ("synaptic", False), ("lapicque", True), ("alpha", True)])
def test_gradcheck_float64(backend, neuron, delay):
    """torch.autograd.gradcheck over inputs, initial states and parameters. With the surrogate
    disabled the spikes' true derivative (zero away from the threshold) is what the fused
    backward must return, so every gradient path is checked exactly; the surrogates themselves
    are tied to their definitions in test_surrogate.py."""
    (x,) = _gradcheck_inputs(neuron)
    gen = torch.Generator().manual_seed(0)
    state = (torch.rand(2, 3, generator=gen, dtype=torch.float64) * 0.2).to(DEVICE)
    beta = torch.tensor([0.8, 0.7, 0.9], dtype=torch.float64, device=DEVICE)
    thr = torch.tensor(0.6, dtype=torch.float64, device=DEVICE)
    off = surrogate.DISABLED
    delay_kw = {} if neuron in ("lapicque", "alpha") else {"reset_delay": delay}

    def fn(x, state, beta, thr):
        if neuron == "leaky":
            return F.leaky(x, beta, mem=state, threshold=thr, spike_grad=off, **delay_kw)
        if neuron == "synaptic":
            return F.synaptic(x, 0.6, beta, syn=state, mem=state * 0.5, threshold=thr, spike_grad=off, **delay_kw)
        if neuron == "lapicque":
            return F.lapicque(x, beta=beta, mem=state, threshold=thr, spike_grad=off)
        return F.alpha(x, 0.95, beta, syn_exc=state, syn_inh=-state, threshold=thr, spike_grad=off)

    inputs = [t.to(DEVICE).requires_grad_() for t in (x, state, beta, thr)]
    # The interpreter runs each of the ~50 finite-difference forwards slowly: there gradcheck
    # checks random projections of the Jacobian (fast_mode) instead of every entry.
    fast = backend == "triton" and DEVICE.type != "cuda"
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, fast_mode=fast)


# --- property tests against the naive reference --------------------------------------------------

SURROGATES = [surrogate.atan(), surrogate.fast_sigmoid(slope=7.0), surrogate.sigmoid(slope=3.0),
              surrogate.triangular(), surrogate.straight_through_estimator(), surrogate.SFS(slope=5.0, B=0.2),
              surrogate.piecewise_exp(), surrogate.erf()]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(T=st.integers(1, 7), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       beta=st.floats(0.0, 1.0), threshold=st.floats(0.2, 1.5), mechanism=st.sampled_from(["subtract", "zero", "none"]),
       delay=st.booleans(), sg=st.sampled_from(SURROGATES), synaptic=st.booleans(), padded=st.booleans(),
       seed=st.integers(0, 2**16))
def test_property_matches_the_reference(backend, T, shape, beta, threshold, mechanism, delay, sg, synaptic, padded,
                                        seed):
    shape = tuple(shape)
    alpha = 0.7 if synaptic else None
    x = draw_leaky_inputs(T, shape, beta, threshold, margin=1e-4, reset_mechanism=mechanism, reset_delay=delay,
                          seed=seed, alpha=alpha).float()
    # A padded batch: per-sample lengths over dim 1 (x: [T, B, ...]), any of them 0 to T.
    lengths = (torch.randint(0, T + 1, shape[:1], generator=torch.Generator().manual_seed(seed)).to(DEVICE)
               if padded else None)
    args = dict(threshold=threshold, spike_grad=sg, reset_mechanism=mechanism, reset_delay=delay, lengths=lengths)
    results = []
    for impl in (F, reference):
        xs = x.to(DEVICE).requires_grad_()
        b = torch.tensor(beta, device=DEVICE, requires_grad=True)
        if synaptic:
            spk, _, mem = impl.synaptic(xs, alpha, b, **args)
        else:
            spk, mem = impl.leaky(xs, b, **args)
        gen = torch.Generator().manual_seed(seed)
        g_spk, g_mem = (torch.randn(spk.shape, generator=gen).to(DEVICE) for _ in range(2))
        grads = torch.autograd.grad((spk * g_spk).sum() + (mem * g_mem).sum(), (xs, b))
        results.append([spk.detach(), mem.detach(), *grads])
    fused, naive = results
    assert torch.equal(fused[0], naive[0])
    for got, want, name in zip(fused[1:], naive[1:], ("mem", "dx", "dbeta")):
        assert_close(got, want, 1e-4, name)
