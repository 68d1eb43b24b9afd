"""`python -m tritonsnn info`: the versions and the path each device takes (without Triton:
tests/test_without_triton.py)."""
import subprocess
import sys

import torch
import triton

import tritonsnn
from tritonsnn import info


def test_the_report_names_the_versions_and_each_devices_path():
    proc = subprocess.run([sys.executable, "-m", "tritonsnn", "info"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == f"tritonsnn {tritonsnn.__version__}"
    assert f"torch {torch.__version__}" in proc.stdout and f"triton {triton.__version__}" in lines
    assert any(line.startswith("cpu: torch path") for line in lines)


def test_the_kernel_check_compares_with_the_torch_path(backend):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # CPU: the interpreter
    assert info._kernels_run(device) == "yes"
    assert tritonsnn.get_backend() == backend  # the check leaves the backend as it found it


def test_arguments_are_refused():
    assert info.main(["--verbose"]) == 2
