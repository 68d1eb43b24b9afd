"""The static traffic check: the kernels' time loops, compiled for sm_90 without a GPU, move exactly
the bytes of the memory model, each tensor in one full-width vector access per thread and step.
A stray reload, a lost vectorisation, or a load or store too many or too few fails here.

The main loop of a kernel runs several steps per iteration (the forwards group four, the
backwards two at two neurons per thread; ptxas may unroll further): the steps an iteration covers
are its stores over the stores per step of the model, and every tensor must appear exactly that
many times.

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


def _per_step(model, got) -> tuple[int, float]:
    """(steps one iteration of the main loop covers, bytes per neuron-step it moves)."""
    per_step = model.stores or model.loads  # a loop that stores nothing is counted by its loads
    steps, rest = divmod(len(got["st"] if model.stores else got["ld"]), len(per_step))
    assert steps >= 1 and rest == 0, got
    per_thread = aot.BLOCK // (32 * aot.NUM_WARPS)  # neurons per thread
    return steps, (sum(got["ld"]) + sum(got["st"])) / steps / per_thread


@pytest.mark.parametrize("case", sorted(aot.TRAFFIC_CASES))
def test_time_loop_traffic_matches_the_model(measured, case):
    model = aot.TRAFFIC_CASES[case]
    got = measured[case]
    steps, per_neuron_step = _per_step(model, got)
    per_thread = aot.BLOCK // (32 * aot.NUM_WARPS)
    # One vector access per tensor and step, as wide as the thread's slice of neurons.
    assert sorted(got["ld"]) == sorted([per_thread * e for e in model.loads] * steps + [4] * (model.scalars * steps))
    assert sorted(got["st"]) == sorted([per_thread * e for e in model.stores] * steps)
    assert per_neuron_step == sum(model.loads) + sum(model.stores) + 4 * model.scalars / per_thread


def test_time_loops_hold_their_group_of_steps(measured):
    """Every kernel's main loop covers its group of steps (or a multiple, if ptxas unrolls) per
    iteration: four in the forwards; in the backwards GROUP, two at this config's two neurons per
    thread (`_launch.steps_ahead`), so that four elements per tensor are in flight."""
    from tritonsnn._launch import steps_ahead

    group = steps_ahead(aot.BLOCK, aot.NUM_WARPS)
    assert group * aot.BLOCK // (32 * aot.NUM_WARPS) == 4
    for case, model in aot.TRAFFIC_CASES.items():
        want = 4 if model.variant.kernel.endswith("_fwd_kernel") else group
        assert _per_step(model, measured[case])[0] % want == 0, case


def test_leaky_forward_plus_backward_bytes_per_neuron_step(measured):
    """The headline model: 24 B per neuron-step in fp32, 20 B with the membrane saved in bf16."""
    def total(fwd, bwd):
        return sum(_per_step(aot.TRAFFIC_CASES[c], measured[c])[1] for c in (fwd, bwd))
    assert total("leaky_fwd", "leaky_bwd") == 24
    assert total("leaky_fwd_save_bf16", "leaky_bwd_save_bf16") == 20
