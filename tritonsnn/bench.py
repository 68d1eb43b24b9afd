"""Benchmarks of the fused neurons against their competitors, shared by `python -m tritonsnn bench`
and the pytest-benchmark suite in `perf/`.

Every case is timed for every implementation in the same run, round by round in turn, so speed
*ratios* compare like with like on any machine and stay steady on a shared one. Implementations:
tritonsnn, the naive reference (`tritonsnn.reference`), torch.compile of the reference (T <= 128:
it unrolls the time loop), snnTorch 1.0.0 (its per-step loop) and SpikingJelly 2.0 (multi-step
LIFNode, its Triton backend on CUDA) when installed; for the padded batch, those without
per-sample lengths run every step and mask the spikes. Each result records the median
and best time, neuron-steps per second, bytes saved for the backward, the CUDA peak memory, and on
a GPU the bytes tritonsnn moves per the memory model (kernels/README.md) as a fraction of the copy
bandwidth measured in the same run.

    python -m tritonsnn bench [--device cuda] [--plot FILE.png] [--check] [--json FILE]

`--check` compares each forward+backward case's ratio (reference time / tritonsnn time, both
measured now) with `perf/baselines/<device>.json` and fails when one falls more than 25 % below
its baseline.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import tritonsnn
from tritonsnn import reference
from tritonsnn._ends import past_end

BASELINES = Path(__file__).resolve().parent.parent / "perf" / "baselines"
TOLERANCE = 0.25  # --check fails below (1 - TOLERANCE) x baseline ratio
SUBJECT, REFERENCE = "tritonsnn", "reference"

# Bytes tritonsnn moves per neuron-step (fp32; half for 2-byte dtypes): the kernels' time loops as
# tests/test_traffic.py pins them, with an incoming spike gradient of full size. Lapicque adds
# a pass scaling x by dt/C, and its gradient back.
MODEL_BYTES = {"leaky": (12, 12), "synaptic": (16, 12), "lapicque": (20, 20), "alpha": (20, 12)}

Runner = Callable[[torch.Tensor], torch.Tensor]  # x (a fresh leaf) -> the output to backprop


def _neuron_fns(neuron: str) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The layer's spikes from x: [T, B, N], per implementation (fused and the naive reference)."""
    fused = {"leaky": lambda x: tritonsnn.functional.leaky(x, 0.9)[0],
             "synaptic": lambda x: tritonsnn.functional.synaptic(x, 0.8, 0.9)[0],
             "lapicque": lambda x: tritonsnn.functional.lapicque(x, beta=0.9)[0],
             "alpha": lambda x: tritonsnn.functional.alpha(x, 0.9, 0.8)[0]}[neuron]
    naive = {"leaky": lambda x: reference.leaky(x, 0.9)[0],
             "synaptic": lambda x: reference.synaptic(x, 0.8, 0.9)[0],
             "lapicque": lambda x: reference.lapicque(x, beta=0.9)[0],
             "alpha": lambda x: reference.alpha(x, 0.9, 0.8)[0]}[neuron]
    return {SUBJECT: fused, REFERENCE: naive}


def _snntorch_neuron(neuron: str):
    import snntorch

    lif = {"leaky": lambda: snntorch.Leaky(beta=0.9),
           "synaptic": lambda: snntorch.Synaptic(alpha=0.8, beta=0.9),
           "lapicque": lambda: snntorch.Lapicque(beta=0.9),
           "alpha": lambda: snntorch.Alpha(alpha=0.9, beta=0.8)}[neuron]()
    init = {"leaky": lambda: [lif.init_leaky()], "synaptic": lambda: list(lif.init_synaptic()),
            "lapicque": lambda: [lif.init_lapicque()], "alpha": lambda: list(lif.init_alpha())}[neuron]

    def run(x):  # snnTorch's per-step loop over the input, its fastest form
        states, spikes = init(), []
        for x_t in x:
            spk, *states = lif(x_t, *states)
            spikes.append(spk)
        return torch.stack(spikes)
    return run


