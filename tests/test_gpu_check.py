"""`perf/gpu_check.py --smoke`: the GPU run's every phase (but the test suite) at toy sizes on the
CPU, the kernels in Triton's interpreter, so that the script's own code is known to run before a
lent GPU's few minutes are spent on it. Its correctness checks must pass; its times mean nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the real run is perf/gpu_check.py itself")
def test_every_phase_of_the_gpu_run_runs_and_checks_out_at_toy_sizes(tmp_path):
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "perf" / "gpu_check.py"), str(tmp_path), "--smoke"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    phases = json.loads((tmp_path / "gpu_check.json").read_text())["phases"]
    assert set(phases) == {"large_shapes", "int64_offsets", "shd_layers", "recurrent_layers", "inhibition_and_slstm",
                           "bench"}
    assert all("result" in p for p in phases.values()), phases
    assert all(row["ok"] for row in phases["large_shapes"]["result"])
    assert phases["int64_offsets"]["result"]["ok"]
    for row in phases["recurrent_layers"]["result"] + phases["inhibition_and_slstm"]["result"]:
        assert row["spikes_differing"] == 0 and max(row["max_rel_diff"]) < 1e-4, row
    assert all("error" not in r for r in phases["bench"]["result"]["results"])


def test_the_smoke_run_refuses_to_start_without_the_interpreter(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, str(ROOT / "perf" / "gpu_check.py"), str(tmp_path), "--smoke"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "TRITON_INTERPRET=1" in proc.stderr
