"""Input contracts at the edges of the API: what is refused (with an error naming the argument
and the problem) and what is accepted because snnTorch computes it.

- Surrogate parameters must be finite: NaN is the internal placeholder for the module-level slope.
- Neurons pickle and torch.save with any surrogate, and the loaded copy computes the same.
- custom_surrogate(fn) results are checked against snnTorch's contract where fn is called.
- 0-d float64 parameters (numpy numbers, `.double()`, a float64 default dtype) with fp32 input,
  and states or parameters made under torch.inference_mode() used in training.
- Lapicque's beta and time_step, construction under torch.device("meta"), from_snntorch on a
  subclass of an snnTorch neuron, and Alpha's stored (clamped) alpha.
"""
import io
import pickle
import warnings

import numpy as np
import pytest
import snntorch
import snntorch.surrogate as snn_sg
import torch
import triton
import triton.language as tl
from torch import nn

import tritonsnn
import tritonsnn.functional as F
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import assert_close

NAN, INF = float("nan"), float("inf")


def run(neuron, x):
    """A multi-step neuron's outputs on `x`, then the gradients of the sum of all of them with
    respect to x and to each of the neuron's parameters (in `parameters()` order)."""
    x = x.clone().requires_grad_()
    outputs = neuron(x)
    sum(o.sum() for o in outputs).backward()
    return [o.detach() for o in outputs] + [x.grad] + [p.grad for p in neuron.parameters()]


def assert_same(results, expected):
    """Two `run` results agree: values to fp32 rounding, whatever dtype each gradient has."""
    assert len(results) == len(expected)
    for a, b in zip(results, expected):
        assert_close(a.float(), b.float(), 1e-6)


def inputs(T=6, shape=(2, 3), seed=0):
    return torch.rand((T, *shape), generator=torch.Generator().manual_seed(seed)).to(DEVICE)


# 5. Surrogate parameters are finite real numbers.

FACTORIES = [surrogate.atan, surrogate.fast_sigmoid, surrogate.sigmoid, surrogate.triangular,
             surrogate.spike_rate_escape, surrogate.SSO, surrogate.LSO, surrogate.SFS,
             surrogate.piecewise_quadratic, surrogate.piecewise_exp, surrogate.soft_sign,
             surrogate.super_spike, surrogate.erf]


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_a_factory_refuses_a_non_finite_parameter(factory, bad):
    with pytest.raises(ValueError, match=rf"{factory.__name__}\(\): .* must be a finite real number"):
        factory(bad)


def test_every_parameter_is_checked_and_the_placeholder_cannot_be_passed():
    with pytest.raises(ValueError, match="SFS\\(\\): the surrogate parameter B must be a finite"):
        surrogate.SFS(B=NAN)
    with pytest.raises(ValueError, match="alpha must be a finite real number, got nan"):
        surrogate.atan(alpha=surrogate.MODULE_SLOPE)


@pytest.mark.parametrize("closure", [lambda: snn_sg.atan(alpha=NAN), lambda: snn_sg.fast_sigmoid(slope=INF)])
def test_an_snntorch_closure_with_a_non_finite_parameter_is_refused(closure):
    with pytest.raises(ValueError, match="must be a finite real number"):
        tritonsnn.Leaky(beta=0.9, spike_grad=closure())
    with pytest.raises(ValueError, match="must be a finite real number"):
        F.leaky(torch.rand(3, 2), 0.9, spike_grad=closure())


@triton.jit
def _box_grad(x, width, p1):
    return tl.where(tl.abs(x) < width, 0.5 / width, 0.0)


def test_a_registered_factory_refuses_a_non_finite_parameter(monkeypatch):
    for table in ("_REGISTRY", "_BY_KERNEL_ID"):  # leave none behind
        monkeypatch.setattr(surrogate.registry, table, dict(getattr(surrogate.registry, table)))
    _, box = surrogate.register("ContractBox", _box_grad, lambda x, width: (x.abs() < width) * (0.5 / width),
                                width=0.5)
    with pytest.raises(ValueError, match="ContractBox\\(\\): the surrogate parameter width must be a finite"):
        box(width=NAN)


def test_fast_sigmoid_apply_still_reads_the_module_slope_at_backward_time(backend, monkeypatch):
    monkeypatch.setattr(surrogate, "slope", 25)
    assert surrogate.resolve(surrogate.FastSigmoid.apply).params == (surrogate.MODULE_SLOPE,)
    x = inputs().requires_grad_()
    xr = x.detach().clone().requires_grad_()
    spk, _ = F.leaky(x, 0.9, spike_grad=surrogate.FastSigmoid.apply)
    surrogate.slope = 10
    spk.sum().backward()
    spk_r, _ = F.leaky(xr, 0.9, spike_grad=surrogate.fast_sigmoid(slope=10))
    spk_r.sum().backward()
    torch.testing.assert_close(x.grad, xr.grad)


