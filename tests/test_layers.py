"""BatchNormTT1d, BatchNormTT2d and GradedSpikes against snnTorch 1.0.0 on the same seed: constructor
signatures and defaults, returned types, state_dict keys and shapes (checkpoints load both ways,
strict), forward outputs in train and eval mode, running statistics after training steps, gradients
of inputs and parameters (all bit-equal on CPU), the errors tritonsnn adds, and the docstring examples."""
from __future__ import annotations

import copy
import doctest
import importlib
import inspect
import pickle

import numpy as np
import pytest
import snntorch
import torch
from torch import nn

from conftest import DEVICE

bntt = importlib.import_module("tritonsnn.bntt")
graded_spikes = importlib.import_module("tritonsnn.graded_spikes")

# Same torch ops on both sides: bit-equal on CPU; on a GPU allow for nondeterministic reductions.
EXACT = {"rtol": 0.0, "atol": 0.0} if DEVICE.type == "cpu" else {}

BNTT = [(bntt.BatchNormTT1d, snntorch.BatchNormTT1d, nn.BatchNorm1d),
        (bntt.BatchNormTT2d, snntorch.BatchNormTT2d, nn.BatchNorm2d)]
BNTT_IDS = ["1d", "2d"]
# Per-step input shapes [batch, features, ...] each layer takes.
STEP_SHAPES = {nn.BatchNorm1d: [(6, 4), (5, 4, 7)], nn.BatchNorm2d: [(3, 4, 5, 6)]}
OPTIONS = [{}, {"eps": 1e-3, "momentum": 0.3}, {"momentum": None}, {"affine": False}]


def _close(actual, expected, what=""):
    torch.testing.assert_close(actual, expected, **EXACT, msg=lambda m: f"{what}: {m}")


def _signature(fn):
    return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]


# ---------------------------------------------------------------------------------------------
# BatchNormTT1d / BatchNormTT2d


@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_signature_matches_snntorch(ours, theirs, norm):
    assert _signature(ours) == _signature(theirs)
    assert [name for name, *_ in _signature(ours)] == ["input_features", "time_steps", "eps", "momentum", "affine"]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_structure_matches_snntorch(ours, theirs, norm, options):
    mine, ref = ours(4, 3, **options), theirs(4, 3, **options)
    assert type(mine) is type(ref) is nn.ModuleList and len(mine) == len(ref) == 3
    for a, b in zip(mine, ref):
        assert type(a) is type(b) is norm
        for attr in ("num_features", "eps", "momentum", "affine", "track_running_stats", "training"):
            assert getattr(a, attr) == getattr(b, attr), attr
        assert a.bias is None and b.bias is None
        assert "bias" in a._parameters and a._parameters["bias"] is None  # unregistered as snnTorch leaves it
        assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
        if a.affine:
            assert a.weight.requires_grad and torch.equal(a.weight, b.weight)
        else:
            assert a.weight is None and b.weight is None
    assert repr(mine) == repr(ref)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_state_dict_matches_and_loads_both_ways(ours, theirs, norm, options):
    mine, ref = ours(5, 4, **options), theirs(5, 4, **options)
    sd_mine, sd_ref = mine.state_dict(), ref.state_dict()
    assert list(sd_mine) == list(sd_ref)
    assert {k: (v.shape, v.dtype) for k, v in sd_mine.items()} == {k: (v.shape, v.dtype) for k, v in sd_ref.items()}
    assert not any(k.endswith("bias") for k in sd_mine)
    # Alter every entry, so that loading is seen to copy them.
    for module in ref:
        module.running_mean.uniform_()
        module.running_var.uniform_(0.5, 2)
        module.num_batches_tracked.fill_(7)
        if module.weight is not None:
            nn.init.uniform_(module.weight)
    mine.load_state_dict(ref.state_dict(), strict=True)
    for key, value in ref.state_dict().items():
        _close(mine.state_dict()[key], value, key)
    theirs(5, 4, **options).load_state_dict(mine.state_dict(), strict=True)
    # A bias in the checkpoint (e.g. from plain BatchNorm layers) is refused by both under strict loading.
    with_bias = {**mine.state_dict(), "0.bias": torch.zeros(5)}
    for target in (ours(5, 4, **options), theirs(5, 4, **options)):
        with pytest.raises(RuntimeError, match="bias"):
            target.load_state_dict(with_bias, strict=True)


