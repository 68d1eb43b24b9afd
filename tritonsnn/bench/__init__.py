"""Benchmarks of the fused neurons against their competitors, shared by `python -m tritonsnn bench`
and the pytest-benchmark suite in `perf/`.

Every case is timed for every implementation in the same run, round by round in turn, so speed
*ratios* compare like with like on any machine and stay steady on a shared one. Implementations:
tritonsnn, the naive reference (`tritonsnn.reference`), torch.compile of the reference (T <= 128:
it unrolls the time loop), snnTorch 1.0.0 (its per-step loop) and SpikingJelly 2.0 (multi-step
LIFNode, its Triton backend on CUDA) when installed; for the padded batch, those without
per-sample lengths run every step and mask the spikes; the stepped cases run the tutorials' loop,
one single-step call per time step, for tritonsnn's modules, the reference and snnTorch; the
recurrent cases (an RLeaky layer, the SHD and sparch-like networks) run tritonsnn's multi-step
RLeaky, the reference on the same layout and snnTorch's per-step loop. Each result records the median
and best time, neuron-steps per second, bytes saved for the backward, the CUDA peak memory, and on
a GPU the bytes tritonsnn moves per the memory model (kernels/README.md) as a fraction of the copy
bandwidth measured in the same run.

    python -m tritonsnn bench [--device cuda] [--plot FILE.png] [--check] [--json FILE] [--steady-allocator]

A run allocates host memory as users' scripts do; the gate (and `--steady-allocator`) keeps freed
memory mapped instead, which steadies CPU ratios (`timing.steady_allocator`); the report says which.

`--check` compares each forward+backward case's ratio (reference time / tritonsnn time, both
measured now) with `perf/baselines/<device>.json` and fails when one falls more than 25 % below
its baseline in two timings: a case that falls below is timed once more before it counts.

The parts: `cases` (the workloads and their implementations), `timing` (interleaved rounds, the
steady allocator, ratios), `memory` (bytes saved for the backward, the SHD-like network's
activation memory) and `cli` (the table, the baseline gate, the plot and `main`).
"""
from tritonsnn.bench.cases import (REFERENCE, SUBJECT, Case, neuron_case, recurrent_impls, recurrent_layer_impls,
                                   stepped_impls, suite)
from tritonsnn.bench.cli import BASELINES, baseline_ratios, check, confirmed, fallen, main, plot, table
from tritonsnn.bench.memory import activation_bytes, counting_saved, memory, shd_network
from tritonsnn.bench.timing import (copy_bandwidth, prepare, ratios, round_fns, run_suite, steady_allocator,
                                    time_case, versions)

__all__ = ["BASELINES", "REFERENCE", "SUBJECT", "Case", "activation_bytes", "baseline_ratios", "check", "confirmed", "fallen",
           "copy_bandwidth", "counting_saved", "main", "memory", "neuron_case", "plot", "prepare", "ratios",
           "recurrent_impls", "recurrent_layer_impls", "round_fns", "run_suite", "shd_network", "steady_allocator",
           "stepped_impls", "suite", "table", "time_case",
           "versions"]
