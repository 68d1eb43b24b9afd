"""Bad input gets a clear exception naming the problem, before any kernel runs."""
import pytest
import torch

import tritonsnn
from tritonsnn.functional import leaky


@pytest.mark.parametrize("x,match", [
    (torch.ones(3, 4, dtype=torch.int64), "floating-point"),
    (torch.ones(3, 4, dtype=torch.bool), "floating-point"),
    (torch.tensor(1.0), "no time dimension"),
    ([[1.0]], "must be a torch.Tensor"),
])
def test_bad_x(backend, x, match):
    with pytest.raises((TypeError, ValueError), match=match):
        leaky(x, 0.9)


def test_bad_mem(backend):
    x = torch.ones(5, 3, 4)
    with pytest.raises(ValueError, match=r"mem has shape \(4,\).*\(3, 4\)"):
        leaky(x, 0.9, mem=torch.zeros(4))
    with pytest.raises(ValueError, match=r"mem has shape \(5, 3, 4\)"):
        leaky(x, 0.9, mem=torch.zeros(5, 3, 4))
    with pytest.raises(TypeError, match="mem must be a floating-point"):
        leaky(x, 0.9, mem=torch.zeros(3, 4, dtype=torch.int32))


@pytest.mark.parametrize("name", ["beta", "threshold", "graded_spikes_factor"])
def test_bad_parameter_shapes(backend, name):
    x = torch.ones(5, 3, 4)
    kwargs = {"beta": 0.9, name: torch.ones(3)}
    with pytest.raises(ValueError, match=rf"{name} has shape \(3,\), which does not broadcast"):
        leaky(x, **kwargs)
    kwargs[name] = torch.ones(2, 3, 4)  # broadcastable, but would enlarge the neuron shape
    with pytest.raises(ValueError, match=rf"{name} has shape \(2, 3, 4\)"):
        leaky(x, **kwargs)
    kwargs[name] = "0.5"
    with pytest.raises(TypeError, match=f"{name} must be a number or a tensor"):
        leaky(x, **kwargs)


def test_unknown_reset_mechanism(backend):
    with pytest.raises(ValueError, match="reset_mechanism must be one of 'subtract', 'zero', 'none'"):
        leaky(torch.ones(2, 3), 0.9, reset_mechanism="hard")
    with pytest.raises(ValueError, match="reset_mechanism"):
        tritonsnn.Leaky(beta=0.9, reset_mechanism="hard")


def test_tensors_on_different_devices(backend):
    x = torch.ones(2, 3)
    meta = torch.zeros(3, device="meta")
    with pytest.raises(ValueError, match="mem is on meta but the input is on cpu"):
        leaky(x, 0.9, mem=meta)
    with pytest.raises(ValueError, match="beta is on meta but the input is on cpu"):
        leaky(x, torch.tensor(0.9, device="meta"))


def test_backend_names():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        tritonsnn.set_backend("cuda")


def test_triton_backend_without_gpu_or_interpreter_is_refused(monkeypatch):
    from tritonsnn import backend

    monkeypatch.setattr(backend, "triton_interpreter_enabled", lambda: False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        backend.uses_triton(torch.device("cpu"), "triton")
    assert backend.uses_triton(torch.device("cpu"), "auto") is False
    assert backend.uses_triton(torch.device("cuda"), "auto") is True
    assert backend.uses_triton(torch.device("cuda"), "torch") is False