def _bntt_run(factory, x, grads, options, steps=3):
    """Train for `steps` rounds (SGD on the scales), each round every time step through its own
    layer; then one more training forward for the gradients and an eval forward. Returns every
    output, gradient and buffer."""
    torch.manual_seed(1)
    layers = factory(x.shape[2], x.shape[0], **options).to(DEVICE)
    params = list(layers.parameters())
    optimizer = torch.optim.SGD(params, lr=0.5) if params else None
    trace = []
    for _ in range(steps):
        out = torch.stack([layers[t](x_t) for t, x_t in enumerate(x)])
        trace.append(out.detach())
        if optimizer:
            optimizer.zero_grad()
            (out * grads).sum().backward()
            optimizer.step()
    if optimizer:
        optimizer.zero_grad()
    xg = x.clone().requires_grad_()
    out = torch.stack([layers[t](x_t) for t, x_t in enumerate(xg)])
    (out * grads).sum().backward()
    trace += [out.detach(), xg.grad] + [p.grad for p in params]
    layers.eval()
    with torch.no_grad():
        trace.append(torch.stack([layers[t](x_t) for t, x_t in enumerate(x)]))
    trace += [b for _, b in layers.named_buffers()]
    return trace


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_train_eval_and_gradients_match_snntorch(ours, theirs, norm, options):
    T = 4
    for shape in STEP_SHAPES[norm]:
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn((T, *shape), generator=gen) * 2 + torch.arange(T).view(T, *[1] * len(shape))).to(DEVICE)
        grads = torch.randn(x.shape, generator=gen).to(DEVICE)
        mine, ref = _bntt_run(ours, x, grads, options), _bntt_run(theirs, x, grads, options)
        assert len(mine) == len(ref)
        for i, (a, b) in enumerate(zip(mine, ref)):
            _close(a, b, f"{shape} entry {i}")
        assert all(torch.isfinite(t.float()).all() for t in mine)


@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_each_step_keeps_its_own_statistics(ours, theirs, norm):
    layers = ours(2, 3)
    shape = STEP_SHAPES[norm][0][:1] + (2,) + STEP_SHAPES[norm][0][2:]
    for t in range(3):
        layers[t](torch.randn(shape) + 10 * t)
    means = torch.stack([m.running_mean for m in layers])
    assert (means[1] > means[0]).all() and (means[2] > means[1]).all()
    assert [int(m.num_batches_tracked) for m in layers] == [1, 1, 1]


@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_is_plain_torch(ours, theirs, norm):
    """Pickles, copies and slices are torch's own: a saved model needs no tritonsnn to load."""
    layers = ours(3, 2)
    assert b"tritonsnn" not in pickle.dumps(layers)
    assert type(copy.deepcopy(layers)) is nn.ModuleList and type(layers[:1]) is nn.ModuleList


@pytest.mark.parametrize("value", [3, np.int64(3), torch.tensor(3)], ids=["int", "numpy", "tensor"])
def test_bntt_accepts_integer_likes(value):
    for ours, theirs, norm in BNTT:
        layers = ours(value, value)
        assert len(layers) == 3 and all(type(m.num_features) is int and m.num_features == 3 for m in layers)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"time_steps": 0}, ValueError, "time_steps must be a positive integer, got 0"),
    ({"time_steps": -2}, ValueError, "time_steps must be a positive integer, got -2"),
    ({"time_steps": 2.0}, TypeError, "time_steps must be a positive integer, got 2.0"),
    ({"time_steps": True}, TypeError, "time_steps must be a positive integer, got the bool True"),
    ({"time_steps": "3"}, TypeError, "time_steps must be a positive integer"),
    ({"input_features": 0}, ValueError, "input_features must be a positive integer, got 0"),
    ({"input_features": -1}, ValueError, "input_features must be a positive integer, got -1"),
    ({"input_features": 4.5}, TypeError, "input_features must be a positive integer, got 4.5"),
    ({"input_features": None}, TypeError, "input_features must be a positive integer"),
])
@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_errors(ours, theirs, norm, kwargs, error, message):
    with pytest.raises(error, match=message):
        ours(**{"input_features": 4, "time_steps": 3, **kwargs})


