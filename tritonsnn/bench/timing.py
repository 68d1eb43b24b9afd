"""Timing: every implementation of a case round by round in turn, with a steady host allocator,
the median and best of the rounds, the ratios between implementations, and the device's copy
bandwidth measured in the same run."""
from __future__ import annotations

import re
import statistics
import time

import torch

import tritonsnn
from tritonsnn.bench.cases import SUBJECT, Case, Runner, suite
from tritonsnn.bench.memory import memory


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
    """(setup, timed): one round is `timed(*setup())`; setup makes a fresh leaf input, requiring
    grad unless it is a network's data (`Case.data_input`), and runs the forward for a
    backward-only case; timed runs the measured part and waits for the device."""
    def setup():
        xs = x.detach().requires_grad_(not case.data_input)
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
    """The device as a report and a baseline file name it: "cpu", or the GPU's name in kebab case."""
    if device.type == "cuda":
        return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")
    return "cpu"


def versions() -> dict:
    """The versions of tritonsnn, torch and triton, for the report and the baseline."""
    import triton

    return {"tritonsnn": getattr(tritonsnn, "__version__", "0.1.0"), "torch": torch.__version__,
            "triton": triton.__version__}
