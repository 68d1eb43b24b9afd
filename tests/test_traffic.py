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

# Per case, the element size in bytes of every tensor the time loop reads and writes once per
# neuron and step (fp32 unless named), and the scalar loads per thread and step (a gradient
# broadcast over the neurons is one value per step).
MODEL = {
    "leaky_fwd": ([4], [4, 4], 0),                    # x -> spikes, U
    "leaky_bwd": ([4, 4], [4], 0),                    # dL/dS, U[t-1] (also the next step's U) -> dx
    "leaky_bwd_mem_grad": ([4, 4, 4], [4], 0),        # + dL/dU from the returned membrane
    "leaky_bwd_summed_grad": ([4], [4], 1),           # dL/dS from spk.sum(): one value per step
    "leaky_fwd_immediate_reset": ([4], [4, 4, 4], 0),  # + the pre-reset membrane h
    "leaky_bwd_immediate_reset": ([4, 4], [4], 0),    # dL/dS, h -> dx (U[t-1] only feeds parameter grads)
    "leaky_fwd_fp16": ([2], [2, 2], 0),
    "leaky_bwd_fp16": ([2, 2], [2], 0),
    "leaky_fwd_save_bf16": ([4], [4, 2], 0),          # save_dtype=bf16: U stored in 2 bytes
    "leaky_bwd_save_bf16": ([4, 2], [4], 0),
    "leaky_fwd_bool_spikes": ([4], [1, 4], 0),        # spike_dtype=torch.bool: 1-byte spikes
    "synaptic_fwd": ([4], [4, 4, 4], 0),              # x -> synaptic current, spikes, U
    "synaptic_bwd": ([4, 4], [4], 0),
    "alpha_fwd": ([4], [4, 4, 4, 4], 0),              # x -> spikes, excitatory, inhibitory, U
    "alpha_fwd_fp16_keep_currents": ([2], [2, 2, 2, 2, 4, 4], 0),  # + both currents in fp32
    "alpha_bwd": ([4, 4], [4], 0),
    # Per-sample lengths (loaded once, before the loop) change nothing inside it: same bytes,
    # same full-width vectors (the per-neuron end is a select, not a load mask).
    "leaky_fwd_lengths": ([4], [4, 4], 0),
    "leaky_bwd_lengths": ([4, 4], [4], 0),
    "leaky_bwd_summed_grad_lengths": ([4], [4], 1),
    "synaptic_bwd_lengths": ([4, 4, 4, 4], [4], 0),  # + dL/dsyn and I[t-1] (learnable alpha)
    "alpha_bwd_lengths": ([4, 4, 4, 4], [4], 0),     # + E[t-1] and I[t-1] (learnable decays)
    "alpha_fwd_lengths": ([4], [4, 4, 4, 4], 0),
}


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
    loads, stores, scalars = MODEL[case]
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
