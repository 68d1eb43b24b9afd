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

# Bytes per neuron-step read and written inside the time loop (fp32 unless named).
MODEL = {
    "leaky_fwd": (4, 8),                   # x -> spikes, U
    "leaky_bwd": (8, 4),                   # dL/dS, U[t-1] (also the next step's U) -> dx
    "leaky_bwd_mem_grad": (12, 4),         # + dL/dU from the returned membrane
    "leaky_bwd_summed_grad": (5, 4),       # dL/dS broadcast (spk.sum()): one 4-byte value per thread
    "leaky_fwd_immediate_reset": (4, 12),  # + the pre-reset membrane h
    "leaky_bwd_immediate_reset": (8, 4),   # dL/dS, h -> dx (U[t-1] only feeds parameter gradients)
    "leaky_fwd_fp16": (2, 4),
    "leaky_bwd_fp16": (4, 2),
    "synaptic_fwd": (4, 12),               # x -> synaptic current, spikes, U
    "synaptic_bwd": (8, 4),
    "alpha_fwd": (4, 16),                  # x -> spikes, excitatory, inhibitory, U
    "alpha_bwd": (8, 4),
}
# Scalar loads per thread and step: a gradient broadcast over the neurons is one value per step.
SCALAR_LOADS = {"leaky_bwd_summed_grad": 1}


@pytest.fixture(scope="module")
def measured():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "tritonsnn.aot", "--traffic", "--arch", "90"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_case_has_a_model():
    assert set(MODEL) == set(aot.TRAFFIC_CASES)


@pytest.mark.parametrize("case", sorted(MODEL))
def test_time_loop_traffic_matches_the_model(measured, case):
    loads, stores = MODEL[case]
    got = measured[case]
    assert (got["ld"]["bytes"], got["st"]["bytes"]) == (loads, stores), got
    per_thread = aot.BLOCK // (32 * aot.NUM_WARPS)
    element = 2 if case.endswith("fp16") else 4
    # One vector access per tensor and step, as wide as the thread's slice of neurons.
    scalars = SCALAR_LOADS.get(case, 0)
    vectors = [w for w in got["ld"]["widths"] if w != per_thread * element]
    assert vectors == [element] * scalars, got
    assert set(got["st"]["widths"]) == {per_thread * element}, got


def test_leaky_forward_plus_backward_is_24_bytes_per_neuron_step(measured):
    total = sum(measured[c][k]["bytes"] for c in ("leaky_fwd", "leaky_bwd") for k in ("ld", "st"))
    assert total == 24
