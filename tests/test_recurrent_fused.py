"""The recurrent family's fused kernels (`kernels/rlif/kernels.py`: the Linear term's product, or
the one-to-one term, inside the time loop) against the torch path's Function in fp64, at layers
that span several feature tiles and row blocks with ragged ends: spikes equal; states, the final
states and every gradient (x, W, bias or V, the initial spikes, current and membrane, alpha,
beta, threshold, graded spikes factor) within 1e-5 relative; every reset, RLeaky and RSynaptic,
per-sample lengths, extra dimensions between the batch and the features. Parity with snnTorch itself, through the
modules, is tests/test_recurrent.py's (its Linear cases take this path on the triton backend)."""
import pytest
import torch

import tritonsnn
from tritonsnn.kernels.codes import RESET_NONE, RESET_SUBTRACT, RESET_ZERO
from tritonsnn.kernels.rlif import fused, torch_path
from tritonsnn.surrogate import atan, fast_sigmoid
from conftest import DEVICE
from helpers import assert_close, count_applies

REL = 1e-5
RESETS = {"subtract": RESET_SUBTRACT, "zero": RESET_ZERO, "none": RESET_NONE}


def _problem(synaptic, shape, per_neuron, seed, term):
    """(x, spk0, syn0, mem0, W, bias, V, alpha, decay, threshold, gsf) in fp64 for steps `shape`:
    W and bias for the Linear `term`, V (per neuron, or a 0-d one with `per_neuron` None) for
    the one-to-one one."""
    gen = torch.Generator().manual_seed(seed)
    features = shape[-1]

    def randn(*size, scale=1.0):
        return torch.randn(size, generator=gen, dtype=torch.float64) * scale

    params = (shape if per_neuron else ()) if per_neuron != "features" else (features,)
    x = randn(7, *shape, scale=0.8) + 0.2
    spk0 = (torch.rand(shape, generator=gen, dtype=torch.float64) > 0.6).double()
    alpha = (torch.rand(params, generator=gen, dtype=torch.float64) * 0.9 if params else torch.tensor(0.7,
             dtype=torch.float64)) if synaptic else None
    decay = torch.rand(params, generator=gen, dtype=torch.float64) if params else torch.tensor(0.8, dtype=torch.float64)
    threshold = 0.8 + torch.rand(params, generator=gen, dtype=torch.float64) if params else torch.tensor(
        0.9, dtype=torch.float64)
    gsf = 0.5 + torch.rand(params, generator=gen, dtype=torch.float64) if params else torch.tensor(
        1.0, dtype=torch.float64)
    linear = term == "linear"
    V = None if linear else randn(*params, scale=0.5) if params else torch.tensor(0.6, dtype=torch.float64)
    return (x, spk0, randn(*shape) if synaptic else None, randn(*shape),
            randn(features, features, scale=0.4) if linear else None, randn(features, scale=0.2) if linear else None,
            V, alpha, decay, threshold, gsf)


def _run(function, leaves, reset, surrogate, lengths, dtype):
    """Outputs and the gradients of every leaf of a loss on every output (spikes, membrane, and
    RSynaptic's current), each weighted differently per step and feature."""
    leaves = [None if t is None else t.to(device=DEVICE, dtype=dtype).requires_grad_() for t in leaves]
    outputs = function(*leaves, reset, surrogate, lengths)
    x = leaves[0]
    w = torch.linspace(-1.0, 1.0, x[0].numel(), dtype=dtype, device=DEVICE).reshape(x.shape[1:])
    loss = sum((out * w * (i + 1)).sum() + 0.1 * (out ** 2).sum() for i, out in enumerate(outputs)
               if out is not None)
    given = [t for t in leaves if t is not None]
    return outputs, torch.autograd.grad(loss, given)


def _compare(synaptic, reset, term="linear", shape=(19, 40), per_neuron=None, lengths=None, surrogate=None, seed=0):
    leaves = _problem(synaptic, shape, per_neuron, seed, term)
    surrogate = surrogate or atan()
    previous = tritonsnn.get_backend()
    try:
        tritonsnn.set_backend("torch")
        expected, expected_grads = _run(torch_path.run, leaves, RESETS[reset], surrogate, lengths, torch.float64)
        tritonsnn.set_backend("triton")
        got, got_grads = _run(fused.run, leaves, RESETS[reset], surrogate, lengths, torch.float32)
    finally:
        tritonsnn.set_backend(previous)
    spk, *states = got
    assert torch.equal(spk, expected[0].to(spk.dtype))
    for a, b, what in zip(states, expected[1:], ("syn", "mem")):
        if b is not None:
            assert_close(a, b, REL, what)
    names = [n for n, t in zip(("x", "spk0", "syn0", "mem0", "W", "bias", "V", "alpha", "decay", "threshold", "gsf"),
                               leaves) if t is not None]
    for a, b, name in zip(got_grads, expected_grads, names):
        assert_close(a, b, REL, f"d{name}")


