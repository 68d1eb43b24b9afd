"""Activation memory of a long-sequence training step: the SHD-like network (700 inputs, two
hidden layers of 256 Leaky or Synaptic neurons, 20 outputs, batch 32) at T = 1000 and 5000 on the
CPU, for tritonsnn (1-bit saved spikes, bf16 membranes), tritonsnn with fp32 saving, snnTorch
1.0.0 and SpikingJelly 2.0 (Leaky only). Each case runs in a fresh process; extra_info records
the bytes saved for the backward and the growth of the process's peak RSS during the step (the
[T, 32, 700] input included, the same for all).

Run: pytest perf/test_memory.py --benchmark-only
"""
import json
import subprocess
import sys

import pytest

CASES = [(neuron, impl, T) for T in (1000, 5000) for neuron in ("leaky", "synaptic")
         for impl in ("tritonsnn", "tritonsnn_fp32", "snntorch", "spikingjelly")
         if not (impl == "spikingjelly" and neuron == "synaptic")]

_STEP = """
import json, resource, sys
from tritonsnn import bench
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = bench.activation_bytes(sys.argv[1], sys.argv[2], int(sys.argv[3]))
result["peak_rss_bytes"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps(result))
"""


@pytest.mark.parametrize("neuron,impl,T", CASES, ids=[f"{n}-{i}-T{t}" for n, i, t in CASES])
def test_training_step_memory(benchmark, neuron, impl, T):
    if impl == "spikingjelly":
        pytest.importorskip("spikingjelly")
    benchmark.group = f"memory {neuron} SHD-like T={T}"
    results = []

    def step():
        proc = subprocess.run([sys.executable, "-c", _STEP, impl, neuron, str(T)], capture_output=True,
                              text=True, timeout=1200)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(step, rounds=1, iterations=1)
    benchmark.extra_info.update(impl=impl, **{k: v for k, v in results[-1].items() if k != "impl"})