@pytest.mark.parametrize("ours, theirs, norm", BNTT, ids=BNTT_IDS)
def test_bntt_snntorch_silently_misbehaves_where_we_raise(ours, theirs, norm):
    """The cases above that snnTorch accepts build an empty (or featureless) layer list."""
    assert len(theirs(4, 0)) == 0 and len(theirs(4, -2)) == 0
    assert theirs(0, 2)[0].num_features == 0


# ---------------------------------------------------------------------------------------------
# GradedSpikes

GS = graded_spikes.GradedSpikes


def test_graded_spikes_signature_matches_snntorch():
    assert _signature(GS.__init__) == _signature(snntorch.GradedSpikes.__init__)
    assert _signature(GS.forward) == _signature(snntorch.GradedSpikes.forward)
    assert issubclass(GS, nn.Module)


@pytest.mark.parametrize("factor", [None, 0, 0.0, False, 1.0, 2.0, 3, -0.5, torch.tensor(1.5), torch.tensor([2.5])],
                         ids=repr)
@pytest.mark.parametrize("size", [1, 5])
def test_graded_spikes_init_matches_snntorch_on_the_same_seed(size, factor):
    torch.manual_seed(123)
    mine = GS(size=size, constant_factor=factor)
    after_mine = torch.rand(3)  # the same number of draws from the global generator
    torch.manual_seed(123)
    ref = snntorch.GradedSpikes(size=size, constant_factor=factor)
    after_ref = torch.rand(3)
    torch.testing.assert_close(after_mine, after_ref, rtol=0, atol=0)
    assert mine.size == ref.size == size
    assert isinstance(mine.weights, nn.Parameter) and mine.weights.requires_grad
    assert mine.weights.shape == ref.weights.shape == (size, 1) and mine.weights.dtype == ref.weights.dtype
    torch.testing.assert_close(mine.weights, ref.weights, rtol=0, atol=0)
    if not factor:
        assert ((mine.weights >= 0.5) & (mine.weights < 1.5)).all()


def test_graded_spikes_follows_the_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for factor in (None, 2.0):
            torch.manual_seed(0)
            mine = GS(4, factor)
            torch.manual_seed(0)
            ref = snntorch.GradedSpikes(4, factor)
            assert mine.weights.dtype == ref.weights.dtype == torch.float64
            torch.testing.assert_close(mine.weights, ref.weights, rtol=0, atol=0)
    finally:
        torch.set_default_dtype(previous)


def test_graded_spikes_state_dict_matches_and_loads_both_ways():
    torch.manual_seed(0)
    mine, ref = GS(6, None), snntorch.GradedSpikes(6, None)
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()} \
        == {"weights": (6, 1)}
    mine.load_state_dict(ref.state_dict(), strict=True)
    torch.testing.assert_close(mine.weights, ref.weights, rtol=0, atol=0)
    fresh = snntorch.GradedSpikes(6, 1.0)
    fresh.load_state_dict(GS(6, 3.0).state_dict(), strict=True)
    assert (fresh.weights == 3.0).all()
    # As modules inside a network, under the same names.
    net_mine, net_ref = nn.Sequential(nn.Linear(3, 6), GS(6, 2.0)), nn.Sequential(nn.Linear(3, 6),
                                                                                  snntorch.GradedSpikes(6, 2.0))
    assert list(net_mine.state_dict()) == list(net_ref.state_dict()) == ["0.weight", "0.bias", "1.weights"]
    net_ref.load_state_dict(net_mine.state_dict(), strict=True)


