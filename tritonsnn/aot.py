"""Ahead-of-time compilation of every fused-kernel variant for NVIDIA GPUs, with no GPU present.

Each variant is one combination of a kernel's constexpr flags and its tensors' dtypes, as the
launchers can produce it. Compiling them for a target (`sm_80`, `sm_90`) proves the Triton code
lowers to PTX and a cubin there, and the PTX shows what each kernel does to memory.

Run it where Triton is *not* in interpreter mode (TRITON_INTERPRET unset)::

    python -m tritonsnn.aot --arch 80 90

It prints one JSON object: how many variants compiled per architecture and which failed.
"""
from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor

from tritonsnn._aot_spec import KernelFlags, Traffic, Variant
from tritonsnn.catalogue import NEURONS
from tritonsnn.kernels.codes import RESET_SUBTRACT
from tritonsnn.surrogate import registry
from tritonsnn.surrogate.builtins import BUILT_IN as SURROGATES

DTYPES = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp64": "fp64"}
SPIKE_DTYPES = {"bool": "i1", "u8": "u8"}  # binary spikes (spike_dtype=torch.bool / torch.uint8)
BLOCK = 512
NUM_WARPS = 4

FAMILIES = tuple(importlib.import_module(f"tritonsnn.kernels.{family}.aot")
                 for family in dict.fromkeys(n.family for n in NEURONS.values()))
"""Each catalogued family's `kernels/<family>/aot.py`: its KERNELS and TRAFFIC cases."""

# Bit-packing of binary inputs (kernels/bits.py): one variant per dtype of the unpacked tensor.
_BITS = (KernelFlags("pack_bits_kernel", "tritonsnn.kernels.bits", core={}, presence=(), defaults=((),),
                     optional=(), pointers={"x_ptr": "data", "packed_ptr": "u8", "flag_ptr": "i32"}),
         KernelFlags("unpack_bits_kernel", "tritonsnn.kernels.bits", core={}, presence=(), defaults=((),),
                     optional=(), pointers={"packed_ptr": "u8", "out_ptr": "data"}))


def _unique(pairs) -> dict:
    """The (name, value) pairs as a dict; a name two families declare is an error, not an overwrite."""
    out = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"tritonsnn.aot: {name!r} is declared twice; kernel and case names must be unique")
        out[name] = value
    return out


KERNELS: dict[str, KernelFlags] = _unique((k.name, k) for k in (*(k for f in FAMILIES for k in f.KERNELS), *_BITS))
TRAFFIC_CASES: dict[str, Traffic] = _unique(case for f in FAMILIES for case in f.TRAFFIC.items())
_DIVISIBLE = {"N", "stride_x_t", "stride_gs_t", "stride_gm_t", "stride_gi_t", "stride_ge_t"}  # as the JIT marks them


def variants() -> list[Variant]:
    """The variants compiled, per kernel: every combination of the core flags (reset mechanism,
    and for the LIF family reset delay, input reset and synaptic current) with every optional
    tensor present and with none, in fp32, with scalar parameters (and with all present, with
    per-neuron ones); each optional tensor alone on the neurons' default cores; those defaults in
    fp16, bf16 and fp64, with bf16 states under fp32 (and fp32 states under fp16: save_dtype),
    per-neuron parameters in fp64 and under bf16 states, and, for the forwards, with binary spikes
    (bool, uint8); and for the LIF backward every built-in surrogate (a registered one arrives the
    same way, as SG_FN) in both ways it is used (reset_delay True/False) and both accumulation
    dtypes. Flags guard independent blocks of code, so this reaches every line of every kernel in
    every context that changes its types or control flow, without compiling the full product
    (thousands of variants)."""
    out = []
    for kernel, spec in KERNELS.items():
        per_neuron = any(name.endswith("_PER_NEURON") for name in _arg_names(spec))
        for core in itertools.product(*spec.core.values()):
            out.append(spec.variant("fp32", core, spec.presence))
            out.append(spec.variant("fp32", core, ()))
            if per_neuron:
                out.append(spec.variant("fp32", core, spec.presence, per_neuron=True))
        for default in spec.defaults:
            out.extend(spec.variant("fp32", default, (name,)) for name in spec.presence)
            out.extend(spec.variant(dtype, default, spec.presence) for dtype in ("fp16", "bf16", "fp64"))
            if per_neuron:
                out.append(spec.variant("fp64", default, spec.presence, per_neuron=True))
                out.append(spec.variant("fp32", default, spec.presence, save="bf16", per_neuron=True))
            if "state" in spec.pointers.values():
                out.append(spec.variant("fp32", default, spec.presence, save="bf16"))
                out.append(spec.variant("fp16", default, spec.presence, save="fp32"))
            if "spk_ptr" in spec.pointers:
                out.extend(spec.variant("fp32", default, spec.presence, spike=s) for s in SPIKE_DTYPES)
    lif_bwd = KERNELS["lif_bwd_kernel"]
    for dtype, delay, sg in itertools.product(("fp32", "fp64"), (True, False), SURROGATES):
        out.append(lif_bwd.variant(dtype, (RESET_SUBTRACT, delay, False, False), lif_bwd.presence, sg))
    return list(dict.fromkeys(out))


def _arg_names(spec: KernelFlags) -> list[str]:
    return getattr(importlib.import_module(spec.module), spec.name).arg_names


