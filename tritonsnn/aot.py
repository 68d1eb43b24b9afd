"""Ahead-of-time compilation of every fused-kernel variant for NVIDIA GPUs, with no GPU present.

Each variant is one combination of a kernel's constexpr flags and its tensors' dtypes, as the
launchers can produce it. Compiling them all for a target (`sm_80`, `sm_90`) proves the Triton code
lowers to PTX and a cubin there, and the PTX shows what each kernel does to memory.

Run it where Triton is *not* in interpreter mode (TRITON_INTERPRET unset)::

    python -m tritonsnn.aot --arch 80 90

It prints one JSON object: how many variants compiled per architecture and which failed.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from tritonsnn.kernels.surrogates import STOCHASTIC_IDS, SURROGATE_IDS, USER_ID

SURROGATES = tuple(sorted(SURROGATE_IDS.values()))  # every id kernels/surrogates.py dispatches on
DTYPES = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp64": "fp64"}
BLOCK = 512


@dataclass(frozen=True)
class Variant:
    kernel: str
    dtype: str
    flags: tuple[tuple[str, object], ...] = field(default_factory=tuple)

    def describe(self) -> str:
        return f"{self.kernel}[{self.dtype}, " + ", ".join(f"{k}={v}" for k, v in self.flags) + "]"


CORE = ("RESET", "RESET_DELAY", "RESET_INPUT", "SYNAPTIC")  # flags that change the time step's math
PRESENCE = {  # flags that add an optional tensor (and the code that reads or writes it)
    "lif_fwd_kernel": ("HAS_MEM0", "HAS_SYN0"),
    "lif_bwd_kernel": ("HAS_MEM0", "HAS_SYN0", "HAS_GM", "HAS_GI", "PARAM_GRAD", "ALPHA_GRAD"),
}
SYNAPTIC_ONLY = {"HAS_SYN0", "HAS_GI", "ALPHA_GRAD"}


def _kernel_variant(kernel, dtype, core, present=(), sg=None) -> Variant:
    flags = dict(zip(CORE, core))
    for name in PRESENCE[kernel]:
        flags[name] = name in present and (flags["SYNAPTIC"] or name not in SYNAPTIC_ONLY)
    if kernel == "lif_bwd_kernel":
        flags["SURROGATE"] = SURROGATE_IDS["ATan"] if sg is None else sg
    return Variant(kernel, dtype, tuple(flags.items()))


def variants() -> list[Variant]:
    """The variants compiled: every combination of the core flags (reset mechanism, reset delay,
    input reset, synaptic current) with every optional tensor present and with none, in fp32;
    each optional tensor alone on Leaky's and Synaptic's default core; the defaults in fp16, bf16
    and fp64; and every surrogate (a user-registered one included) in both ways the backward uses
    it (reset_delay True/False) and both accumulation dtypes. Flags guard independent blocks of
    code, so this reaches every line of every kernel in every context that changes its types or
    its control flow, without compiling the full product (thousands of variants)."""
    cores = list(itertools.product((0, 1, 2), (True, False), (True, False), (True, False)))
    out = []
    for kernel in PRESENCE:
        everything = PRESENCE[kernel]
        for core in cores:
            out.append(_kernel_variant(kernel, "fp32", core, everything))
            out.append(_kernel_variant(kernel, "fp32", core, ()))
        for default in ((0, True, False, False), (0, True, True, True)):  # Leaky, Synaptic
            for name in everything:
                out.append(_kernel_variant(kernel, "fp32", default, (name,)))
            for dtype in ("fp16", "bf16", "fp64"):
                out.append(_kernel_variant(kernel, dtype, default, everything))
    for dtype, delay, sg in itertools.product(("fp32", "fp64"), (True, False), SURROGATES + (USER_ID,)):
        out.append(_kernel_variant("lif_bwd_kernel", dtype, (0, delay, False, False), PRESENCE["lif_bwd_kernel"], sg))
    return list(dict.fromkeys(out))


# Pointer arguments by role: "data" takes the variant's dtype, "acc" its accumulation dtype,
# "param" fp32 (module buffers), "seed" int64; optional ones become constexpr None when their
# flag is off.
_POINTERS = {
    "lif_fwd_kernel": {
        "x_ptr": "data", "mem0_ptr": "data", "syn0_ptr": "data", "alpha_ptr": "param",
        "decay_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param", "spk_ptr": "data",
        "mem_ptr": "data", "h_ptr": "data", "syn_ptr": "data",
    },
    "lif_bwd_kernel": {
        "gs_ptr": "data", "gm_ptr": "data", "gi_ptr": "data", "mem_ptr": "data", "h_ptr": "data",
        "syn_ptr": "data", "mem0_ptr": "data", "syn0_ptr": "data", "alpha_ptr": "param",
        "decay_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param", "seed_ptr": "seed",
        "dx_ptr": "data", "dmem0_ptr": "data", "dsyn0_ptr": "data", "dalpha_ptr": "acc",
        "ddecay_ptr": "acc", "dthr_ptr": "acc", "dgsf_ptr": "acc",
    },
}
_FLOAT_SCALARS = {"p0", "p1"}
_DIVISIBLE = {"N", "stride_x_t", "stride_gs_t", "stride_gm_t", "stride_gi_t"}  # as the JIT marks them for typical shapes


def _absent(v: Variant) -> set[str]:
    flags = dict(v.flags)
    backward = v.kernel == "lif_bwd_kernel"
    absent = set()
    if not flags["HAS_MEM0"]:
        absent |= {"mem0_ptr", "dmem0_ptr"}
    if not flags["HAS_SYN0"]:
        absent |= {"syn0_ptr", "dsyn0_ptr"}
    if flags["RESET_DELAY"]:
        absent.add("h_ptr")
    if not flags["SYNAPTIC"]:
        absent |= {"alpha_ptr"} | ({"gi_ptr", "syn_ptr", "dalpha_ptr"} if backward else {"syn_ptr"})
    if backward:
        if not flags["HAS_GM"]:
            absent.add("gm_ptr")
        if not flags["HAS_GI"]:
            absent.add("gi_ptr")
        if not flags["ALPHA_GRAD"]:
            absent |= {"syn_ptr", "dalpha_ptr"}
        if not flags["PARAM_GRAD"]:
            absent |= {"ddecay_ptr", "dthr_ptr", "dgsf_ptr"}
        if flags["SURROGATE"] not in STOCHASTIC_IDS:
            absent.add("seed_ptr")
    return absent


def source(v: Variant):
    """The `ASTSource` of a variant (import triton lazily: the CLI checks the mode first)."""
    from triton.compiler import ASTSource

    from tritonsnn import kernels

    fn = getattr(kernels, v.kernel)
    acc = "fp64" if v.dtype == "fp64" else "fp32"
    constexprs = dict(v.flags, FP64=v.dtype == "fp64", BLOCK=BLOCK)
    if "SURROGATE" in constexprs:
        # A user-registered surrogate's gradient arrives as SG_FN; compile one such, a built-in
        # function standing in for the user's.
        constexprs["SG_FN"] = kernels.surrogates.fast_sigmoid_grad if constexprs["SURROGATE"] >= USER_ID else None
    constexprs.update({name: None for name in _absent(v) if name in fn.arg_names})
    signature, attrs = {}, {}
    for i, name in enumerate(fn.arg_names):
        if name in constexprs:
            signature[name] = "constexpr"
        elif name in _POINTERS[v.kernel]:
            role = _POINTERS[v.kernel][name]
            signature[name] = "*" + {"data": DTYPES[v.dtype], "acc": acc, "param": "fp32", "seed": "i64"}[role]
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in _FLOAT_SCALARS:
            signature[name] = "fp32"
        else:
            signature[name] = "i32"
            if name in _DIVISIBLE:
                attrs[(i,)] = [["tt.divisibility", 16]]
    return ASTSource(fn, signature, constexprs, attrs)


def compile_variant(v: Variant, arch: int):
    """The compiled kernel (`.asm["ptx"]`, `.asm["cubin"]`) of a variant for `sm_<arch>`."""
    import triton
    from triton.backends.compiler import GPUTarget

    return triton.compile(source(v), target=GPUTarget("cuda", arch, 32), options={"num_warps": 4})


def _compile_ok(job: tuple[Variant, int]) -> str | None:
    v, arch = job
    try:
        kernel = compile_variant(v, arch)
        if not kernel.asm.get("cubin"):
            return f"sm_{arch} {v.describe()}: no cubin"
    except Exception as e:  # report every failure, not just the first
        return f"sm_{arch} {v.describe()}: {type(e).__name__}: {e}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[80, 90])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("tritonsnn.aot: unset TRITON_INTERPRET; the interpreter cannot compile", file=sys.stderr)
        return 2
    jobs = [(v, arch) for arch in args.arch for v in variants()]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        failures = [f for f in pool.map(_compile_ok, jobs, chunksize=8) if f]
    per_arch = {f"sm_{a}": len(variants()) for a in args.arch}
    print(json.dumps({"variants": per_arch, "failed": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
