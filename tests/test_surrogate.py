"""The surrogate registry: each gradient's Triton function, its torch twin and snnTorch 1.0.0's
backward agree; factories, classes and the seed document's old API behave as in snnTorch."""
import inspect
import math

import pytest
import snntorch
import snntorch.surrogate as snn_sg
import torch
import triton

import tritonsnn
from tritonsnn import surrogate
from tritonsnn.kernels import SURROGATE_IDS, surrogate_grad_kernel
from conftest import DEVICE
from helpers import snntorch_surrogate

FACTORIES = {
    "ATan": ("atan", {"alpha": 2.0}),
    "FastSigmoid": ("fast_sigmoid", {"slope": 25.0}),
    "Sigmoid": ("sigmoid", {"slope": 25.0}),
    "Heaviside": ("heaviside", {}),
    "StraightThroughEstimator": ("straight_through_estimator", {}),
    "Triangular": ("triangular", {"threshold": 1.0}),
}

# Points where piecewise surrogates switch, plus a spread of ordinary values.
BOUNDARIES = torch.tensor([0.0, -0.0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 3.0, -3.0, 40.0, -40.0])


def triton_grad(sg, x):
    """dS/dx through the @triton.jit function the fused kernels inline."""
    x = x.to(DEVICE).contiguous()
    out = torch.empty_like(x)
    kernel_id, p0, p1 = sg.kernel_args()
    surrogate_grad_kernel[(triton.cdiv(x.numel(), 64),)](x, out, x.numel(), p0, p1, SURROGATE=kernel_id, BLOCK=64)
    return out.cpu()


def snntorch_grad(sg, x, g):
    xs = x.clone().requires_grad_()
    snntorch_surrogate(sg)(xs).backward(g)
    return xs.grad


def test_registry_lists_the_snntorch_names():
    assert surrogate.registered() == list(FACTORIES)
    for name in FACTORIES:
        assert name in SURROGATE_IDS


@pytest.mark.parametrize("name", list(FACTORIES))
def test_factories_have_snntorch_names_and_defaults(name):
    factory_name, defaults = FACTORIES[name]
    sg = getattr(surrogate, factory_name)()
    assert sg.name == name and dict(zip(sg.spec.params, sg.params)) == defaults
    snn_defaults = {k: float(p.default) for k, p in inspect.signature(getattr(snn_sg, factory_name)).parameters.items()}
    assert snn_defaults == defaults
    assert issubclass(getattr(surrogate, name), torch.autograd.Function)


@pytest.mark.parametrize("sg", [
    surrogate.atan(), surrogate.atan(alpha=0.7), surrogate.fast_sigmoid(), surrogate.fast_sigmoid(slope=3),
    surrogate.sigmoid(), surrogate.sigmoid(slope=2), surrogate.heaviside(),
    surrogate.straight_through_estimator(), surrogate.triangular(), surrogate.triangular(threshold=0.3),
], ids=repr)
def test_triton_torch_and_snntorch_gradients_agree(sg):
    x = torch.cat([BOUNDARIES, torch.linspace(-2, 2, 101), torch.randn(200, generator=torch.Generator().manual_seed(0))])
    g = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) + 0.5
    torch_twin = sg.grad(x)
    torch.testing.assert_close(triton_grad(sg, x), torch_twin, rtol=1e-6, atol=1e-7)
    expected = snntorch_grad(sg, x, g)
    finite = expected.isfinite()  # snnTorch's Sigmoid is inf/inf = NaN far below threshold
    torch.testing.assert_close((g * torch_twin)[finite], expected[finite], rtol=1e-6, atol=1e-7)
    # The per-step class agrees with snnTorch too, forward included.
    xs = x.clone().requires_grad_()
    spk = sg(xs)
    spk.backward(g)
    assert torch.equal(spk, (x > 0).float())
    torch.testing.assert_close(xs.grad[finite], expected[finite], rtol=1e-6, atol=1e-7)


def test_sigmoid_never_returns_nan():
    x = torch.tensor([-1e30, -1e4, -100.0, -3.6, 0.0, 3.6, 100.0, 1e4, 1e30, float("inf"), -float("inf")])
    for slope in (1.0, 25.0, 1000.0):
        sg = surrogate.sigmoid(slope=slope)
        for grad in (sg.grad(x), triton_grad(sg, x)):
            assert not grad.isnan().any()
            assert (grad >= 0).all()
    assert snntorch_grad(surrogate.sigmoid(), torch.tensor([-4.0]), torch.ones(1)).isnan().all(), \
        "snnTorch 1.0.0's Sigmoid is NaN here; ours is the deliberate fix"


def test_sigmoid_matches_its_smooth_primitive():
    x = torch.linspace(-1, 1, 41, dtype=torch.float64)
    auto = torch.func.vmap(torch.func.grad(lambda v: torch.sigmoid(25 * v)))(x)
    torch.testing.assert_close(surrogate.sigmoid(slope=25).grad(x), auto)


