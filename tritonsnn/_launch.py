"""How the fused kernels are launched: autotuned block size and warps on a GPU, a fixed small
block in Triton's interpreter, one launch path for every kernel.

Each program owns BLOCK neurons and walks the whole time loop, so parallelism comes from the
neurons alone and the right BLOCK trades programs per SM against elements (vector width) per
thread. On CUDA the first call for a new neuron count N benchmarks `CONFIGS` once (Triton's
autotuner, keyed by N) and reuses the winner; every config computes bit-identical results, since
each neuron's time loop is independent of the block it sits in (tests/test_launch.py checks
that). `TRITONSNN_AUTOTUNE=0` replaces the tuning with a size heuristic.
"""
from __future__ import annotations

import functools
import os

import torch
import triton
from torch.library import wrap_triton

# (neurons per program, warps): 1 to 8 fp32 elements per thread, 4 or 8 warps.
CONFIGS = ((128, 4), (256, 4), (512, 4), (1024, 4), (256, 8), (512, 8), (1024, 8), (2048, 8))
INTERPRETER_BLOCK = 64  # small blocks, so that modest test shapes span several programs and a tail


def autotune_enabled() -> bool:
    return os.environ.get("TRITONSNN_AUTOTUNE", "1") != "0"


@functools.lru_cache(maxsize=None)
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def heuristic_config(n: int, device: torch.device) -> tuple[int, int]:
    """(BLOCK, num_warps) without tuning: at least 8 programs per SM, with 1 (small layers) to 8
    (large ones) fp32 elements per thread. Written as comparisons so that a symbolic `n`
    (torch.compile, dynamic shapes) only adds range guards."""
    if device.type != "cuda":
        return INTERPRETER_BLOCK, 4
    sms = _sm_count(device.index if device.index is not None else torch.cuda.current_device())
    for block in (1024, 512, 256):
        if n >= 8 * sms * block:
            return block, 4
    return 128, 4


def choose_config(n: int, device: torch.device) -> tuple[int, int] | None:
    """The fixed (BLOCK, num_warps) to launch with, or None to autotune."""
    if device.type == "cuda" and autotune_enabled():
        return None
    return heuristic_config(n, device)


@functools.lru_cache(maxsize=None)
def _tuned(kernel):
    return triton.autotune([triton.Config({"BLOCK": b}, num_warps=w) for b, w in CONFIGS], key=["N"])(kernel)


def launch(kernel, n: int, device: torch.device, *args, **kwargs) -> None:
    """Launch `kernel` over `n` neurons (its `N` argument): one program per BLOCK neurons."""
    config = choose_config(n, device)
    if config is None:
        wrap_triton(_tuned(kernel))[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](*args, **kwargs)
    else:
        block, warps = config
        wrap_triton(kernel)[(triton.cdiv(n, block),)](*args, **kwargs, BLOCK=block, num_warps=warps)
