"""The static GPU report (`python -m tritonsnn.aot --report FILE.json`) holds the limits the
kernels were shaped to, so they cannot regress unseen: for the default Leaky and Synaptic
variants, forward and backward, fp32 and bf16, on sm_80 and sm_90 and at every autotune config,
no spills, at most 40 registers, at least 75 % theoretical occupancy and at least four loads in
flight per thread in the time loop; for every reported variant, as many bytes in flight per SM.

The compilation runs in a child process with TRITON_INTERPRET unset (the test process runs the
interpreter, which cannot compile)."""
import json
import os
import subprocess
import sys

import pytest

from tritonsnn import aot
from tritonsnn._launch import CONFIGS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "tritonsnn.aot", "--report", str(path)],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(path.read_text())


def test_default_variants_keep_registers_occupancy_and_loads_in_flight(report):
    rows = [r for r in report["rows"] if r["name"] in aot.default_variants()]
    assert len(rows) == len(aot.default_variants()) * len(aot.REPORT_ARCHS) * len(CONFIGS)
    for r in rows:
        where = f"{r['name']} sm_{r['arch']} {r['block']}x{r['num_warps']}"
        assert r["spill_bytes"] == 0, where
        assert r["registers"] <= 40, where
        assert r["occupancy"] >= 0.75, where
        assert r["loads_before_store"] >= 4, where


def test_every_variant_keeps_the_defaults_bytes_in_flight(report):
    """Occupancy is a means: what hides the memory latency is the bytes in flight per SM (Little's
    law). Every reported variant of both families, the heavier ones below 75 % occupancy included
    (Synaptic or Alpha with learnable decays and lengths: more values per step held per thread),
    keeps at least as many bytes in flight per SM as the default variants, at every config."""
    defaults = [r for r in report["rows"] if r["name"] in aot.default_variants()]
    floor = {arch: min(r["bytes_in_flight_per_sm"] for r in defaults if r["arch"] == arch) for arch in aot.REPORT_ARCHS}
    assert {r["variant"].split("_")[0] for r in report["rows"]} == {"lif", "alpha"}
    assert [f"{r['name']} sm_{r['arch']} {r['block']}x{r['num_warps']}" for r in report["rows"]
            if r["bytes_in_flight_per_sm"] < floor[r["arch"]]] == []


def test_no_reported_variant_spills(report):
    assert [r["name"] for r in report["rows"] if r["spill_bytes"]] == []


def test_report_states_traffic_and_predictions(report):
    bytes_ = report["bytes_per_neuron_step"]
    assert bytes_["leaky_fwd"] + bytes_["leaky_bwd"] == 24
    assert bytes_["leaky_fwd_fp16"] + bytes_["leaky_bwd_fp16"] == 12
    assert "static predictions" in report["kind"]
    for arch, shapes in report["predicted_fwd_bwd_us"].items():
        assert all(t > 0 for t in shapes.values()), arch


def test_report_covers_the_recurrent_kernels(report):
    """Every default recurrent variant (RLeaky and RSynaptic, Linear and one-to-one, forward and
    backward) on both architectures, without spills; and the programs their SHD-sized layers
    launch: one per 16 rows with a Linear term (16 at B = 256), times the feature tiles with V."""
    rows = report["recurrent_rows"]
    assert sorted((r["name"], r["arch"]) for r in rows) == sorted(
        (name, arch) for name in aot.recurrent_variants() for arch in aot.REPORT_ARCHS)
    assert [f"{r['name']} sm_{r['arch']}" for r in rows if r["spill_bytes"]] == []
    assert all(0 < r["occupancy"] <= 1 for r in rows)
    sms = aot.REFERENCE_GPUS[90]["sms"]
    programs = report["recurrent_programs_per_sm"]["sm_90"]
    assert programs["B=256 F=200 linear"] * sms == 16
    assert programs["B=256 F=200 one_to_one"] * sms == 16 * 7
