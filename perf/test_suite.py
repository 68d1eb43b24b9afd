"""The performance suite: every case of `tritonsnn.bench.suite(full=True)` — neuron-only forward,
backward and forward+backward for every neuron at several (T, neurons) sizes and dtypes, a padded
batch (Leaky with per-sample lengths, against running every step and masking the spikes), the Open
Neuromorphic Linear+LIF network, a conv SNN block — timed for tritonsnn and each competitor
(naive reference, torch.compile of it, snnTorch 1.0.0, SpikingJelly 2.0 when installed) in the
same run. Each result's extra_info records neuron-steps/s, bytes saved for the backward, the CUDA
peak memory and, on a GPU, the fraction of the copy bandwidth tritonsnn's modelled traffic uses.

Run: pytest perf --benchmark-only   (CPU sizes are scaled down; a GPU runs the issue's sizes)
"""
import pytest
import torch

from tritonsnn import bench

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
CASES = bench.suite(DEVICE, full=True)
BANDWIDTH = {}


@pytest.mark.parametrize("case,impl", [(c, i) for c in CASES for i in c.impls],
                         ids=[f"{c.name}-{i}".replace(" ", "_") for c in CASES for i in c.impls])
def test_case(benchmark, case, impl):
    benchmark.group = case.group
    try:
        run, x, g = bench.prepare(case, impl, DEVICE)
    except Exception as e:  # a competitor without this dtype or shape
        pytest.skip(f"{impl} cannot run {case.name}: {e!r}"[:300])
    setup, timed = bench.round_fns(case, run, x, g, DEVICE)
    rounds = 10 if DEVICE.type == "cuda" else 15
    benchmark.pedantic(timed, setup=setup, rounds=rounds, warmup_rounds=2)
    info = {"impl": impl, "neuron_steps": case.neuron_steps,
            "neuron_steps_per_s": case.neuron_steps / benchmark.stats.stats.median,
            **bench.memory(case, run, x, DEVICE)}
    if impl == bench.SUBJECT and DEVICE.type == "cuda" and case.model_bytes:
        if "bw" not in BANDWIDTH:
            BANDWIDTH["bw"] = bench.copy_bandwidth(DEVICE)
        info["bandwidth_fraction"] = case.model_bytes * info["neuron_steps_per_s"] / BANDWIDTH["bw"]
    benchmark.extra_info.update(info)