# 6. Pickling.

PICKLED = {
    "Stein": lambda: tritonsnn.Stein(alpha=0.8, beta=0.9, step_mode="multi"),
    "Leaky with LIF.Heaviside.apply": lambda: tritonsnn.Leaky(
        beta=0.9, spike_grad=tritonsnn.LIF.Heaviside.apply, learn_beta=True, step_mode="multi"),
    "Leaky with fast_sigmoid(slope=10)": lambda: tritonsnn.Leaky(
        beta=0.9, spike_grad=surrogate.fast_sigmoid(slope=10), learn_threshold=True, step_mode="multi"),
    "Synaptic with FastSigmoid.apply": lambda: tritonsnn.Synaptic(
        alpha=0.8, beta=0.9, spike_grad=surrogate.FastSigmoid.apply, learn_alpha=True, step_mode="multi"),
    "Lapicque with sigmoid()": lambda: tritonsnn.Lapicque(beta=0.9, spike_grad=surrogate.sigmoid(), step_mode="multi"),
}


def _torch_save_round_trip(model):
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


ROUND_TRIPS = {"pickle": lambda model: pickle.loads(pickle.dumps(model)), "torch.save": _torch_save_round_trip}


@pytest.mark.parametrize("trip", ROUND_TRIPS.values(), ids=ROUND_TRIPS)
@pytest.mark.parametrize("make", PICKLED.values(), ids=PICKLED)
def test_a_neuron_survives_a_pickle_round_trip(backend, make, trip):
    model = make().to(DEVICE)
    loaded = trip(model)
    x = inputs() * 2
    assert_same(run(loaded, x), run(model, x))


def test_lif_heaviside_is_found_under_its_qualified_name():
    cls = tritonsnn.LIF.Heaviside
    assert getattr(surrogate, cls.__qualname__) is cls and cls.__module__ == "tritonsnn.surrogate"
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_a_pickled_apply_surrogate_still_reads_the_module_slope(monkeypatch):
    sg = surrogate.resolve(surrogate.FastSigmoid.apply)
    loaded = pickle.loads(pickle.dumps(sg))
    assert loaded == sg and loaded.params == (surrogate.MODULE_SLOPE,)
    monkeypatch.setattr(surrogate, "slope", 10)
    x = torch.linspace(-1, 1, 9, requires_grad=True)
    loaded(x).sum().backward()
    torch.testing.assert_close(x.grad, surrogate.fast_sigmoid(slope=10).grad(x.detach()))


# 7. custom_surrogate's contract.

CONTRACT = r"fn\(input_, grad_input, out\) must return a floating-point tensor of input_'s shape"
BAD_RESULTS = {
    "None": lambda g: None,
    "a wrongly shaped tensor": lambda g: g[0],
    "a number": lambda g: 1.0,
    "an integer tensor": lambda g: g.long(),
}


@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("result", BAD_RESULTS.values(), ids=BAD_RESULTS)
def test_a_custom_surrogate_breaking_its_contract_is_named_in_a_neuron(backend, result, reset_delay):
    sg = surrogate.custom_surrogate(lambda input_, grad_input, out: result(grad_input))
    x = inputs().requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the slower path's announcement
        spk, _ = F.leaky(x, 0.9, spike_grad=sg, reset_delay=reset_delay)
    with pytest.raises((TypeError, ValueError), match=CONTRACT):
        spk.sum().backward()


@pytest.mark.parametrize("result", BAD_RESULTS.values(), ids=BAD_RESULTS)
def test_a_custom_surrogate_breaking_its_contract_is_named_per_step(result):
    x = torch.rand(2, 3, requires_grad=True)
    spk = surrogate.CustomSurrogate.apply(x, lambda input_, grad_input, out: result(grad_input))
    with pytest.raises((TypeError, ValueError), match=CONTRACT + r" \(2, 3\)"):
        spk.sum().backward()


# 8a. 0-d float64 parameters with fp32 input compute in fp32, as in snnTorch.

FLOAT64_NUMBERS = {"np.float64(0.9)": np.float64(0.9), "np.exp(-1/10)": np.exp(-1 / 10)}


@pytest.mark.parametrize("beta", FLOAT64_NUMBERS.values(), ids=FLOAT64_NUMBERS)
def test_a_numpy_float64_parameter_computes_like_its_fp32_value(backend, beta):
    x = inputs() * 2
    ours = tritonsnn.Leaky(beta=beta, learn_beta=True, step_mode="multi").to(DEVICE)
    fp32 = tritonsnn.Leaky(beta=torch.tensor(float(beta)), learn_beta=True, step_mode="multi").to(DEVICE)
    assert ours.beta.dtype == torch.float64
    results = run(ours, x)
    assert_same(results, run(fp32, x))
    assert results[-1].dtype == torch.float64  # beta's gradient, in beta's dtype


