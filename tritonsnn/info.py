"""`python -m tritonsnn info`: what a bug report needs — versions, the backend each device gets,
the GPU and whether the fused kernels compile and run on it."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

import torch

import tritonsnn
from tritonsnn.backend import get_backend, triton_installed, uses_triton


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _devices() -> list[torch.device]:
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append(torch.device("mps"))
    return devices


def _path(device: torch.device) -> str:
    try:
        return "Triton kernels" if uses_triton(device, get_backend()) else "torch path"
    except RuntimeError as e:
        return f"none: {e}"


def _kernels_run(device: torch.device) -> str:
    """A small Leaky forward and backward through the kernels, checked against the torch path."""
    x = torch.rand(8, 4, 33, device=device, requires_grad=True)
    results = []
    previous = get_backend()
    try:
        for backend in ("triton", "torch"):
            tritonsnn.set_backend(backend)
            spk, mem = tritonsnn.functional.leaky(x, 0.9, threshold=0.5)
            (grad,) = torch.autograd.grad((spk + mem).sum(), x)
            results.append((spk, mem, grad))
    except Exception as e:  # a report, not a crash: say what failed
        return f"no ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    finally:
        tritonsnn.set_backend(previous)
    same = all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(*results))
    return "yes" if same else "they run, but differ from the torch path"


def report() -> str:
    """The report, as text."""
    lines = [f"tritonsnn {tritonsnn.__version__}",
             f"python {platform.python_version()} ({platform.system()} {platform.machine()})",
             f"torch {torch.__version__} (CUDA {torch.version.cuda or 'not built'})",
             f"triton {_version('triton') if triton_installed() else 'not installed'}",
             f"backend setting: {get_backend()}"
             + (" (TRITON_INTERPRET=1: the Triton backend runs CPU tensors in the interpreter)"
                if os.environ.get("TRITON_INTERPRET") == "1" else "")]
    for device in _devices():
        line = f"{device}: {_path(device)}"
        if device.type == "cuda":
            major, minor = torch.cuda.get_device_capability(device)
            line += f"; {torch.cuda.get_device_name(device)}, compute capability {major}.{minor}"
            line += "; fused kernels compile and match the torch path: " + (
                _kernels_run(device) if triton_installed() else "no (Triton is not installed)")
        lines.append(line)
    if not torch.cuda.is_available():
        lines.append("no CUDA device: the fused kernels do not run here (`python -m tritonsnn.aot` compiles "
                     "them for sm_80 and sm_90 without one)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m tritonsnn info", file=sys.stderr)
        return 2
    print(report())
    return 0