def test_atan_matches_its_smooth_primitive():
    x = torch.linspace(-1, 1, 41, dtype=torch.float64)
    alpha = 2.0
    auto = torch.func.vmap(torch.func.grad(lambda v: torch.atan(math.pi / 2 * alpha * v) / math.pi))(x)
    torch.testing.assert_close(surrogate.atan(alpha).grad(x), auto)


def test_classes_apply_per_step_like_snntorch():
    x = torch.randn(50, generator=torch.Generator().manual_seed(2))
    for ours, theirs, args in [(surrogate.ATan, snn_sg.ATan, (2.0,)), (surrogate.FastSigmoid, snn_sg.FastSigmoid, (25,)),
                               (surrogate.Sigmoid, snn_sg.Sigmoid, (25,)), (surrogate.Triangular, snn_sg.Triangular, (1,)),
                               (surrogate.Heaviside, snn_sg.Heaviside, ()),
                               (surrogate.StraightThroughEstimator, snn_sg.StraightThroughEstimator, ())]:
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        spk_a, spk_b = ours.apply(a, *args), theirs.apply(b, *args)
        assert torch.equal(spk_a, spk_b)
        spk_a.sum().backward()
        spk_b.sum().backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-7)


def test_spikes_keep_the_input_dtype():
    x = torch.randn(8, dtype=torch.float16)
    assert surrogate.atan()(x).dtype == torch.float16
    assert surrogate.ATan.apply(x, 2.0).dtype == torch.float16


def test_unknown_surrogates_are_errors_naming_the_registered_ones():
    for bad in (lambda x: x, "atan", snn_sg.atan(), torch.sigmoid):
        with pytest.raises(TypeError, match="registered surrogates: ATan, FastSigmoid"):
            surrogate.resolve(bad)
        with pytest.raises(TypeError, match="not a tritonsnn surrogate"):
            tritonsnn.functional.leaky(torch.ones(2, 3), 0.9, spike_grad=bad)
        with pytest.raises(TypeError, match="not a tritonsnn surrogate"):
            tritonsnn.Leaky(beta=0.9, spike_grad=bad)
    with pytest.raises(TypeError, match="unexpected arguments"):
        surrogate.atan(slope=3)
    with pytest.raises(ValueError, match="no surrogate has kernel id"):
        surrogate.spec_for_kernel_id(99)


def test_old_api_module_slope_is_read_when_backward_runs(monkeypatch):
    """The seed document: `surrogate.FastSigmoid.apply(x)` with one argument uses the module-level
    slope, and `snn.surrogate.slope = 10` changes it."""
    monkeypatch.setattr(surrogate, "slope", 25)
    x = torch.linspace(-1, 1, 21, requires_grad=True)
    spk = surrogate.FastSigmoid.apply(x)
    surrogate.slope = 10  # after the forward: the backward must use 10
    spk.sum().backward()
    torch.testing.assert_close(x.grad, 1 / (10 * x.detach().abs() + 1) ** 2)
    x.grad = None
    surrogate.Sigmoid.apply(x).sum().backward()
    torch.testing.assert_close(x.grad, surrogate.sigmoid(slope=10).grad(x.detach()))


def test_apply_passed_as_spike_grad_is_fused_with_the_module_slope(monkeypatch, backend):
    monkeypatch.setattr(surrogate, "slope", 10)
    assert surrogate.resolve(surrogate.FastSigmoid.apply) == surrogate.fast_sigmoid(slope=10)
    assert surrogate.resolve(surrogate.ATan.apply) == surrogate.atan()
    assert surrogate.resolve(surrogate.Heaviside.apply) == surrogate.heaviside()
    x = torch.rand(6, 2, 5, device=DEVICE).requires_grad_()
    xr = x.detach().clone().requires_grad_()
    spk, _ = tritonsnn.functional.leaky(x, 0.9, spike_grad=surrogate.FastSigmoid.apply)
    spk_r, _ = snntorch_loop(xr, snn_sg.fast_sigmoid(slope=10))
    assert torch.equal(spk, spk_r)
    spk.sum().backward()
    spk_r.sum().backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-6)


def snntorch_loop(x, spike_grad):
    lif = snntorch.Leaky(beta=0.9, spike_grad=spike_grad)
    mem, spikes, mems = lif.init_leaky(), [], []
    for x_t in x:
        spk, mem = lif(x_t, mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def test_surrogate_objects_compare_and_print():
    assert surrogate.atan(2) == surrogate.atan() and surrogate.atan(3) != surrogate.atan()
    assert repr(surrogate.fast_sigmoid(slope=10)) == "fast_sigmoid(slope=10.0)"
    assert len({surrogate.atan(), surrogate.atan(2.0)}) == 1
