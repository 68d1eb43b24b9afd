"""Which implementation runs the fused ops: the Triton kernels or the vectorised torch path.

- ``"auto"`` (default): Triton kernels for CUDA tensors when Triton is installed, the torch
  implementation for everything else (CPU and MPS tensors in particular; on CPU Triton only has
  its slow interpreter). Triton is an optional dependency: Linux only (macOS and Windows get the
  torch path).
- ``"triton"``: always the Triton kernels. CPU tensors then run in the Triton interpreter, which
  needs ``TRITON_INTERPRET=1`` in the environment before triton is first imported (the test suite
  does this); it is slow and meant for testing the kernels without a GPU.
- ``"torch"``: always the torch implementation, on any device.

The environment variable ``TRITONSNN_BACKEND`` sets the initial value; :func:`set_backend` changes
it for the whole process.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import torch
from torch._subclasses.fake_tensor import is_fake

BACKENDS = ("auto", "triton", "torch")


def _checked(name: str, source: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} from {source}; choose one of {', '.join(BACKENDS)}")
    return name


_backend = _checked(os.environ.get("TRITONSNN_BACKEND", "auto"), "TRITONSNN_BACKEND")


def set_backend(name: str) -> None:
    """Select the implementation of every fused op: ``"auto"``, ``"triton"`` or ``"torch"``.

    Example::

        >>> import tritonsnn
        >>> tritonsnn.set_backend("torch")
        >>> tritonsnn.get_backend()
        'torch'
        >>> tritonsnn.set_backend("auto")
    """
    global _backend
    _backend = _checked(name, "set_backend()")


def get_backend() -> str:
    """The backend in force: ``"auto"``, ``"triton"`` or ``"torch"``.

    Example::

        >>> get_backend() in ("auto", "triton", "torch")
        True
    """
    return _backend


@functools.cache
def triton_installed() -> bool:
    """Whether Triton can be imported here (looked up, not imported)."""
    return importlib.util.find_spec("triton") is not None


def _no_triton(why: str) -> RuntimeError:
    return RuntimeError(f"{why}, but Triton is not installed: install it (`pip install triton`; Linux only) "
                        "or use set_backend('auto') or 'torch' for the torch path")


def triton_interpreter_enabled() -> bool:
    """True when the kernels were built by the Triton interpreter (TRITON_INTERPRET=1)."""
    from triton.runtime.interpreter import InterpretedFunction

    from tritonsnn.kernels.lif.kernels import lif_fwd_kernel

    return isinstance(lif_fwd_kernel, InterpretedFunction)


def uses_triton(device: torch.device, backend: str) -> bool:
    """Whether an op on `device` under `backend` launches the Triton kernels."""
    if backend == "torch":
        return False
    if backend == "auto":
        return device.type == "cuda" and triton_installed()
    if not triton_installed():
        raise _no_triton("backend 'triton' was asked for")
    if device.type == "cuda":
        return True
    if device.type == "cpu" and triton_interpreter_enabled():
        return True
    raise RuntimeError(
        f"backend 'triton' cannot run on {device.type} tensors: Triton kernels need a CUDA device, "
        "or CPU tensors with TRITON_INTERPRET=1 set before triton is first imported "
        "(the interpreter, for tests). Use set_backend('auto') or 'torch'."
    )


def values_readable(t: torch.Tensor) -> bool:
    """Whether host code may read a tensor's values: real CPU tensors only. Reading a GPU tensor
    would stall the device each call, and under torch.compile or torch.export the values are
    symbolic, where a read would break the graph."""
    return t.device.type == "cpu" and not torch.compiler.is_compiling() and not fake(t)


_PLAIN = (torch.Tensor, torch.nn.Parameter)


def fake(t: torch.Tensor) -> bool:
    """`is_fake(t)`, its walk skipped for the plain tensor types, which never are (a few µs a
    step saved)."""
    return type(t) not in _PLAIN and is_fake(t)


def is_one(t: torch.Tensor) -> bool:
    """True for a readable scalar equal to 1 (the common graded_spikes_factor: the torch paths
    skip a pass over the spikes)."""
    return values_readable(t) and t.numel() == 1 and t.item() == 1.0
