"""How the fused kernels are launched: autotuned block size and warps on a GPU, a fixed small
block in Triton's interpreter, one launch path for every kernel; and how every family lays its
tensors out for them (time-major `[T, N]` sequences, per-neuron or scalar parameters).

Each program owns BLOCK neurons and walks the whole time loop, so parallelism comes from the
neurons alone and the right BLOCK trades programs per SM against elements per thread. The
configs keep 1 or 2 fp32 elements per thread: the time loops hold four steps' loads in flight
(`kernels/lif/kernels.py`; the LIF backward two steps at two elements per thread, `steps_ahead`),
and more elements per thread would push the default variants past 40 registers and below 75 %
occupancy (`tritonsnn.aot --report` checks both). On CUDA the first call
for a new problem benchmarks `CONFIGS` once (Triton's autotuner, keyed by the neuron count N,
the kernel's constexpr flags, the tensors' dtypes and a bucket of T, `T_BUCKETS`) and reuses the
winner; every config computes bit-identical results, since each neuron's time loop is
independent of the block it sits in (tests/test_launch.py checks that). `TRITONSNN_AUTOTUNE=0`
replaces the tuning with a size heuristic.
"""
from __future__ import annotations

import functools
import inspect
import os

import torch
import triton
import triton.language as tl
from torch.library import wrap_triton

from tritonsnn._dtypes import acc_dtype
from tritonsnn.surrogate import spec_for_kernel_id

# (neurons per program, warps): 1 or 2 elements per thread; at least 2 warps, so that the 32
# blocks an SM holds can reach full occupancy.
CONFIGS = ((64, 2), (128, 4), (256, 4), (256, 8), (512, 8))
# Upper ends of the sequence-length buckets the autotuner keys by: a config chosen at T = 10 is
# not reused at T = 1000, where latency matters less than per-step work.
T_BUCKETS = (16, 128, 1024)
INTERPRETER_BLOCK = 64  # small blocks, so that modest test shapes span several programs and a tail
# Multiply-adds contract to FMAs, as Triton has always compiled these kernels by default; named
# at every launch so that the bits do not change when Triton's default does (off from 3.10).
# Inductor compiles a user kernel inside torch.compile with Triton's default (torch passes it no
# such option), so a compiled model on Triton >= 3.10 rounds its multiply-adds separately.
FP_FUSION = True


def steps_ahead(block: int, warps: int) -> int:
    """GROUP, the steps whose loads the LIF backward issues together: four at one element per
    thread, two at two. Either way four elements per tensor are in flight per thread; four steps
    of two elements would hold twice the loaded values, and the heavier variants (a returned
    membrane, learnable parameters, the chunk maps) would pass 40 registers."""
    return 4 if block <= 32 * warps else 2


@functools.lru_cache(maxsize=None)
def _takes(kernel, name: str) -> bool:
    return name in kernel.arg_names  # read once per kernel: launches run on every single-step call


def group_constexpr(kernel, block: int, warps: int) -> dict:
    """The GROUP constexpr (`steps_ahead`) for kernels that take one, as every launch and the
    static report's compile pass it."""
    return {"GROUP": steps_ahead(block, warps)} if _takes(kernel, "GROUP") else {}


# The divisibility hints a kernel can receive (N_DIV): Triton itself marks only multiples of 16.
ALIGNMENTS = (16, 8, 4, 2)


@functools.lru_cache(maxsize=None)
def _time_strides(kernel) -> tuple[tuple[str, str], ...]:
    """(stride_<name>_t, <NAME>_BCAST) for each time stride the kernel takes (read once per
    kernel: the launch path runs on every single-step call)."""
    return tuple((arg, arg[len("stride_"):-len("_t")].upper() + "_BCAST") for arg in kernel.arg_names
                 if arg.startswith("stride_") and arg.endswith("_t"))


def alignment(kernel, args: dict) -> int:
    """N_DIV: the largest of `ALIGNMENTS` (else 1) that divides the neuron count N and every time
    stride `stride_<name>_t` of the kernel whose tensor is read per neuron (a broadcast one,
    `<NAME>_BCAST`, is one scalar per step). The kernels tell the compiler
    (`kernels.common.aligned`), so a layer of 13 x 100 neurons keeps full-width vector accesses.
    Comparisons only: N may be symbolic."""
    values = [args["N"], *(args[stride] for stride, bcast in _time_strides(kernel) if not args.get(bcast, False))]
    return next((d for d in ALIGNMENTS if all(v % d == 0 for v in values)), 1)


def layout_constexprs(kernel, args: dict) -> dict:
    """N_DIV (`alignment`) for kernels that take it."""
    return {"N_DIV": alignment(kernel, args)} if _takes(kernel, "N_DIV") else {}


