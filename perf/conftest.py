"""Benchmark suite setup: every case of a group is timed in the same run, and the summary prints
each competitor's time as a multiple of tritonsnn's (machine speed cancels in the ratio).

The suite allocates as users' scripts do; `TRITONSNN_STEADY_ALLOCATOR=1` keeps freed host memory
mapped instead (`tritonsnn.bench.steady_allocator`: steadier CPU ratios), and the summary says
which it ran with."""
from __future__ import annotations

import os

import pytest

from tritonsnn.bench import steady_allocator

STEADY = os.environ.get("TRITONSNN_STEADY_ALLOCATOR") == "1"
if STEADY:
    steady_allocator()

SUBJECT = "tritonsnn"


def speedups(benchmarks) -> dict[str, dict[str, float]]:
    """{group: {competitor: competitor median / tritonsnn median}} over finished benchmarks."""
    groups: dict[str, dict[str, float]] = {}
    for bench in benchmarks:
        if bench and bench.extra_info.get("impl"):
            groups.setdefault(bench.group, {})[bench.extra_info["impl"]] = bench.stats.median
    return {
        group: {impl: t / times[SUBJECT] for impl, t in times.items() if impl != SUBJECT}
        for group, times in groups.items() if SUBJECT in times
    }


def memory_ratios(benchmarks) -> dict[str, dict[str, float]]:
    """{group: {competitor: its saved bytes / tritonsnn's}} where saved bytes were recorded."""
    groups: dict[str, dict[str, float]] = {}
    for bench in benchmarks:
        if bench and "saved_bytes" in bench.extra_info and bench.extra_info.get("impl"):
            groups.setdefault(bench.group, {})[bench.extra_info["impl"]] = bench.extra_info["saved_bytes"]
    return {group: {impl: b / saved[SUBJECT] for impl, b in saved.items() if impl != SUBJECT}
            for group, saved in groups.items() if saved.get(SUBJECT)}


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["host_allocator"] = "steady (mallopt)" if STEADY else "default"
    output_json["speedups"] = speedups(benchmarks)
    output_json["activation_memory_ratios"] = memory_ratios(benchmarks)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return
    terminalreporter.write_line(f"host allocator: {'steady (mallopt)' if STEADY else 'default'}")
    for group, ratios in speedups(session.benchmarks).items():
        terminalreporter.write_line(f"speedup of {SUBJECT} in {group}:")
        for impl, ratio in sorted(ratios.items()):
            terminalreporter.write_line(f"  {ratio:7.2f}x faster than {impl}")
    for group, ratios in memory_ratios(session.benchmarks).items():
        terminalreporter.write_line(f"bytes saved for the backward in {group}:")
        for impl, ratio in sorted(ratios.items()):
            terminalreporter.write_line(f"  {ratio:7.2f}x fewer than {impl}")
