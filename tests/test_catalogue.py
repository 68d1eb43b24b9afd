"""The neuron catalogue enrols every neuron in the cross-cutting checks: each fused neuron is
listed (functional form, reference, public module, snnTorch class); its op passes torch.library.opcheck as its functional form calls it; its module compiles
with fullgraph=True to eager's numbers; its kernels compile ahead of time and have a traffic case;
the benchmark times it. (Per-sample lengths, storage dtypes and reliability read the catalogue
in their own test files.)"""
import importlib

import pytest
import torch

import tritonsnn
from tritonsnn import aot
from tritonsnn.bench import suite
from tritonsnn.catalogue import INTEGRATORS, NEURONS, SNNTORCH_CLASSES
from conftest import DEVICE

F = tritonsnn.functional


def test_every_functional_neuron_is_catalogued():
    assert set(NEURONS) | set(INTEGRATORS) == set(F.__all__) - {"final_state"}
    assert not set(NEURONS) & set(INTEGRATORS)
    for n in NEURONS.values():  # the module carries the states the functional form returns, by the same names
        assert n.module.state_names == n.states
    # The recurrent neurons have no functional form or op yet (their own tests: test_recurrent.py,
    # test_spiking_lstm.py).
    assert set(NEURONS) | set(INTEGRATORS) == set(tritonsnn.reference.__all__) - {
        "rleaky", "rsynaptic", "slstm", "sconv2dlstm", "associative_leaky"}
    assert {cls.__name__ for cls in SNNTORCH_CLASSES.values()} <= set(tritonsnn.__all__)


def test_each_neuron_names_its_own_snntorch_class():
    import snntorch

    classes = [getattr(snntorch, n.snntorch) for n in NEURONS.values()]
    assert len(set(classes)) == len(classes)  # from_snntorch maps each to one fused neuron
    for name, cls in SNNTORCH_CLASSES.items():  # under snnTorch's name, tritonsnn's class of that name
        assert getattr(snntorch, name).__name__ == cls.__name__ == name


def test_a_name_two_families_declare_for_ahead_of_time_compilation_is_refused():
    with pytest.raises(ValueError, match="'leaky_fwd' is declared twice"):
        aot._unique([*aot.TRAFFIC_CASES.items(), ("leaky_fwd", None)])


def _captured_op_call(neuron, monkeypatch, x, **kwargs):
    """The op, positional and keyword arguments the neuron's functional form hands its forward op
    (through the family's `fused.call`, which runs the op when traced, its eager twin otherwise)."""
    n = NEURONS[neuron]
    op = getattr(torch.ops.tritonsnn, n.ops[0])
    fused = importlib.import_module(f"tritonsnn.kernels.{n.family}.fused")
    call = fused.call
    calls = []

    def record(*args, **kw):
        calls.append((args, kw))
        return call(*args, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(fused, "call", record)
        n.call(F, x, **kwargs)
    (args, kw), = calls

    def leaf(v):  # cut from the graph the functional form built in front of the op (clamps, tau)
        return v.detach().requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor) else v
    return op, tuple(map(leaf, args)), {k: leaf(v) for k, v in kw.items()}


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_the_op_each_neuron_calls_passes_opcheck(neuron, monkeypatch, auto_backend):
    n = NEURONS[neuron]
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(6, 2, 3, generator=gen) * n.input_scale + n.input_scale / 2).to(DEVICE).requires_grad_()
    params = {k: torch.tensor(v, device=DEVICE, requires_grad=True) for k, v in n.params.items()}
    lengths = torch.tensor([6, 3], device=DEVICE)
    op, args, kw = _captured_op_call(neuron, monkeypatch, x, lengths=lengths, **params)
    checks = ["test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic"]
    torch.library.opcheck(op, args, kw, test_utils=checks)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_each_neuron_compiles_fullgraph_to_eagers_numbers(neuron, auto_backend):
    torch._dynamo.reset()
    n = NEURONS[neuron]
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(5, 2, 4, generator=gen) * n.input_scale + n.input_scale / 2).to(DEVICE)
    results = []
    for compile_it in (False, True):
        torch.manual_seed(0)
        lif = n.make(step_mode="multi", learn_threshold=True).to(DEVICE)
        run = torch.compile(lif, fullgraph=True) if compile_it else lif
        xs = x.clone().requires_grad_()
        outs = run(xs)
        sum((o.float() * (i + 1)).sum() for i, o in enumerate(outs)).backward()
        results.append([*outs, xs.grad, *(p.grad for p in lif.parameters())])
    for eager, compiled in zip(*results):
        torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_each_family_compiles_ahead_of_time_with_a_traffic_case(neuron):
    family = NEURONS[neuron].family
    kernels = {f"{family}_fwd_kernel", f"{family}_bwd_kernel"}
    assert kernels <= set(aot.KERNELS)
    assert kernels <= {v.kernel for v in aot.variants()}
    assert kernels <= {case.variant.kernel for case in aot.TRAFFIC_CASES.values()}


def test_the_benchmark_times_every_neuron():
    timed = {case.name.split()[0] for case in suite(torch.device("cpu"), full=False)}
    assert set(NEURONS) <= timed