def autotune_enabled() -> bool:
    return os.environ.get("TRITONSNN_AUTOTUNE", "1") != "0"


@functools.lru_cache(maxsize=None)
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _sms(device: torch.device) -> int:
    return _sm_count(device.index if device.index is not None else torch.cuda.current_device())


def heuristic_config(n: int, device: torch.device) -> tuple[int, int]:
    """(BLOCK, num_warps) without tuning (`config_for`); small blocks on the interpreter."""
    if device.type != "cuda":
        return INTERPRETER_BLOCK, 4
    return config_for(n, _sms(device))


def config_for(n: int, sms: int) -> tuple[int, int]:
    """The largest config that still gives at least 8 programs per SM on a GPU of `sms` SMs, else
    the smallest (small layers: as many programs as possible). Written as comparisons so that a
    symbolic `n` (torch.compile, dynamic shapes) only adds range guards."""
    for block, warps in ((512, 8), (256, 4), (128, 4)):
        if n >= 8 * sms * block:
            return block, warps
    return CONFIGS[0]


# The chunked backward: chunks of at least MIN_CHUNK_STEPS steps (all but the last), and time
# splits until the programs reach CHUNKED_PROGRAMS_PER_SM per SM. Pass 1 reads the saved sequences once more
# whatever the chunk count, and each chunk composes at most (chunks - 1) maps: more chunks cost
# little, and every program added hides a memory latency of the sequential walk.
MIN_CHUNK_STEPS = 16
CHUNKED_PROGRAMS_PER_SM = 8


def backward_chunks(n: int, T: int, device: torch.device) -> int:
    """Into how many chunks of time the LIF backward of n neurons over T steps splits on `device`
    (`chunks_for`); 1, the plain scan, off a GPU."""
    if device.type != "cuda":
        return 1
    return chunks_for(n, T, _sms(device))


