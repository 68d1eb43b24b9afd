"""The static traffic check: the kernels' time loops, compiled for sm_90 without a GPU, move exactly
the bytes of the memory model, each tensor in one full-width vector access per thread and step.
A hidden extra pass, a stray reload, or a lost vectorisation fails here.

The compilation runs in a child process with TRITON_INTERPRET unset (the test process runs the
interpreter, which cannot compile)."""
import json
import os
import subprocess
import sys

import pytest

from tritonsnn import aot


@pytest.fixture(scope="module")
def measured():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "tritonsnn.aot", "--traffic", "--arch", "90"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_family_declares_its_traffic():
    """The memory model of each case (element sizes of the tensors its time loop reads and writes
    per neuron and step, and its scalar loads) sits beside the family's kernels, in
    `kernels/<family>/aot.py`; every catalogued family has cases, forward and backward."""
    for family in aot.FAMILIES:
        kernels = {case.variant.kernel for case in family.TRAFFIC.values()}
        assert kernels == {k.name for k in family.KERNELS}, family.__name__


@pytest.mark.parametrize("case", sorted(aot.TRAFFIC_CASES))
def test_time_loop_traffic_matches_the_model(measured, case):
    model = aot.TRAFFIC_CASES[case]
    loads, stores, scalars = model.loads, model.stores, model.scalars
    got = measured[case]
    per_thread = aot.BLOCK // (32 * aot.NUM_WARPS)  # neurons per thread
    # One vector access per tensor and step, as wide as the thread's slice of neurons.
    assert got["ld"]["widths"] == sorted([per_thread * e for e in loads] + [4] * scalars), got
    assert got["st"]["widths"] == sorted(per_thread * e for e in stores), got
    assert got["ld"]["bytes"] == sum(loads) + 4 * scalars / per_thread
    assert got["st"]["bytes"] == sum(stores)


def test_leaky_forward_plus_backward_bytes_per_neuron_step(measured):
    """The headline model: 24 B per neuron-step in fp32, 20 B with the membrane saved in bf16."""
    def total(fwd, bwd):
        return sum(measured[c][k]["bytes"] for c in (fwd, bwd) for k in ("ld", "st"))
    assert total("leaky_fwd", "leaky_bwd") == 24
    assert total("leaky_fwd_save_bf16", "leaky_bwd_save_bf16") == 20