def _absent(v: Variant) -> set[str]:
    flags = dict(v.flags)
    spec = KERNELS[v.kernel]
    absent = set()
    for flag, value, pointers in spec.optional:
        if flags[flag] == value:
            absent.update(pointers)
    if spec.surrogate and not registry._REGISTRY[flags["SURROGATE"]].stochastic:
        absent.add("seed_ptr")
    return absent


def source(v: Variant):
    """The `ASTSource` of a variant (import triton lazily: the CLI checks the mode first)."""
    from triton.compiler import ASTSource

    spec = KERNELS[v.kernel]
    fn = getattr(importlib.import_module(spec.module), v.kernel)
    pointers = spec.pointers
    acc = "fp64" if v.dtype == "fp64" else "fp32"
    constexprs = dict(v.flags, BLOCK=BLOCK)
    if "FP64" in fn.arg_names:
        constexprs["FP64"] = v.dtype == "fp64"
    constexprs.update({name: v.per_neuron for name in fn.arg_names if name.endswith("_PER_NEURON")})
    if "DIRECTED" in fn.arg_names:  # as tritonsnn._rounding.directed decides it
        constexprs["DIRECTED"] = v.save not in ("", v.dtype, "fp64")
    if "SURROGATE" in constexprs:  # the surrogate's gradient, inlined as every surrogate's is
        sg = registry._REGISTRY[constexprs.pop("SURROGATE")]
        constexprs.update(SG_FN=sg.jit_grad, STOCHASTIC=sg.stochastic)
    constexprs.update({name: None for name in _absent(v)})
    signature, attrs = {}, {}
    for i, name in enumerate(fn.arg_names):
        if name in constexprs:
            signature[name] = "constexpr"
        elif name in pointers:
            roles = {"data": DTYPES[v.dtype], "state": DTYPES[v.save or v.dtype],
                     "spike": SPIKE_DTYPES[v.spike] if v.spike else DTYPES[v.dtype],
                     "acc": acc, "param": "fp32", "sg": "fp64", "seed": "i64", "u8": "u8", "i32": "i32", "i64": "i64"}
            signature[name] = "*" + roles[pointers[name]]
            attrs[(i,)] = [["tt.divisibility", 16]]
        else:
            signature[name] = "i32"
            if name in _DIVISIBLE:
                attrs[(i,)] = [["tt.divisibility", 16]]
    return ASTSource(fn, signature, constexprs, attrs)


def compile_variant(v: Variant, arch: int):
    """The compiled kernel (`.asm["ptx"]`, `.asm["cubin"]`) of a variant for `sm_<arch>`."""
    import triton
    from triton.backends.compiler import GPUTarget

    return triton.compile(source(v), target=GPUTarget("cuda", arch, 32), options={"num_warps": NUM_WARPS})


def _compile_ok(job: tuple[Variant, int]) -> str | None:
    v, arch = job
    try:
        kernel = compile_variant(v, arch)
        if not kernel.asm.get("cubin"):
            return f"sm_{arch} {v.describe()}: no cubin"
    except Exception as e:  # report every failure, not just the first
        return f"sm_{arch} {v.describe()}: {type(e).__name__}: {e}"
    return None


_BLOCK_START = re.compile(r"\n(?=\$L__BB\d+_\d+:|// %bb\.\d+:)")
_GLOBAL_ACCESS = re.compile(r"\b(ld|st)\.global\S*")


def loop_accesses(ptx: str) -> dict[str, list[int]]:
    """The global loads and stores of a kernel's time loop, read from its PTX: for "ld" and "st",
    the bytes each instruction moves for one thread. The loop's basic blocks are the ones LLVM
    marks "Loop Header" or "in Loop"; the kernels have one loop, the walk over time."""
    out: dict[str, list[int]] = {"ld": [], "st": []}
    for block in _BLOCK_START.split(ptx):
        if "Loop" not in block.split("\n", 1)[0]:
            continue
        for match in _GLOBAL_ACCESS.finditer(block):
            parts = match.group(0).split(".")
            lanes = next((int(p[1:]) for p in parts if re.fullmatch(r"v\d", p)), 1)
            bits = next(int(p[1:]) for p in reversed(parts) if re.fullmatch(r"[bfsu]\d+", p))
            out[match.group(1)].append(lanes * bits // 8)
    return out


def traffic(v: Variant, arch: int = 90) -> dict:
    """Global memory traffic of a variant's time loop per neuron-step (bytes loaded and stored,
    and the width of each access in bytes per thread), from the PTX for `sm_<arch>`."""
    accesses = loop_accesses(compile_variant(v, arch).asm["ptx"])
    per_thread = BLOCK // (32 * NUM_WARPS)  # neurons each thread owns
    return {kind: {"bytes": sum(sizes) / per_thread, "widths": sorted(sizes)} for kind, sizes in accesses.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[80, 90])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--traffic", action="store_true",
                        help="print the time loop's memory traffic per neuron-step of the main variants")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("tritonsnn.aot: unset TRITON_INTERPRET; the interpreter cannot compile", file=sys.stderr)
        return 2
    if args.traffic:
        print(json.dumps({name: traffic(case.variant, args.arch[-1]) for name, case in TRAFFIC_CASES.items()}))
        return 0
    jobs = [(v, arch) for arch in args.arch for v in variants()]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        failures = [f for f in pool.map(_compile_ok, jobs, chunksize=8) if f]
    per_arch = {f"sm_{a}": len(variants()) for a in args.arch}
    print(json.dumps({"variants": per_arch, "failed": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