def chunks_for(n: int, T: int, sms: int) -> int:
    """1 (the plain scan) when the layer's blocks of neurons already give 2 programs per SM at the
    heuristic config (`config_for`); otherwise enough chunks for CHUNKED_PROGRAMS_PER_SM programs
    per SM, each (but the last) at least MIN_CHUNK_STEPS long. An SHD layer (8,192 neurons, 128
    blocks) on an H200's 132 SMs: 6 chunks at T = 100, 9 at T = 1000."""
    programs = triton.cdiv(n, config_for(n, sms)[0])
    if programs >= 2 * sms:
        return 1
    return max(1, min(triton.cdiv(CHUNKED_PROGRAMS_PER_SM * sms, programs), T // MIN_CHUNK_STEPS))


def choose_config(n: int, device: torch.device) -> tuple[int, int] | None:
    """The fixed (BLOCK, num_warps) to launch with, or None to autotune."""
    if device.type == "cuda" and autotune_enabled():
        return None
    return heuristic_config(n, device)


def t_bucket(T: int) -> int:
    """The index of T's bucket in `T_BUCKETS` (comparisons only: T may be symbolic)."""
    return next((i for i, end in enumerate(T_BUCKETS) if T <= end), len(T_BUCKETS))


@functools.lru_cache(maxsize=None)
def _tuned(kernel, bucket: int = 0):
    """The kernel autotuned over `CONFIGS`, one tuner per T bucket, keyed by N and every
    constexpr flag (Triton adds the tensors' dtypes to the key)."""
    flags = [name for name, p in inspect.signature(kernel.fn).parameters.items()
             if p.annotation is tl.constexpr and name not in ("BLOCK", "GROUP")]
    configs = [triton.Config({"BLOCK": b, **group_constexpr(kernel, b, w)}, num_warps=w) for b, w in CONFIGS]
    return triton.autotune(configs, key=["N", *flags])(kernel)


@functools.lru_cache(maxsize=None)
def _presence_pointers(kernel) -> tuple[tuple[str, str], ...]:
    """(HAS_<NAME>, <name>_ptr) for each presence flag of the kernel (read once per kernel: the
    launch path runs on every single-step call)."""
    return tuple((flag, flag[len("HAS_"):].lower() + "_ptr") for flag in kernel.arg_names if flag.startswith("HAS_"))


def presence_flags(kernel, args: dict) -> dict:
    """The kernel's `HAS_<NAME>` constexprs from its arguments: whether `<name>_ptr` is given (an
    optional tensor is passed as None when absent)."""
    return {flag: args[ptr] is not None for flag, ptr in _presence_pointers(kernel) if ptr in args}


def launch(kernel, device: torch.device, chunks: int = 0, **args) -> None:
    """Launch `kernel` over its `N` neurons, one program per BLOCK, every argument by name; the
    presence flags follow from the pointers (`presence_flags`). With `chunks`, the grid's second
    axis has that many programs per block of neurons (the chunked backward), at the heuristic's
    config: the layer is small, and a tuned BLOCK would change the grid under the chunk count."""
    n = args["N"]
    args = {**presence_flags(kernel, args), **layout_constexprs(kernel, args), **args}
    if chunks:
        block, warps = heuristic_config(n, device)
        wrap_triton(kernel)[(triton.cdiv(n, block), chunks)](
            **args, BLOCK=block, **group_constexpr(kernel, block, warps), num_warps=warps, enable_fp_fusion=FP_FUSION)
        return
    config = choose_config(n, device)
    if config is None:
        wrap_triton(_tuned(kernel, t_bucket(args["T"])))[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](
            **args, enable_fp_fusion=FP_FUSION)
    else:
        block, warps = config
        wrap_triton(kernel)[(triton.cdiv(n, block),)](**args, BLOCK=block, **group_constexpr(kernel, block, warps),
                                                      num_warps=warps, enable_fp_fusion=FP_FUSION)


def time_major(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """`t` as a `[T, N]` matrix whose neurons are contiguous, and its time stride (no copy when
    only the time dimension is strided, e.g. a slice along T)."""
    t2 = t.reshape(t.shape[0], -1)
    if t2.shape[1] > 1 and t2.stride(1) != 1:
        t2 = t2.contiguous()
    return t2, t2.stride(0)


def incoming_grad(g: torch.Tensor | None) -> tuple[torch.Tensor | None, int, bool]:
    """An incoming gradient as the backward kernels read it: `(g as [T, N], time stride,
    broadcast)`. A gradient with stride 0 across the neurons (from `.sum()` or `.mean()`) stays
    a view of its one value per step (broadcast=True) instead of being materialised."""
    if g is None:
        return None, 0, False
    g2 = g.reshape(g.shape[0], -1)  # a view for stride-0 neuron dimensions too
    if g2.shape[1] > 1 and g2.stride(1) == 0:
        return g2, g2.stride(0), True
    g2, stride_t = time_major(g2)
    return g2, stride_t, False


def per_neuron(p: torch.Tensor, shape: torch.Size) -> tuple[torch.Tensor, bool]:
    """A parameter as the kernels read it: one scalar, or one value per neuron (True)."""
    if p.numel() == 1:
        return p.reshape(1), False
    return p.expand(shape).reshape(-1), True


def parameters(shape: torch.Size, **params: torch.Tensor | None) -> dict:
    """Parameters as kernel arguments: for each `name`, `<name>_ptr` and the constexpr
    `<NAME>_PER_NEURON` (`per_neuron`; None, an absent parameter, is a None pointer)."""
    out = {}
    for name, p in params.items():
        out[f"{name}_ptr"], out[f"{name.upper()}_PER_NEURON"] = (None, False) if p is None else per_neuron(p, shape)
    return out


def flat(t: torch.Tensor | None) -> torch.Tensor | None:
    """An initial state as the kernels read it: contiguous `[N]` (None stays None)."""
    return None if t is None else t.reshape(-1).contiguous()


def contiguous(t: torch.Tensor | None) -> torch.Tensor | None:
    """A weight or an incoming gradient as the kernels read it: contiguous (a broadcast gradient
    from `.sum()` materialised; None stays None)."""
    return None if t is None else t.contiguous()


def empty_like_or_none(t: torch.Tensor | None) -> torch.Tensor | None:
    """A contiguous output buffer shaped like `t` (a gradient for it), None for None."""
    return None if t is None else torch.empty(t.shape, dtype=t.dtype, device=t.device)


def per_sample(lengths: torch.Tensor | None, shape: torch.Size) -> tuple[torch.Tensor | None, int]:
    """Sequence lengths as the kernels read them: `[B]` (x's dim 1) and the neurons per sample M,
    so that neuron n of the flattened `[T, N]` layout belongs to sample n // M."""
    return lengths, shape[1:].numel() if lengths is not None else 1


def per_neuron_sums(wanted: bool, shape, like: torch.Tensor) -> torch.Tensor | None:
    """A buffer for one parameter's per-neuron gradient sums, in the accumulation dtype."""
    return torch.empty(shape, dtype=acc_dtype(like.dtype), device=like.device) if wanted else None


def surrogate_constexprs(sg_id: int) -> dict:
    """How a backward kernel receives surrogate `sg_id`: its Triton gradient `SG_FN`, inlined, and
    whether that gradient draws noise (`STOCHASTIC`)."""
    spec = spec_for_kernel_id(sg_id)
    return {"SG_FN": spec.jit_grad, "STOCHASTIC": spec.stochastic}
