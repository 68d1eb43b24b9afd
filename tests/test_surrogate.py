"""The surrogate registry: each gradient's Triton function, its torch twin and snnTorch 1.0.0's
backward agree; SpikingJelly's surrogates match the derivatives of their primitives; factories,
classes and the seed document's old API behave as in snnTorch."""
import inspect
import math

import pytest
import snntorch
import snntorch.surrogate as snn_sg
import torch
import triton

import tritonsnn
from tritonsnn import surrogate
from tritonsnn._registration import with_module_slope
from tritonsnn.kernels.surrogates import surrogate_grad_kernel
from tritonsnn.surrogate.builtins import BUILT_IN
from conftest import DEVICE
from helpers import snntorch_surrogate

SNNTORCH = {  # snnTorch 1.0.0 name: (factory, defaults)
    "ATan": ("atan", {"alpha": 2.0}),
    "FastSigmoid": ("fast_sigmoid", {"slope": 25.0}),
    "Sigmoid": ("sigmoid", {"slope": 25.0}),
    "Heaviside": ("heaviside", {}),
    "StraightThroughEstimator": ("straight_through_estimator", {}),
    "Triangular": ("triangular", {"threshold": 1.0}),
    "SpikeRateEscape": ("spike_rate_escape", {"beta": 1.0, "slope": 25.0}),
    "StochasticSpikeOperator": ("SSO", {"mean": 0.0, "variance": 0.2}),
    "LeakySpikeOperator": ("LSO", {"slope": 0.1}),
    "SparseFastSigmoid": ("SFS", {"slope": 25.0, "B": 1.0}),
}
SPIKINGJELLY = {  # SpikingJelly 2.0 name: (factory, defaults), from its classes' signatures
    "PiecewiseQuadratic": ("piecewise_quadratic", {"alpha": 1.0}),
    "PiecewiseExp": ("piecewise_exp", {"alpha": 1.0}),
    "SoftSign": ("soft_sign", {"alpha": 2.0}),
    "SuperSpike": ("super_spike", {"alpha": 1.0}),
    "Erf": ("erf", {"alpha": 2.0}),
}
DETERMINISTIC = [
    surrogate.atan(), surrogate.atan(alpha=0.7), surrogate.fast_sigmoid(), surrogate.fast_sigmoid(slope=3),
    surrogate.sigmoid(), surrogate.sigmoid(slope=2), surrogate.heaviside(),
    surrogate.straight_through_estimator(), surrogate.triangular(), surrogate.triangular(threshold=0.3),
    surrogate.spike_rate_escape(), surrogate.spike_rate_escape(beta=2.0, slope=3.0),
    surrogate.LSO(), surrogate.LSO(slope=0.3), surrogate.SFS(), surrogate.SFS(slope=4.0, B=0.5),
    surrogate.piecewise_quadratic(), surrogate.piecewise_quadratic(alpha=2.5), surrogate.piecewise_exp(),
    surrogate.piecewise_exp(alpha=3.0), surrogate.soft_sign(), surrogate.soft_sign(alpha=0.5),
    surrogate.super_spike(), surrogate.super_spike(alpha=2.0), surrogate.erf(), surrogate.erf(alpha=0.5),
    surrogate.resolve(surrogate.LIFHeaviside.apply),
]
# Where piecewise surrogates switch (0, 1/alpha, B, ...), plus a spread of ordinary values.
BOUNDARIES = torch.tensor([0.0, -0.0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 1.0, -1.0, 0.4, -0.4,
                           1 / 2.5, -1 / 2.5, 3.0, -3.0, 40.0, -40.0])


def triton_grad(sg, x, seed=0):
    """dS/dx through the @triton.jit function the fused kernels inline."""
    x = x.to(DEVICE).contiguous()
    out = torch.empty_like(x)
    seed_t = torch.tensor([seed], device=DEVICE)
    surrogate_grad_kernel[(triton.cdiv(x.numel(), 1024),)](
        x_ptr=x, out_ptr=out, sg_ptr=with_module_slope(sg.kernel_id, sg.kernel_params(x)), seed_ptr=seed_t,
        n=x.numel(), SG_FN=sg.spec.jit_grad, STOCHASTIC=sg.spec.stochastic, BLOCK=1024)
    return out.cpu()


def snntorch_grad(sg, x, g):
    xs = x.clone().requires_grad_()
    snntorch_surrogate(sg)(xs).backward(g)
    return xs.grad