def test_a_numpy_float64_synaptic_computes_like_its_fp32_values(backend):
    x = inputs() * 2
    ours = tritonsnn.Synaptic(alpha=np.float64(0.8), beta=np.exp(-1 / 10), learn_alpha=True, step_mode="multi")
    fp32 = tritonsnn.Synaptic(alpha=0.8, beta=float(np.exp(-1 / 10)), learn_alpha=True, step_mode="multi")
    results = run(ours.to(DEVICE), x)
    assert_same(results, run(fp32.to(DEVICE), x))
    assert results[-1].dtype == torch.float64


def test_a_numpy_float64_beta_matches_snntorch():
    x = torch.rand(8, 2, 3, generator=torch.Generator().manual_seed(1)) * 2
    ours, theirs = tritonsnn.Leaky(beta=np.float64(0.9)), snntorch.Leaky(beta=np.float64(0.9))
    mem_ours, mem_theirs = ours.init_leaky(), theirs.init_leaky()
    for x_t in x:
        spk_ours, mem_ours = ours(x_t, mem_ours)
        spk_theirs, mem_theirs = theirs(x_t, mem_theirs)
        assert torch.equal(spk_ours, spk_theirs)
        assert mem_ours.dtype == mem_theirs.dtype == torch.float32
        assert_close(mem_ours, mem_theirs, 1e-6)


def test_a_double_module_computes_fp32_input_in_fp32(backend):
    x = inputs() * 2
    ours = tritonsnn.Leaky(beta=0.9, learn_beta=True, learn_threshold=True, step_mode="multi").double()
    fp32 = tritonsnn.Leaky(beta=0.9, learn_beta=True, learn_threshold=True, step_mode="multi")
    results = run(ours.to(DEVICE), x)
    assert_same(results, run(fp32.to(DEVICE), x))
    assert [g.dtype for g in results[-2:]] == [torch.float64, torch.float64]


def test_neurons_built_under_a_float64_default_dtype_take_fp32_input(backend):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        built = [tritonsnn.Leaky(beta=0.9, learn_beta=True, step_mode="multi"),
                 tritonsnn.Synaptic(alpha=0.8, beta=0.9, learn_alpha=True, step_mode="multi")]
    finally:
        torch.set_default_dtype(previous)
    fp32 = [tritonsnn.Leaky(beta=0.9, learn_beta=True, step_mode="multi"),
            tritonsnn.Synaptic(alpha=0.8, beta=0.9, learn_alpha=True, step_mode="multi")]
    x = inputs() * 2
    assert x.dtype == torch.float32
    for ours, reference in zip(built, fp32):
        results = run(ours.to(DEVICE), x)
        assert_same(results, run(reference.to(DEVICE), x))
        assert results[-1].dtype == torch.float64


def test_a_per_neuron_float64_parameter_with_fp32_input_is_still_refused():
    beta = torch.full((3,), 0.9, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"beta is a float64 tensor of shape \(3,\) but the input is torch.float32"):
        F.leaky(torch.rand(4, 3), beta)


# 8b. Tensors made under torch.inference_mode() are used by value outside it.

STATEFUL = {
    "Leaky": lambda: tritonsnn.Leaky(beta=0.9, learn_beta=True),
    "Synaptic": lambda: tritonsnn.Synaptic(alpha=0.8, beta=0.9, learn_alpha=True, learn_beta=True),
    "Alpha": lambda: tritonsnn.Alpha(alpha=0.9, beta=0.8, learn_alpha=True, threshold=0.3),
}


@pytest.mark.parametrize("make", STATEFUL.values(), ids=STATEFUL)
def test_a_state_made_under_inference_mode_is_used_in_training(backend, make):
    x0, x1 = inputs(T=2, seed=3)
    ours, reference = make().to(DEVICE), make().to(DEVICE)
    with torch.inference_mode():
        ours(x0)
    with torch.no_grad():
        reference(x0)
    results = []
    for neuron in (ours, reference):
        outputs = neuron(x1)
        sum(o.sum() for o in outputs).backward()
        results.append([o.detach() for o in outputs] + [p.grad for p in neuron.parameters()])
    assert_same(*results)


def test_a_neuron_built_under_inference_mode_trains(backend):
    with torch.inference_mode():
        ours = tritonsnn.Leaky(beta=0.9, learn_beta=True, step_mode="multi").to(DEVICE)
    reference = tritonsnn.Leaky(beta=0.9, learn_beta=True, step_mode="multi").to(DEVICE)
    x = inputs() * 2
    assert_same(run(ours, x), run(reference, x))