TERMS = ["linear", "one-to-one"]


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize("reset", list(RESETS))
@pytest.mark.parametrize("synaptic", [False, True], ids=["rleaky", "rsynaptic"])
def test_fused_sequences_match_the_torch_path(synaptic, reset, term):
    _compare(synaptic, reset, term)


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize("per_neuron", ["features", "all"])
@pytest.mark.parametrize("synaptic", [False, True], ids=["rleaky", "rsynaptic"])
def test_per_neuron_parameters_and_graded_spikes(synaptic, per_neuron, term):
    _compare(synaptic, "subtract", term, per_neuron=per_neuron if per_neuron == "features" else True,
             surrogate=fast_sigmoid(slope=10.0), seed=1)


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize("synaptic", [False, True], ids=["rleaky", "rsynaptic"])
def test_lengths_and_rows_between_batch_and_features(synaptic, term):
    """Per-sample lengths (one of 0, one full) over [T, B, 2, F]: each sample's two rows end
    together."""
    lengths = torch.tensor([7, 3, 0, 5, 1, 6, 2, 7, 4, 7])
    _compare(synaptic, "zero", term, shape=(10, 2, 24), lengths=lengths.to(DEVICE), seed=2)


@pytest.mark.parametrize("term", [dict(linear_features=20), dict(all_to_all=False, V=torch.linspace(0.1, 1, 20))],
                         ids=TERMS)
@pytest.mark.parametrize("cls", [tritonsnn.RLeaky, tritonsnn.RSynaptic])
def test_initial_states_that_broadcast_to_the_step(cls, term):
    """Initial states shaped `[F]` or `[1, F]` for a `[T, B, F]` input, as the modules accept
    them: each is expanded over the batch, as the torch path broadcasts it (outputs and the
    states' gradients, summed back to their shapes)."""
    decays = dict(alpha=0.8, beta=0.9) if cls is tritonsnn.RSynaptic else dict(beta=0.9)
    module = cls(**decays, **term, step_mode="multi").to(DEVICE)
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(6, 3, 20, generator=gen).to(DEVICE)
    starts = [torch.ones(20), torch.rand(1, 20, generator=gen), torch.rand(20, generator=gen)]
    starts = starts[:len(module.state_names)]
    results = []
    previous = tritonsnn.get_backend()
    try:
        for backend in ("triton", "torch"):
            tritonsnn.set_backend(backend)
            given = [s.to(DEVICE).requires_grad_() for s in starts]
            outputs = module(x, *given)
            (outputs[0].sum() + outputs[-1].square().sum()).backward()
            results.append([*outputs, *(s.grad for s in given)])
    finally:
        tritonsnn.set_backend(previous)
    fused, torch_path_ = results
    assert torch.equal(fused[0], torch_path_[0])
    for a, b in zip(fused[1:], torch_path_[1:]):
        assert a.shape == b.shape
        assert_close(a, b, REL)


def test_a_whole_linear_sequence_is_one_fused_function(monkeypatch):
    """RLeaky / RSynaptic modules with a Linear or one-to-one term over a whole sequence on the
    triton backend: one fused Function, not a step at a time; a single step, reset_delay=False and
    a Conv2d term do not take it."""
    calls = count_applies(monkeypatch, fused.Eager)
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("triton")
    try:
        linear, one_to_one, conv = (dict(linear_features=4), dict(all_to_all=False, V=0.5),
                                    dict(conv2d_channels=4, kernel_size=1))
        for cls, term, T, reset_delay, expected in (
                (tritonsnn.RLeaky, linear, 4, True, 1), (tritonsnn.RSynaptic, linear, 4, True, 1),
                (tritonsnn.RLeaky, one_to_one, 4, True, 1), (tritonsnn.RSynaptic, one_to_one, 4, True, 1),
                (tritonsnn.RLeaky, linear, 1, True, 0), (tritonsnn.RLeaky, linear, 4, False, 0),
                (tritonsnn.RLeaky, conv, 4, True, 0)):
            decays = dict(alpha=0.7, beta=0.8) if cls is tritonsnn.RSynaptic else dict(beta=0.8)
            module = cls(**decays, **term, step_mode="multi", reset_delay=reset_delay).to(DEVICE)
            calls.clear()
            module(torch.rand(T, 3, 4, 1, 1, device=DEVICE) if term is conv else torch.rand(T, 3, 4, device=DEVICE))
            assert len(calls) == expected, (cls, term, T, reset_delay)
    finally:
        tritonsnn.set_backend(previous)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="needs a CUDA device (the interpreter cannot trace fake tensors)")
@pytest.mark.parametrize("cls", [tritonsnn.RLeaky, tritonsnn.RSynaptic])
def test_compiled_sequences_give_the_eager_numbers(cls):
    """torch.compile(fullgraph=True) of a multi-step recurrent layer traces the `rlif_fwd` op
    (the kernels through `wrap_triton`) and its backward: eager's spikes, states and gradients."""
    decays = dict(alpha=0.7, beta=0.8) if cls is tritonsnn.RSynaptic else dict(beta=0.8)
    torch.manual_seed(0)
    module = cls(**decays, linear_features=48, step_mode="multi", learn_beta=True).to(DEVICE)
    x = (torch.randn(9, 20, 48, device=DEVICE) * 0.6 + 0.3).requires_grad_()

    def loss(m):
        outputs = m(x)
        return sum((out * (i + 1)).sum() for i, out in enumerate(outputs)), outputs

    results = []
    for fn in (loss, torch.compile(loss, fullgraph=True)):
        module.zero_grad()
        x.grad = None
        total, outputs = fn(module)
        total.backward()
        results.append([o.detach() for o in outputs] + [x.grad.clone()] + [p.grad.clone() for p in module.parameters()])
    eager, compiled = results
    assert torch.equal(eager[0], compiled[0])
    for a, b in zip(compiled[1:], eager[1:]):
        assert_close(a, b, REL)
