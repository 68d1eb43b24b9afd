"""Test setup. Without a GPU the Triton kernels run in Triton's interpreter on CPU tensors, which
must be switched on before triton (or tritonsnn) is first imported."""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import snntorch  # noqa: E402

import tritonsnn  # noqa: E402

tritonsnn.register_ops()  # tests call torch.ops.tritonsnn.* directly (tests/test_import.py checks the lazy path)

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(autouse=True)
def _snntorch_forgets_its_neurons():
    """snnTorch 1.0.0 keeps every neuron it builds in a global list, which its class-level calls
    walk (`snntorch.utils.reset(net)` calls `Leaky.reset_hidden()`, which resets every Leaky ever
    built): a neuron a finished test left there, such as a DeltaLeaky whose state is None, would
    break a later test's reset. Each test leaves the list empty."""
    yield
    snntorch.SpikingNeuron.instances = []


@pytest.fixture(params=["triton", "torch"])
def backend(request):
    """Run a test once on the fused Triton kernels and once on the vectorised torch path."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend(request.param)
    yield request.param
    tritonsnn.set_backend(previous)


@pytest.fixture
def auto_backend():
    """The default backend ("auto": the kernels on CUDA, the torch path on CPU), as users run it."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("auto")
    yield
    tritonsnn.set_backend(previous)


@pytest.fixture
def nan_poison(monkeypatch):
    """Make every torch.empty / empty_like / new_empty return NaN-filled floating tensors, so an
    output element a kernel forgets to write shows up as NaN."""
    empty, empty_like, new_empty = torch.empty, torch.empty_like, torch.Tensor.new_empty

    def poisoned(t):
        if t.is_floating_point():
            t.fill_(float("nan"))
        return t

    monkeypatch.setattr(torch, "empty", lambda *a, **k: poisoned(empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: poisoned(empty_like(*a, **k)))
    monkeypatch.setattr(torch.Tensor, "new_empty", lambda self, *a, **k: poisoned(new_empty(self, *a, **k)))