def test_functional_states_and_parameters_made_under_inference_mode(backend):
    x = inputs().requires_grad_()
    with torch.inference_mode():
        mem, beta = torch.full((2, 3), 0.5, device=DEVICE), torch.tensor(0.9, device=DEVICE)
    spk, mem_seq = F.leaky(x, beta, mem=mem)
    (spk.sum() + mem_seq.sum()).backward()
    xr = x.detach().clone().requires_grad_()
    spk_r, mem_r = F.leaky(xr, 0.9, mem=torch.full((2, 3), 0.5, device=DEVICE))
    (spk_r.sum() + mem_r.sum()).backward()
    assert torch.equal(spk, spk_r) and torch.equal(mem_seq, mem_r) and torch.equal(x.grad, xr.grad)


# 9. Lapicque's values, meta construction, from_snntorch on subclasses, Alpha's stored alpha.

@pytest.mark.parametrize("beta", [1.0, 0.0, -0.5, torch.tensor([0.5, 1.0])], ids=["1", "0", "negative", "per-neuron 1"])
def test_lapicque_refuses_a_beta_outside_0_1_when_built(beta):
    with pytest.raises(ValueError, match=r"Lapicque's beta must lie in \(0, 1\)"):
        tritonsnn.Lapicque(beta=beta)


@pytest.mark.parametrize("circuit,name", [(dict(R=0.0, C=1.0), "R"), (dict(beta=0.9, C=-1.0), "C")])
def test_lapicque_refuses_a_non_positive_r_or_c_when_built(circuit, name):
    with pytest.raises(ValueError, match=f"Lapicque's {name} must be positive"):
        tritonsnn.Lapicque(**circuit)


@pytest.mark.parametrize("time_step", [NAN, INF, 0, -1.0, torch.tensor(NAN)],
                         ids=["nan", "inf", "0", "negative", "tensor nan"])
def test_lapicque_needs_a_finite_positive_time_step(time_step):
    with pytest.raises(ValueError, match="time_step must be a finite positive number"):
        tritonsnn.Lapicque(beta=0.9, time_step=time_step)
    with pytest.raises(ValueError, match="time_step must be a finite positive number"):
        F.lapicque(torch.rand(3, 2), beta=0.9, time_step=time_step)


NEURONS = {
    "Leaky": lambda: tritonsnn.Leaky(beta=0.9, learn_beta=True),
    "Synaptic": lambda: tritonsnn.Synaptic(alpha=0.8, beta=0.9),
    "Stein": lambda: tritonsnn.Stein(alpha=0.8, beta=0.9),
    "Lapicque": lambda: tritonsnn.Lapicque(beta=0.9, time_step=0.5),
    "Alpha": lambda: tritonsnn.Alpha(alpha=0.9, beta=0.8),
}


@pytest.mark.parametrize("make", NEURONS.values(), ids=NEURONS)
def test_a_neuron_built_on_the_meta_device_loads_a_state_dict(make):
    with torch.device("meta"):
        empty = make()
    assert all(t.is_meta for t in empty.state_dict().values())
    reference = make().to(DEVICE)
    empty.to_empty(device=DEVICE).load_state_dict(reference.state_dict())
    x = torch.rand(3, device=DEVICE) * 2
    for _ in range(3):
        for a, b in zip(empty(x), reference(x)):
            assert torch.equal(a, b)


def test_meta_construction_still_checks_the_numbers_given():
    with torch.device("meta"):
        with pytest.raises(ValueError, match="alpha must be greater than beta"):
            tritonsnn.Alpha(alpha=0.5, beta=0.8)
        with pytest.raises(ValueError, match=r"beta must lie in \(0, 1\)"):
            tritonsnn.Lapicque(beta=1.0)


class MyLeaky(snntorch.Leaky):
    """A user's subclass of snnTorch's Leaky, defined outside the snntorch package."""


@pytest.mark.parametrize("model,path", [
    (lambda: nn.Sequential(nn.Linear(2, 2), MyLeaky(beta=0.9)), "1"),
    (lambda: MyLeaky(beta=0.9), "the model"),
], ids=["inside a model", "as the model"])
def test_from_snntorch_refuses_a_subclass_of_an_snntorch_neuron(model, path):
    with pytest.raises(TypeError, match=rf"cannot convert {path} \(.*MyLeaky\): it subclasses snnTorch's Leaky"):
        tritonsnn.from_snntorch(model())


def test_alpha_stores_its_clamped_alpha_like_snntorch():
    ours, theirs = tritonsnn.Alpha(alpha=1.5, beta=0.8), snntorch.Alpha(alpha=1.5, beta=0.8)
    assert ours.alpha.item() == theirs.alpha.item() == 1.0
    assert torch.equal(ours.state_dict()["alpha"], theirs.state_dict()["alpha"])
    learnable = tritonsnn.Alpha(alpha=1.5, beta=0.8, learn_alpha=True)
    assert isinstance(learnable.alpha, nn.Parameter) and learnable.alpha.item() == 1.0