def _points():
    gen = torch.Generator().manual_seed(0)
    return torch.cat([BOUNDARIES, BOUNDARIES.nextafter(torch.tensor(math.inf)), BOUNDARIES.nextafter(torch.tensor(-math.inf)),
                      torch.linspace(-2, 2, 101), torch.randn(200, generator=gen)])


def test_registry_lists_every_surrogate():
    builtin = list(SNNTORCH) + list(SPIKINGJELLY) + ["LIF.Heaviside"]
    names = surrogate.registered()
    assert names[: len(builtin)] == builtin and set(builtin) <= set(BUILT_IN)
    assert all(surrogate.registry._REGISTRY[n].triton_fn is not None for n in names[len(builtin):])  # user-registered


@pytest.mark.parametrize("name", list(SNNTORCH) + list(SPIKINGJELLY))
def test_factories_and_classes_carry_their_names_and_defaults(name):
    factory_name, defaults = {**SNNTORCH, **SPIKINGJELLY}[name]
    sg = getattr(surrogate, factory_name)()
    assert sg.name == name and dict(zip(sg.spec.params, sg.params)) == defaults
    cls = getattr(surrogate, name)
    assert issubclass(cls, torch.autograd.Function) and cls.__name__ == name
    if name in SNNTORCH:
        snn_defaults = {k: float(p.default) for k, p in inspect.signature(getattr(snn_sg, factory_name)).parameters.items()}
        assert snn_defaults == defaults