@pytest.mark.parametrize("shape", [(4, 1), (4, 7), (2, 4, 7), (3, 2, 4, 1), (4, 4)], ids=str)
@pytest.mark.parametrize("factor", [None, 2.0])
def test_graded_spikes_forward_and_gradients_match_snntorch(shape, factor):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(shape, generator=gen) > 0.5).float()
    x[..., :1] = 0.3  # graded and binary entries alike
    grad = torch.randn(shape, generator=gen)
    results = []
    for cls in (GS, snntorch.GradedSpikes):
        torch.manual_seed(5)
        layer = cls(4, factor).to(DEVICE)
        for mode in (layer.train, layer.eval):  # no mode-dependent behaviour on either side
            mode()
            xg = x.to(DEVICE).clone().requires_grad_()
            out = layer(xg)
            (out * grad.to(DEVICE)).sum().backward()
            results.append([out.detach(), xg.grad, layer.weights.grad.clone()])
            layer.weights.grad = None
    for a, b in zip(results[:2], results[2:]):
        for name, u, v in zip(["out", "dx", "dweights"], a, b):
            _close(u, v, name)
    out, dx, dw = results[0]
    torch.manual_seed(5)
    w, x, grad = GS(4, factor).weights.detach().to(DEVICE), x.to(DEVICE), grad.to(DEVICE)
    _close(out, x * w, "out = x * weights")
    _close(dx, (grad * w).expand_as(dx), "dx = g * weights")
    torch.testing.assert_close(dw, (grad * x).sum_to_size(4, 1), msg="dweights = sum of g * x per neuron")


def test_graded_spikes_training_matches_snntorch():
    """snnTorch's own learning check, step by step: AdamW on an MSE loss, same seed, same weights."""
    x, target = torch.tensor([0.0, 1.0, 2.0]).unsqueeze(-1), torch.tensor([0.1, 1.1, 2.1]).unsqueeze(-1)
    trajectories = []
    for cls in (GS, snntorch.GradedSpikes):
        torch.manual_seed(0)
        layer = cls(size=3, constant_factor=None)
        optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-2, weight_decay=0.01)
        losses = []
        for _ in range(20):
            loss = nn.functional.mse_loss(layer(x), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        trajectories.append((torch.stack(losses), layer.weights.detach()))
    for a, b in zip(*trajectories):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert trajectories[0][0][-1] < trajectories[0][0][0]


@pytest.mark.parametrize("size, error, message", [
    (0, ValueError, "size must be a positive integer, got 0"),
    (-3, ValueError, "size must be a positive integer, got -3"),
    (2.5, TypeError, "size must be a positive integer, got 2.5"),
    (True, TypeError, "size must be a positive integer, got the bool True"),
    (None, TypeError, "size must be a positive integer"),
])
def test_graded_spikes_size_errors(size, error, message):
    for factor in (None, 1.0):
        with pytest.raises(error, match=message):
            GS(size, factor)


def test_graded_spikes_factor_errors():
    with pytest.raises(ValueError, match=r"constant_factor must be a number or a one-element tensor, .*\(2, 1\)"):
        GS(2, torch.ones(2, 1))
    with pytest.raises(RuntimeError):  # snnTorch: "Boolean value of Tensor with more than one value is ambiguous"
        snntorch.GradedSpikes(2, torch.ones(2, 1))


def test_graded_spikes_snntorch_silently_misbehaves_where_we_raise():
    assert snntorch.GradedSpikes(0, None).weights.shape == (0, 1)
    assert GS(np.int64(3), 1.0).size == 3


# ---------------------------------------------------------------------------------------------
# Docstring examples (tests/test_docs.py lists its modules by hand)


@pytest.mark.parametrize("module", [bntt, graded_spikes], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    tests = doctest.DocTestFinder().find(module)
    assert sum(len(t.examples) for t in tests) > 3
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