def _spikingjelly_leaky(device: torch.device):
    from spikingjelly.activation_based import neuron, surrogate

    # The closest LIFNode: H = 0.9 V + X (tau = 10, decay_input=False), soft reset by the
    # threshold (detached), ATan(alpha=2) surrogate. It subtracts the threshold before the next
    # step's decay where snnTorch subtracts it after, so its spikes differ slightly: the same
    # workload, not the same numbers.
    kwargs = dict(tau=10.0, decay_input=False, v_reset=None, detach_reset=True,
                  surrogate_function=surrogate.ATan(), step_mode="m")
    if device.type == "cuda":
        kwargs["backend"] = "triton"
    lif = neuron.LIFNode(**kwargs).to(device)

    def run(x):
        lif.reset()
        return lif(x)
    return run


def neuron_impls(neuron: str, device: torch.device, compiled: bool) -> dict[str, Runner]:
    impls: dict[str, Runner] = dict(_neuron_fns(neuron))
    if compiled:
        impls["reference_compiled"] = torch.compile(impls[REFERENCE])
    try:
        impls["snntorch"] = _snntorch_neuron(neuron)
    except ImportError:
        pass
    if neuron == "leaky":
        try:
            impls["spikingjelly"] = _spikingjelly_leaky(device)
        except (ImportError, TypeError):
            pass
    return impls