@pytest.mark.parametrize("sg", DETERMINISTIC, ids=repr)
def test_triton_function_and_torch_twin_agree(sg):
    x = _points()
    torch.testing.assert_close(triton_grad(sg, x), sg.grad(x), rtol=1e-6, atol=1e-7)
    g = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) + 0.5
    torch.testing.assert_close(sg.grad(x, g), g * sg.grad(x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("sg", DETERMINISTIC, ids=repr)
def test_a_twins_plus_term_is_bitwise_the_addition_after_it(sg):
    """A backward adds dL/dU's other term inside the twin (`plus`, one pass where the gradient ends
    in a division): bitwise what adding it to the twin's result gives, infinities and NaNs too."""
    x = _points()
    gen = torch.Generator().manual_seed(2)
    plus = torch.randn(x.shape, generator=gen) * 1e3
    plus[:3] = torch.tensor([math.inf, -0.0, math.nan])
    for g in (None, torch.randn(x.shape, generator=gen) * 1e-3):
        separate = sg.spec.grad_(x.clone(), g, *sg.resolved_params()) + plus
        fused = sg.spec.grad_(x.clone(), g, *sg.resolved_params(), plus=plus)
        assert torch.equal(fused.nan_to_num(), separate.nan_to_num())
        assert torch.equal(fused.isnan(), separate.isnan()) and torch.equal(fused.signbit(), separate.signbit())


@pytest.mark.parametrize("sg", [s for s in DETERMINISTIC if s.name in SNNTORCH and s.name != "LeakySpikeOperator"], ids=repr)
def test_torch_twin_and_per_step_class_match_snntorch(sg):
    x = _points()
    g = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) + 0.5
    expected = snntorch_grad(sg, x, g)
    finite = expected.isfinite()  # snnTorch's Sigmoid is inf/inf = NaN far below threshold
    torch.testing.assert_close(sg.grad(x, g)[finite], expected[finite], rtol=1e-6, atol=1e-7)
    xs = x.clone().requires_grad_()
    spk = sg(xs)
    spk.backward(g)
    assert torch.equal(spk, (x > 0).float())
    torch.testing.assert_close(xs.grad[finite], expected[finite], rtol=1e-6, atol=1e-7)


def _primitive(name, alpha):
    """SpikingJelly's smooth primitive of each surrogate (SuperSpike has none there; alpha x/(1+|x|)
    is one)."""
    return {
        "PiecewiseQuadratic": lambda x: torch.where(
            x > 1 / alpha, torch.ones_like(x),
            torch.where(x < -1 / alpha, torch.zeros_like(x),
                        -alpha**2 / 2 * x * x.abs() + alpha * x + 0.5)),
        "PiecewiseExp": lambda x: torch.where(x >= 0, 1 - torch.exp(-alpha * x) / 2, torch.exp(alpha * x) / 2),
        "SoftSign": lambda x: (torch.nn.functional.softsign(alpha * x) + 1) / 2,
        "SuperSpike": lambda x: alpha * x / (1 + x.abs()),
        "Erf": lambda x: torch.special.erfc(-alpha * x) / 2,
        "Sigmoid": lambda x: torch.sigmoid(alpha * x),
        "ATan": lambda x: torch.atan(math.pi / 2 * alpha * x) / math.pi,
        "FastSigmoid": lambda x: x / (1 + alpha * x.abs()),
    }[name]


@pytest.mark.parametrize("name", list(SPIKINGJELLY) + ["Sigmoid", "ATan", "FastSigmoid"])
@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
def test_gradients_are_derivatives_of_smooth_primitives(name, alpha):
    spec = surrogate.registry._REGISTRY[name]
    sg = spec.factory(alpha)
    x = torch.cat([torch.linspace(-3, 3, 241, dtype=torch.float64),
                   torch.tensor([1 / alpha, -1 / alpha], dtype=torch.float64)])
    x = x[x.abs() != 1 / alpha] if name == "PiecewiseQuadratic" else x  # kinks: checked below
    auto = torch.func.vmap(torch.func.grad(lambda v: _primitive(name, alpha)(v)))(x)
    torch.testing.assert_close(sg.grad(x), auto)


def test_piecewise_surrogates_at_their_boundaries():
    for alpha in (1.0, 2.5):
        sg, edge = surrogate.piecewise_quadratic(alpha), torch.tensor(1 / alpha)
        inside, outside = edge.nextafter(torch.tensor(0.0)), edge.nextafter(torch.tensor(math.inf))
        for x in (torch.stack([inside, -inside]), torch.stack([edge, -edge]), torch.stack([outside, -outside])):
            for grad in (sg.grad(x), triton_grad(sg, x)):
                assert (grad >= 0).all() and (grad <= alpha).all()
        assert (sg.grad(torch.stack([outside, -outside])) == 0).all()
        assert (sg.grad(torch.stack([inside, -inside])) > 0).all() or alpha * inside < 1e-6
    sfs = surrogate.SFS(slope=25.0, B=0.5)
    b = torch.tensor(0.5)
    x = torch.stack([b, b.nextafter(torch.tensor(math.inf)), b.nextafter(torch.tensor(0.0))])
    for grad in (sfs.grad(x), triton_grad(sfs, x)):
        assert grad[0] == 0 and grad[2] == 0 and grad[1] > 0  # only strictly above B
    zero = torch.tensor([0.0, -0.0, 1e-30, -1e-30])
    assert surrogate.heaviside().grad(zero).tolist() == [0, 0, 1, 0]
    assert surrogate.resolve(surrogate.LIFHeaviside.apply).grad(zero).tolist() == [1, 1, 1, 0]
    assert surrogate.triangular(0.5).grad(zero).tolist() == [-0.5, -0.5, -0.5, 0.5]
    assert surrogate.LSO(0.1).grad(zero).tolist() == pytest.approx([0.1, 0.1, 1.0, 0.1])


def test_sigmoid_never_returns_nan():
    x = torch.tensor([-1e30, -1e4, -100.0, -3.6, 0.0, 3.6, 100.0, 1e4, 1e30, float("inf"), -float("inf")])
    for slope in (1.0, 25.0, 1000.0):
        sg = surrogate.sigmoid(slope=slope)
        for grad in (sg.grad(x), triton_grad(sg, x)):
            assert not grad.isnan().any()
            assert (grad >= 0).all()
    assert snntorch_grad(surrogate.sigmoid(), torch.tensor([-4.0]), torch.ones(1)).isnan().all(), \
        "snnTorch 1.0.0's Sigmoid is NaN here; ours is the deliberate fix"


def test_leaky_spike_operator_works_where_snntorchs_raises():
    x = torch.tensor([-1.0, 0.5], requires_grad=True)
    surrogate.LSO(slope=0.2)(x).sum().backward()
    assert x.grad.tolist() == pytest.approx([0.2, 1.0])
    with pytest.raises(Exception):
        snn_sg.LSO(slope=0.2)(torch.tensor([-1.0, 0.5], requires_grad=True)).sum().backward()


def test_stochastic_spike_operator_statistics_on_both_backends():
    """Below threshold the gradient is (u - 0.5 + mean) variance, u ~ U[0, 1): mean
    `mean * variance`, variance `variance^2 / 12`; above it, exactly 1."""
    mean, variance, n = 0.3, 0.5, 50_000
    sg = surrogate.SSO(mean=mean, variance=variance)
    x = torch.cat([-torch.rand(n) - 0.01, torch.rand(1000) + 0.01])
    for grad in (triton_grad(sg, x, seed=1234), sg.grad(x, generator=torch.Generator().manual_seed(5))):
        below = grad[:n]
        assert below.mean().item() == pytest.approx(mean * variance, abs=0.003)
        assert below.var().item() == pytest.approx(variance**2 / 12, rel=0.02)
        assert below.min() >= (mean - 0.5) * variance and below.max() < (mean + 0.5) * variance
        assert (grad[n:] == 1).all()
    assert not torch.equal(triton_grad(sg, x, seed=1), triton_grad(sg, x, seed=2))
    assert torch.equal(triton_grad(sg, x, seed=1), triton_grad(sg, x, seed=1))


def test_stochastic_spike_operator_in_the_fused_backward_is_reproducible(backend):
    """The seed is drawn from torch's generator at forward time: torch.manual_seed reproduces the
    whole run; another seed gives other noise."""
    x = -torch.rand(4, 8, 16, device=DEVICE) - 0.1  # never fires: every gradient entry is noise

    def dx(seed):
        torch.manual_seed(seed)
        xs = x.clone().requires_grad_()
        spk, _ = tritonsnn.functional.leaky(xs, 0.0, spike_grad=surrogate.SSO(mean=0.0, variance=1.0))
        spk.sum().backward()
        return xs.grad
    first, again, other = dx(0), dx(0), dx(1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.mean().abs() < 0.05 and first.var().item() == pytest.approx(1 / 12, rel=0.15)
    assert first.min() >= -0.5 and first.max() < 0.5


def test_stochastic_spike_operator_through_leaky_matches_snntorch_in_distribution(backend):
    """With beta = 0 every step's gradient is that step's surrogate times its incoming gradient:
    the same spikes as snnTorch, and gradients drawn from the same distribution."""
    torch.manual_seed(0)
    x = torch.rand(8, 16, 64) * 2 - 1
    sg = surrogate.SSO(mean=0.2, variance=0.6)
    xs = x.to(DEVICE, copy=True).requires_grad_()
    spk, _ = tritonsnn.functional.leaky(xs, 0.0, spike_grad=sg)
    spk.sum().backward()
    lif = snntorch.Leaky(beta=0.0, spike_grad=snn_sg.SSO(mean=0.2, variance=0.6))
    xr = x.clone().requires_grad_()
    mem, spikes = lif.init_leaky(), []
    for x_t in xr:
        s, mem = lif(x_t, mem)
        spikes.append(s)
    torch.stack(spikes).sum().backward()
    assert torch.equal(spk.cpu(), torch.stack(spikes))
    fired = (spk.cpu() > 0)
    assert torch.equal(xs.grad.cpu()[fired], xr.grad[fired])  # exactly 1 where it fired
    ours, theirs = xs.grad.cpu()[~fired], xr.grad[~fired]
    assert ours.mean().item() == pytest.approx(theirs.mean().item(), abs=0.015)
    assert ours.var().item() == pytest.approx(theirs.var().item(), rel=0.1)


def test_spikes_keep_the_input_dtype():
    x = torch.randn(8, dtype=torch.float16)
    assert surrogate.atan()(x).dtype == torch.float16
    assert surrogate.ATan.apply(x, 2.0).dtype == torch.float16


def test_unknown_surrogates_are_errors_naming_the_registered_ones():
    for bad in (lambda x: x, "atan", torch.sigmoid):
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


def test_snntorch_closures_are_recognised_and_classes_rejected():
    assert surrogate.resolve(snn_sg.atan(alpha=3.0)) == surrogate.atan(alpha=3.0)
    assert surrogate.resolve(snn_sg.fast_sigmoid()) == surrogate.fast_sigmoid()
    assert surrogate.resolve(snn_sg.SFS(slope=4, B=0.5)) == surrogate.SFS(slope=4.0, B=0.5)
    assert surrogate.resolve(snn_sg.spike_rate_escape(beta=2)) == surrogate.spike_rate_escape(beta=2.0)
    assert surrogate.resolve(snn_sg.LSO(slope=0.3)) == surrogate.LSO(slope=0.3)
    assert surrogate.resolve(snn_sg.SSO(mean=0.1)) == surrogate.SSO(mean=0.1)
    for factory in ("heaviside", "straight_through_estimator", "sigmoid", "triangular"):
        assert surrogate.resolve(getattr(snn_sg, factory)()) == getattr(surrogate, factory)()

    def fn(input_, grad_input, out):
        return grad_input

    assert surrogate.resolve(snn_sg.custom_surrogate(fn)).fn is fn
    with pytest.raises(TypeError, match=r"tritonsnn.surrogate.ATan.apply"):
        surrogate.resolve(snn_sg.ATan.apply)


def test_snntorch_closure_as_spike_grad_gives_snntorchs_numbers(backend):
    torch.manual_seed(3)
    x = torch.rand(6, 2, 5, device=DEVICE)
    results = []
    for spike_grad in (snn_sg.atan(alpha=3.0), surrogate.atan(alpha=3.0)):
        xs = x.clone().requires_grad_()
        spk, mem = tritonsnn.functional.leaky(xs, 0.9, spike_grad=spike_grad)
        (spk.sum() + mem.sum()).backward()
        results.append((spk, xs.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_old_api_module_slope_is_read_when_backward_runs(monkeypatch):
    """The seed document: `FastSigmoid.apply(x)` (also Sigmoid, SpikeRateEscape) with one argument
    uses the module-level slope in force at backward time."""
    monkeypatch.setattr(surrogate, "slope", 25)
    x = torch.linspace(-1, 1, 21, requires_grad=True)
    for cls, twin in ((surrogate.FastSigmoid, surrogate.fast_sigmoid(slope=10)),
                      (surrogate.Sigmoid, surrogate.sigmoid(slope=10)),
                      (surrogate.SpikeRateEscape, surrogate.spike_rate_escape(beta=1.0, slope=10))):
        surrogate.slope = 25
        x.grad = None
        spk = cls.apply(x)
        surrogate.slope = 10  # after the forward: the backward must use 10
        spk.sum().backward()
        torch.testing.assert_close(x.grad, twin.grad(x.detach()))


def test_apply_passed_as_spike_grad_is_fused_with_the_slope_at_backward_time(monkeypatch, backend):
    monkeypatch.setattr(surrogate, "slope", 25)
    assert surrogate.resolve(surrogate.ATan.apply) == surrogate.atan()
    assert surrogate.resolve(surrogate.Heaviside.apply) == surrogate.heaviside()
    assert surrogate.resolve(surrogate.FastSigmoid.apply).params == (surrogate.MODULE_SLOPE,)
    x = torch.rand(6, 2, 5, device=DEVICE).requires_grad_()
    xr = x.detach().clone().requires_grad_()
    spk, _ = tritonsnn.functional.leaky(x, 0.9, spike_grad=surrogate.FastSigmoid.apply)
    surrogate.slope = 10  # set between forward and backward, as the seed document's API allows
    spk_r, _ = snntorch_loop(xr, snn_sg.fast_sigmoid(slope=10))
    assert torch.equal(spk, spk_r)
    spk.sum().backward()
    spk_r.sum().backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-6)


def test_old_lif_heaviside(backend):
    """tritonsnn.LIF.Heaviside: the seed's default, forward x > 0, backward where x >= 0, fused."""
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    spk = tritonsnn.LIF.Heaviside.apply(x)
    spk.backward(torch.tensor([1.0, 2.0, 3.0]))
    assert spk.tolist() == [0.0, 0.0, 1.0] and x.grad.tolist() == [0.0, 2.0, 3.0]
    x = torch.tensor([[0.5], [0.5]], device=DEVICE, requires_grad=True)  # U_1 = 0.5 - 0.5 = 0 at the threshold
    spk, _ = tritonsnn.functional.leaky(x, 0.0, threshold=0.5, spike_grad=tritonsnn.LIF.Heaviside.apply)
    spk.sum().backward()
    assert spk.flatten().tolist() == [0.0, 0.0] and x.grad.flatten().tolist() == [1.0, 1.0]


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
    assert repr(surrogate.resolve(surrogate.FastSigmoid.apply)) == "fast_sigmoid(slope=<surrogate.slope>)"
    assert len({surrogate.atan(), surrogate.atan(2.0)}) == 1
