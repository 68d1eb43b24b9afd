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
    with pytest.raises(ValueError, match=r"mem has shape \(3,\).*\(3, 4\).*or broadcast to it"):
        leaky(x, 0.9, mem=torch.zeros(3))
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


@pytest.mark.parametrize("shape", [(4,), (1, 4), (3, 1), (1,), (1, 1, 3, 4)])
def test_a_state_that_broadcasts_is_used_as_broadcast(backend, shape):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 4, generator=gen) * 2
    small = torch.rand(shape, generator=gen, requires_grad=True)
    core = shape[-2:]  # without the leading size-1 dims beyond the neuron shape's two
    full = small.detach().reshape(core).expand(3, 4).clone().requires_grad_()
    got, want = leaky(x, 0.9, mem=small), leaky(x, 0.9, mem=full)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    sum(s.sum() for s in got).backward()
    sum(s.sum() for s in want).backward()
    torch.testing.assert_close(small.grad, full.grad.sum_to_size(core).reshape(shape))


def test_a_module_takes_snntorchs_one_element_state_for_a_0d_input(backend):
    import snntorch

    outputs = []
    for lib in (snntorch, tritonsnn):  # snnTorch's tutorial 3 opens with this call
        lif = lib.Leaky(beta=0.8)
        mem, mems = torch.zeros(1), []
        for _ in range(4):
            spk, mem = lif(torch.tensor(0.7), mem)
            mems.append((spk, mem))
        outputs.append(mems)
    for (spk, mem), (ref_spk, ref_mem) in zip(outputs[1], outputs[0]):
        assert spk.shape == ref_spk.shape == () and torch.equal(spk, ref_spk)
        torch.testing.assert_close(mem, ref_mem)
    with pytest.raises(ValueError, match=r"mem has shape \(2,\) but this input needs \(3,\)"):
        tritonsnn.Leaky(beta=0.8)(torch.ones(3), torch.zeros(2))