def padded_impls(shape: tuple, device: torch.device) -> dict[str, Runner]:
    """Leaky over a padded batch whose samples end at lengths between T/2 and T: tritonsnn and the
    reference with `lengths`, and, as one pads by hand without them, tritonsnn, snnTorch and
    SpikingJelly over all T steps with the spikes masked afterwards (the same spikes, and the same
    gradients, within each length)."""
    T, B = shape[:2]
    lengths = torch.randint(T // 2, T + 1, (B,), generator=torch.Generator().manual_seed(0)).to(device)
    mask = (~past_end(lengths, shape)).float()  # [T, B, 1]
    impls: dict[str, Runner] = {SUBJECT: lambda x: tritonsnn.functional.leaky(x, 0.9, lengths=lengths)[0],
                                REFERENCE: lambda x: reference.leaky(x, 0.9, lengths=lengths)[0]}
    for name, run in neuron_impls("leaky", device, compiled=False).items():
        masked = "tritonsnn_masked" if name == SUBJECT else name
        if name != REFERENCE:
            impls[masked] = lambda x, run=run: run(x) * mask
    return impls


class _LinearLIF(nn.Module):
    """The Open Neuromorphic benchmark's network: Linear(n, n), then one LIF layer."""

    def __init__(self, n: int, lif: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.lif = lif

    def forward(self, x):
        return self.lif(self.fc(x))


class _ConvLIF(nn.Module):
    """A conv SNN block: Conv2d over [T*B, C, H, W], then a multi-step neuron over [T, B, ...]."""

    def __init__(self, channels: int, lif: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.lif = lif

    def forward(self, x):
        y = self.conv(x.flatten(0, 1))
        return self.lif(y.reshape(x.shape[0], x.shape[1], *y.shape[1:]))


def network_impls(kind: str, width: int, device: torch.device, compiled: bool) -> dict[str, Runner]:
    """The Linear+LIF (width n) or conv (width = channels) network with each neuron implementation."""
    layer = _LinearLIF if kind == "linear" else _ConvLIF
    impls = {}
    for name, lif in neuron_impls("leaky", device, compiled).items():
        torch.manual_seed(0)
        impls[name] = layer(width, lif).to(device)
    return impls


@dataclass
class Case:
    name: str
    group: str  # what the ratios compare within: one workload
    mode: str  # "fwd", "bwd" or "fwd+bwd"
    shape: tuple
    dtype: torch.dtype
    impls: dict
    neuron_steps: int
    model_bytes: float | None = None  # per neuron-step, for the bandwidth fraction
    extra: dict = field(default_factory=dict)


COMPILE_MAX_T = 128  # torch.compile unrolls the reference's time loop: beyond this, compiling dominates


def _neuron_case(neuron, mode, shape, dtype, device, compiled) -> Case:
    size = torch.finfo(dtype).bits // 8
    fwd, bwd = MODEL_BYTES[neuron]
    model = {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}[mode] * size / 4
    name = f"{neuron} {mode} [{','.join(map(str, shape))}] {str(dtype).removeprefix('torch.')}"
    return Case(name, name, mode, shape, dtype, neuron_impls(neuron, device, compiled and shape[0] <= COMPILE_MAX_T),
                shape[0] * shape[1] * shape[2], model)


def suite(device: torch.device, full: bool) -> list[Case]:
    """The cases: `full` is the perf suite, otherwise the short run of `python -m tritonsnn bench`
    (and of the regression check)."""
    gpu = device.type == "cuda"
    neurons = ("leaky", "synaptic", "lapicque", "alpha")
    shapes = [(32, 64, 65536)] if gpu else [(25, 128, 1000)]
    if full:
        shapes += [(128, 16, 16384), (512, 16, 4096)] if gpu else [(100, 16, 1000), (25, 16, 256)]
    # Low precision: bf16 and fp16 on a GPU, bf16 (the CPU's) on the main shape in the full run.
    dtypes = [torch.float32] + ([torch.bfloat16, torch.float16] if gpu and full else [])
    if gpu and not full:
        dtypes.append(torch.bfloat16)
    cases = []
    for neuron in neurons:
        for shape in shapes if full else shapes[:1]:
            extra = [torch.bfloat16] if full and not gpu and shape == shapes[0] else []
            for dtype in dtypes + extra:
                for mode in ("fwd", "bwd", "fwd+bwd") if full or neuron == "leaky" else ("fwd+bwd",):
                    cases.append(_neuron_case(neuron, mode, shape, dtype, device, full))
    shape = shapes[0]
    name = f"leaky padded fwd+bwd [{','.join(map(str, shape))}] float32"
    cases.append(Case(name, name, "fwd+bwd", shape, torch.float32, padded_impls(shape, device),
                      shape[0] * shape[1] * shape[2], sum(MODEL_BYTES["leaky"])))
    widths = ((4096, 8192, 16384) if full else (4096,)) if gpu else ((256, 512) if full else (256,))
    T = 500 if gpu else 100
    for n in widths:
        name = f"linear+leaky fwd+bwd B=16 T={T} n={n}"
        cases.append(Case(name, name, "fwd+bwd", (T, 16, n), torch.float32,
                          network_impls("linear", n, device, full and T <= COMPILE_MAX_T), T * 16 * n))
    T, B, C, H = (4, 32, 128, 32) if gpu else (4, 4, 32, 16)
    name = f"conv+leaky fwd+bwd T={T} B={B} C={C} {H}x{H}"
    cases.append(Case(name, name, "fwd+bwd", (T, B, C, H, H), torch.float32,
                      network_impls("conv", C, device, full), T * B * C * H * H))
    return cases


def steady_allocator() -> None:
    """Keep freed host memory mapped in this process (glibc's mallopt), as jemalloc or tcmalloc
    setups do. glibc otherwise returns every sequence-sized buffer to the OS on free, and the
    page faults of the next allocation, which vary with the machine's load, dominate CPU timings
    and make ratios swing by 2x between runs. Applies to every implementation alike; a no-op
    where glibc is absent."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return
    if mallopt is not None:
        mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: serve buffers up to 1 GiB from the heap
        mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD: do not give the heap's top back to the OS


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def counting_saved(exclude=()):
    """Within the block, record what autograd saves for the backward: yields a dict, storage ->
    bytes (distinct storages, so views of one tensor count once), without the storages of the
    tensors in `exclude` (parameters). Sum its values for the bytes saved."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield seen


def saved_bytes(run: Runner, x: torch.Tensor) -> int:
    """Bytes the forward keeps for the backward (distinct storages, parameters excluded)."""
    params = list(run.parameters()) if hasattr(run, "parameters") else []
    with counting_saved(params) as seen:
        out = run(x.detach().requires_grad_())
    del out
    return sum(seen.values())


def prepare(case: Case, impl: str, device: torch.device):
    """(run, x, g): the implementation, its input, and a full-size incoming gradient for the
    backward (a broadcast one, from `.sum()`, would flatter the fused kernels)."""
    run = case.impls[impl]
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.randn(case.shape, generator=gen) * 0.5 + 0.3).to(device=device, dtype=case.dtype)
    with torch.no_grad():
        g = torch.randn(run(x).shape, generator=gen).to(device=device, dtype=case.dtype)
    return run, x, g


def round_fns(case: Case, run: Runner, x: torch.Tensor, g: torch.Tensor, device: torch.device):
    """(setup, timed): one round is `timed(*setup())`; setup makes a fresh leaf input (and runs the
    forward, for a backward-only case), timed runs the measured part and waits for the device."""
    def setup():
        xs = x.detach().requires_grad_()
        if case.mode == "bwd":
            out = run(xs)
            _sync(device)
            return (out,), {}
        return (xs,), {}

    def timed(arg):
        out = arg if case.mode == "bwd" else run(arg)
        if case.mode != "fwd":
            out.backward(g)
        _sync(device)
    return setup, timed


def time_case(case: Case, impl: str, device: torch.device, rounds: int, warmup: int = 3) -> dict:
    """Times one implementation of a case (median and best of `rounds`) and measures its memory."""
    (result,) = time_interleaved(case, [impl], device, rounds, warmup)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def time_interleaved(case: Case, impls, device: torch.device, rounds: int, warmup: int = 3) -> list[dict]:
    """Times implementations of a case round by round in turn (A B C A B C ...), so that a
    transient slowdown of a shared machine hits them alike and their ratios stay steady. One
    result per implementation: times and memory, or the error it raised."""
    prepared, results = {}, {}
    for impl in impls:
        try:
            run, x, g = prepare(case, impl, device)
            prepared[impl] = (run, x, *round_fns(case, run, x, g, device))
        except Exception as e:  # a competitor that cannot run this case is reported, not fatal
            results[impl] = {"case": case.name, "group": case.group, "impl": impl, "error": repr(e)[:200]}
    times: dict[str, list[float]] = {impl: [] for impl in prepared}
    for i in range(warmup + rounds):
        for impl in list(prepared):
            _, _, setup, timed = prepared[impl]
            try:
                args, _ = setup()
                start = time.perf_counter()
                timed(*args)
                elapsed = time.perf_counter() - start
            except Exception as e:
                results[impl] = {"case": case.name, "group": case.group, "impl": impl, "error": repr(e)[:200]}
                del prepared[impl]
                continue
            del args
            if i >= warmup:
                times[impl].append(elapsed)
    for impl, (run, x, setup, timed) in prepared.items():
        base = 0
        if device.type == "cuda":  # the peak of one more round, on its own
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            args, _ = setup()
            timed(*args)
            del args
        r = {"case": case.name, "group": case.group, "impl": impl, "median_s": statistics.median(times[impl]),
             "best_s": min(times[impl]), "rounds": rounds}
        r.update(memory(case, run, x, device, base))
        r["neuron_steps_per_s"] = case.neuron_steps / r["median_s"]
        results[impl] = r
    return [results[impl] for impl in impls]


def memory(case: Case, run: Runner, x: torch.Tensor, device: torch.device, base: int = 0) -> dict:
    """Bytes saved for the backward, and on CUDA the peak allocated above `base` so far."""
    out = {"saved_bytes": saved_bytes(run, x)}
    if device.type == "cuda":
        out["peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
    return out


def copy_bandwidth(device: torch.device) -> float | None:
    """Device memory bandwidth in bytes/s, as a large tensor copy (read + write) achieves it."""
    if device.type != "cuda":
        return None
    src = torch.empty(256 * 2**20, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    _sync(device)
    start, n = time.perf_counter(), 20
    for _ in range(n):
        dst.copy_(src)
    _sync(device)
    return 2 * src.numel() * 4 * n / (time.perf_counter() - start)


def run_suite(device: torch.device, full: bool = False, rounds: int = 10,
              select: str | None = None, seconds: float | None = None) -> dict:
    """Every case and implementation, timed in one run. Returns the results and the ratios.
    With `seconds`, cases not started by then are listed as skipped."""
    bandwidth = copy_bandwidth(device)
    results = []
    deadline = None if seconds is None else time.monotonic() + seconds
    for case in suite(device, full):
        if select and not re.search(select, case.name):
            continue
        if deadline is not None and time.monotonic() > deadline:
            results.append({"case": case.name, "group": case.group, "impl": SUBJECT, "error": "skipped: time budget"})
            continue
        for r in time_interleaved(case, list(case.impls), device, rounds):
            if r["impl"] == SUBJECT and bandwidth and case.model_bytes and "median_s" in r:
                r["bandwidth_fraction"] = case.model_bytes * case.neuron_steps / r["median_s"] / bandwidth
            results.append(r)
    return {"device": device_name(device), "versions": versions(), "copy_bandwidth": bandwidth,
            "results": results, "ratios": ratios(results)}


def ratios(results: list[dict], key: str = "median_s") -> dict[str, dict[str, float]]:
    """{case: {competitor: its time / tritonsnn's time}} (above 1: tritonsnn is faster)."""
    by_case: dict[str, dict[str, float]] = {}
    for r in results:
        if key in r:
            by_case.setdefault(r["case"], {})[r["impl"]] = r[key]
    return {case: {impl: t / times[SUBJECT] for impl, t in times.items() if impl != SUBJECT}
            for case, times in by_case.items() if SUBJECT in times}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")
    return "cpu"


def versions() -> dict:
    import triton

    return {"tritonsnn": getattr(tritonsnn, "__version__", "0.1.0"), "torch": torch.__version__,
            "triton": triton.__version__}


def table(report: dict) -> str:
    """The results as a text table: per case, tritonsnn's time and each competitor's, with ratios."""
    lines = [f"device: {report['device']}" + (f", copy bandwidth {report['copy_bandwidth'] / 1e9:.0f} GB/s"
                                              if report["copy_bandwidth"] else "")]
    by_case: dict[str, dict[str, dict]] = {}
    for r in report["results"]:
        by_case.setdefault(r["case"], {})[r["impl"]] = r
    for case, impls in by_case.items():
        mine = impls.get(SUBJECT, {})
        if "median_s" not in mine:
            lines.append(f"{case}: tritonsnn failed: {mine.get('error')}")
            continue
        head = f"{case}: tritonsnn {mine['median_s'] * 1e3:.2f} ms"
        if "bandwidth_fraction" in mine:
            head += f" ({mine['bandwidth_fraction']:.0%} of copy bandwidth)"
        lines.append(head)
        for impl, r in impls.items():
            if impl == SUBJECT:
                continue
            if "median_s" in r:
                lines.append(f"    {impl:<20} {r['median_s'] * 1e3:9.2f} ms  tritonsnn {r['median_s'] / mine['median_s']:5.2f}x faster")
            else:
                lines.append(f"    {impl:<20} failed: {r['error']}")
    return "\n".join(lines)


def check(report: dict, baseline_file: Path) -> list[str]:
    """Failures: cases whose ratio against the reference fell more than TOLERANCE below the
    baseline's (best-of-rounds times, the least noisy statistic on a shared machine)."""
    baseline = json.loads(baseline_file.read_text())["ratios"]
    now = ratios(report["results"], key="best_s")
    failures = []
    for case, expected in baseline.items():
        got = now.get(case, {}).get(REFERENCE)
        if got is None:
            failures.append(f"{case}: not measured")
        elif got < (1 - TOLERANCE) * expected:
            failures.append(f"{case}: {got:.2f}x the reference, baseline {expected:.2f}x")
    return failures


def baseline_ratios(report: dict) -> dict:
    """The gated ratios: forward+backward cases (a training step's work). Forward-only and
    backward-only cases are reported but not gated: a few milliseconds each, their ratios swing
    by 30 % between runs on a shared 2-core machine."""
    return {case: round(r[REFERENCE], 3) for case, r in ratios(report["results"], key="best_s").items()
            if REFERENCE in r and " fwd+bwd" in case}


def plot(device: torch.device, path: str, rounds: int) -> None:
    """Leaky forward+backward time against T and against the neuron count, for tritonsnn, the
    reference and snnTorch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gpu = device.type == "cuda"
    base_t, base_n, batch = (64, 65536, 16) if gpu else (25, 1000, 16)
    sweeps = {"T": [8, 16, 32, 64, 128] if not gpu else [16, 32, 64, 128, 256],
              "neurons": [250, 500, 1000, 2000, 4000] if not gpu else [4096, 16384, 65536, 262144]}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (axis, values) in zip(axes, sweeps.items()):
        curves: dict[str, list[float]] = {}
        for v in values:
            shape = (v, batch, base_n) if axis == "T" else (base_t, batch, v)
            case = _neuron_case("leaky", "fwd+bwd", shape, torch.float32, device, compiled=False)
            for impl in case.impls:
                curves.setdefault(impl, []).append(time_case(case, impl, device, rounds)["median_s"] * 1e3)
        for impl, ms in curves.items():
            ax.plot(values, ms, marker="o", label=impl)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
        ax.set_xlabel("T" if axis == "T" else f"neurons (T={base_t})")
        ax.set_ylabel("forward+backward (ms)")
        ax.set_title(f"Leaky, batch {batch}, {device_name(device)}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tritonsnn bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--full", action="store_true", help="every case of the perf suite, not the short run")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--select", help="only cases whose name matches this regular expression")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw time vs T and vs neurons")
    parser.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    parser.add_argument("--check", action="store_true", help="fail if a ratio fell >25%% below its baseline")
    parser.add_argument("--baseline", metavar="FILE", help="baseline file (default perf/baselines/<device>.json)")
    parser.add_argument("--save-baseline", action="store_true", help="write this run's ratios as the baseline")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    steady_allocator()
    report = run_suite(device, args.full, args.rounds, args.select)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.plot:
        plot(device, args.plot, max(3, args.rounds // 2))
        print(f"plot written to {args.plot}")
    baseline_file = Path(args.baseline) if args.baseline else BASELINES / f"{report['device']}.json"
    if args.save_baseline:
        baseline_file.parent.mkdir(parents=True, exist_ok=True)
        baseline_file.write_text(json.dumps({"device": report["device"], "versions": report["versions"],
                                             "statistic": "best-of-rounds time ratio, reference / tritonsnn",
                                             "ratios": baseline_ratios(report)}, indent=1) + "\n")
        print(f"baseline written to {baseline_file}")
    if args.check:
        if not baseline_file.exists():
            print(f"no baseline for {report['device']} at {baseline_file}; run with --save-baseline first",
                  file=sys.stderr)
            return 2
        failures = check(report, baseline_file)
        now = ratios(report["results"], key="best_s")
        for case, expected in json.loads(baseline_file.read_text())["ratios"].items():
            got = now.get(case, {}).get(REFERENCE, float("nan"))
            print(f"gate: {case}: {got:.2f}x the reference now, baseline {expected:.2f}x")
        for f in failures:
            print(f"REGRESSION {f}", file=sys.stderr)
        print(f"check against {baseline_file}: {'FAILED' if failures else 'ok'}")
        return 1 if failures else 0
    return 0


# --- activation memory of a long-sequence network (issue: long sequences) --------------------------

SHD = {"inputs": 700, "hidden": 256, "outputs": 20, "batch": 32}


def shd_network(impl: str, neuron: str = "leaky") -> nn.Module:
    """An SHD-like network, 700 -> 256 -> 256 -> 20 with `neuron` ("leaky" or "synaptic")
    layers, as each implementation builds it; forward(x: [T, B, 700] spikes) -> output spikes.
    "tritonsnn" saves 1-bit spikes (tritonsnn.nn.Linear) and bf16 membranes; "tritonsnn_fp32"
    is plain nn.Linear with tritonsnn's default neurons."""
    sizes = [SHD["inputs"], SHD["hidden"], SHD["hidden"], SHD["outputs"]]
    if impl in ("tritonsnn", "tritonsnn_fp32"):
        linear = tritonsnn.nn.Linear if impl == "tritonsnn" else nn.Linear
        save = torch.bfloat16 if impl == "tritonsnn" else None
        make = {"leaky": lambda: tritonsnn.Leaky(beta=0.95, step_mode="multi", save_dtype=save),
                "synaptic": lambda: tritonsnn.Synaptic(alpha=0.9, beta=0.95, step_mode="multi", save_dtype=save)}[neuron]
        layers = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            layers += [linear(n_in, n_out), make()]

        class Fused(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(layers)

            def forward(self, x):
                for i in range(0, len(self.layers), 2):
                    x = self.layers[i + 1](self.layers[i](x))[0]
                return x
        return Fused()
    if impl == "snntorch":
        import snntorch

        make = {"leaky": lambda: snntorch.Leaky(beta=0.95), "synaptic": lambda: snntorch.Synaptic(alpha=0.9, beta=0.95)}[neuron]

        class Stepped(nn.Module):
            def __init__(self):
                super().__init__()
                self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
                self.lifs = nn.ModuleList(make() for _ in self.fcs)

            def forward(self, x):
                states = [[lif.init_leaky()] if neuron == "leaky" else list(lif.init_synaptic())
                          for lif in self.lifs]
                out = []
                for x_t in x:
                    for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                        x_t, *states[i] = lif(fc(x_t), *states[i])
                    out.append(x_t)
                return torch.stack(out)
        return Stepped()
    if impl == "spikingjelly" and neuron == "leaky":
        from spikingjelly.activation_based import layer, neuron as sj_neuron, surrogate as sj_surrogate

        blocks = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            blocks += [layer.Linear(n_in, n_out, step_mode="m"),
                       sj_neuron.LIFNode(tau=20.0, decay_input=False, v_reset=None, detach_reset=True,
                                         surrogate_function=sj_surrogate.ATan(), step_mode="m")]
        return nn.Sequential(*blocks)
    raise ValueError(f"no {neuron} network for {impl}")


def activation_bytes(impl: str, neuron: str, T: int, batch: int = SHD["batch"]) -> dict:
    """One training step of `shd_network(impl, neuron)` on [T, batch, 700] binary spikes: the
    bytes saved for the backward (distinct storages, parameters excluded), and the loss."""
    torch.manual_seed(0)
    model = shd_network(impl, neuron)
    x = (torch.rand(T, batch, SHD["inputs"], generator=torch.Generator().manual_seed(1)) < 0.05).float()
    y = torch.arange(batch) % SHD["outputs"]
    with counting_saved(list(model.parameters())) as seen:
        loss = nn.functional.cross_entropy(model(x).sum(0), y)
    loss.backward()
    return {"impl": impl, "neuron": neuron, "T": T, "batch": batch, "saved_bytes": sum(seen.values()),
            "saved_bytes_per_neuron_step": sum(seen.values()) / (T * batch * (2 * SHD["hidden"] + SHD["outputs"]))}
