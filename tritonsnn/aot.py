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
import itertools
import json
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from tritonsnn.surrogate import registry
from tritonsnn.surrogate.builtins import BUILT_IN as SURROGATES
DTYPES = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp64": "fp64"}
SPIKE_DTYPES = {"bool": "i1", "u8": "u8"}  # binary spikes (spike_dtype=torch.bool / torch.uint8)
BLOCK = 512


@dataclass(frozen=True)
class Variant:
    kernel: str
    dtype: str  # of the input, its gradient, and (unless `save`) everything else
    flags: tuple[tuple[str, object], ...] = field(default_factory=tuple)
    save: str = ""  # dtype of the stored state sequences (save_dtype), when not `dtype`
    spike: str = ""  # binary spike dtype (SPIKE_DTYPES), when not `dtype`

    def describe(self) -> str:
        stored = "".join(f", {k}={v}" for k, v in (("save", self.save), ("spike", self.spike)) if v)
        return f"{self.kernel}[{self.dtype}{stored}, " + ", ".join(f"{k}={v}" for k, v in self.flags) + "]"


@dataclass(frozen=True)
class KernelFlags:
    """How a kernel's variants are formed: `core` flags change the time step's math; each
    `presence` flag adds an optional tensor and the code reading or writing it; `optional` lists,
    per flag value, the pointers that are then absent (constexpr None)."""

    core: dict
    presence: tuple
    defaults: tuple  # the core settings the neurons use by default
    # pointer argument -> role: "data" (the variant's dtype), "state" (save dtype), "spike", "acc",
    # "param", "sg", "seed"
    pointers: dict
    optional: tuple  # (flag, value, pointers absent when the flag has that value)
    surrogate: bool = False
    requires: dict = field(default_factory=dict)  # presence flag -> core flag it needs


_LIF_CORE = {"RESET": (0, 1, 2), "RESET_DELAY": (True, False), "RESET_INPUT": (True, False),
             "SYNAPTIC": (True, False)}
_LIF_DEFAULTS = ((0, True, False, False), (0, True, True, True))  # Leaky, Synaptic
_LIF_REQUIRES = {"HAS_SYN0": "SYNAPTIC", "HAS_GI": "SYNAPTIC", "ALPHA_GRAD": "SYNAPTIC", "GM_BCAST": "HAS_GM"}

KERNELS = {
    "lif_fwd_kernel": KernelFlags(
        core=_LIF_CORE, presence=("HAS_MEM0", "HAS_SYN0", "HAS_LEN"), defaults=_LIF_DEFAULTS,
        pointers={"x_ptr": "data", "mem0_ptr": "data", "syn0_ptr": "data", "alpha_ptr": "param",
                  "decay_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param", "len_ptr": "i64",
                  "spk_ptr": "spike", "mem_ptr": "state", "h_ptr": "state", "syn_ptr": "state"},
        optional=(("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_SYN0", False, ("syn0_ptr",)),
                  ("HAS_LEN", False, ("len_ptr",)),
                  ("RESET_DELAY", True, ("h_ptr",)), ("SYNAPTIC", False, ("alpha_ptr", "syn_ptr"))),
        requires=_LIF_REQUIRES),
    "lif_bwd_kernel": KernelFlags(
        core=_LIF_CORE, defaults=_LIF_DEFAULTS, surrogate=True, requires=_LIF_REQUIRES,
        presence=("HAS_MEM0", "HAS_SYN0", "HAS_GM", "HAS_GI", "PARAM_GRAD", "ALPHA_GRAD", "GS_BCAST", "GM_BCAST",
                  "HAS_LEN"),
        pointers={"gs_ptr": "data", "gm_ptr": "state", "gi_ptr": "state", "mem_ptr": "state",
                  "h_ptr": "state", "syn_ptr": "state", "mem0_ptr": "data", "syn0_ptr": "data",
                  "alpha_ptr": "param", "decay_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param",
                  "sg_ptr": "sg", "seed_ptr": "seed", "len_ptr": "i64", "dx_ptr": "data", "dmem0_ptr": "data",
                  "dsyn0_ptr": "data", "dalpha_ptr": "acc", "ddecay_ptr": "acc", "dthr_ptr": "acc", "dgsf_ptr": "acc"},
        optional=(("HAS_MEM0", False, ("mem0_ptr", "dmem0_ptr")), ("HAS_SYN0", False, ("syn0_ptr", "dsyn0_ptr")),
                  ("HAS_LEN", False, ("len_ptr",)),
                  ("RESET_DELAY", True, ("h_ptr",)),
                  ("SYNAPTIC", False, ("alpha_ptr", "gi_ptr", "syn_ptr", "dalpha_ptr")),
                  ("HAS_GM", False, ("gm_ptr",)), ("HAS_GI", False, ("gi_ptr",)),
                  ("ALPHA_GRAD", False, ("syn_ptr", "dalpha_ptr")),
                  ("PARAM_GRAD", False, ("ddecay_ptr", "dthr_ptr", "dgsf_ptr")))),
    "alpha_fwd_kernel": KernelFlags(
        core={"RESET": (0, 1, 2)}, presence=("HAS_EXC0", "HAS_INH0", "HAS_MEM0", "HAS_LEN", "KEEP_ACC"),
        defaults=((1,),),
        pointers={"x_ptr": "data", "exc0_ptr": "data", "inh0_ptr": "data", "mem0_ptr": "data",
                  "a_ptr": "param", "b_ptr": "param", "tau_ptr": "param", "thr_ptr": "param",
                  "gsf_ptr": "param", "len_ptr": "i64", "spk_ptr": "spike", "exc_ptr": "state",
                  "inh_ptr": "state", "mem_ptr": "state", "exc_acc_ptr": "acc", "inh_acc_ptr": "acc"},
        optional=(("HAS_EXC0", False, ("exc0_ptr",)), ("HAS_INH0", False, ("inh0_ptr",)),
                  ("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_LEN", False, ("len_ptr",)),
                  ("KEEP_ACC", False, ("exc_acc_ptr", "inh_acc_ptr")))),
    "alpha_bwd_kernel": KernelFlags(
        core={"RESET": (0, 1, 2)}, defaults=((1,),), surrogate=True, requires={"GM_BCAST": "HAS_GM"},
        presence=("HAS_EXC0", "HAS_INH0", "HAS_MEM0", "HAS_GE", "HAS_GI", "HAS_GM", "PARAM_GRAD", "DECAY_GRAD",
                  "GS_BCAST", "GM_BCAST", "HAS_LEN"),
        pointers={"gs_ptr": "data", "ge_ptr": "state", "gi_ptr": "state", "gm_ptr": "state",
                  "mem_ptr": "state", "exc_ptr": "state", "inh_ptr": "state", "exc0_ptr": "data",
                  "inh0_ptr": "data", "mem0_ptr": "data", "a_ptr": "param", "b_ptr": "param",
                  "tau_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param", "sg_ptr": "sg", "seed_ptr": "seed",
                  "len_ptr": "i64", "dx_ptr": "data", "dexc0_ptr": "data", "dinh0_ptr": "data", "da_ptr": "acc",
                  "db_ptr": "acc", "dtau_ptr": "acc", "dthr_ptr": "acc", "dgsf_ptr": "acc"},
        optional=(("HAS_EXC0", False, ("exc0_ptr", "dexc0_ptr")), ("HAS_INH0", False, ("inh0_ptr", "dinh0_ptr")),
                  ("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_GE", False, ("ge_ptr",)),
                  ("HAS_GI", False, ("gi_ptr",)), ("HAS_GM", False, ("gm_ptr",)),
                  ("PARAM_GRAD", False, ("dthr_ptr", "dgsf_ptr")), ("HAS_LEN", False, ("len_ptr",)),
                  ("DECAY_GRAD", False, ("exc_ptr", "inh_ptr", "da_ptr", "db_ptr", "dtau_ptr")))),
    # Bit-packing of binary inputs (kernels/bits.py): one variant per dtype of the unpacked tensor.
    "pack_bits_kernel": KernelFlags(core={}, presence=(), defaults=((),), optional=(),
                                    pointers={"x_ptr": "data", "packed_ptr": "u8", "flag_ptr": "i32"}),
    "unpack_bits_kernel": KernelFlags(core={}, presence=(), defaults=((),), optional=(),
                                      pointers={"packed_ptr": "u8", "out_ptr": "data"}),
}
_DIVISIBLE = {"N", "stride_x_t", "stride_gs_t", "stride_gm_t", "stride_gi_t", "stride_ge_t"}  # as the JIT marks them


def _variant(kernel: str, dtype: str, core: tuple, present=(), sg=None, save="", spike="") -> Variant:
    spec = KERNELS[kernel]
    flags = dict(zip(spec.core, core))
    for name in spec.presence:
        flags[name] = name in present and flags.get(spec.requires.get(name), True)
    if spec.surrogate:
        flags["SURROGATE"] = "ATan" if sg is None else sg  # a registry name: SG_FN and STOCHASTIC in `source`
    return Variant(kernel, dtype, tuple(flags.items()), save, spike)


def variants() -> list[Variant]:
    """The variants compiled, per kernel: every combination of the core flags (reset mechanism,
    and for the LIF family reset delay, input reset and synaptic current) with every optional
    tensor present and with none, in fp32; each optional tensor alone on the neurons' default
    cores; those defaults in fp16, bf16 and fp64, with bf16 states under fp32 (and fp32 states
    under fp16: save_dtype), and, for the forwards, with binary spikes (bool, uint8); and for the
    LIF backward every built-in surrogate (a registered one arrives the same way, as SG_FN) in both
    ways it is used (reset_delay True/False) and both accumulation dtypes. Flags guard independent blocks of code, so this reaches every line of
    every kernel in every context that changes its types or control flow, without compiling the
    full product (thousands of variants)."""
    out = []
    for kernel, spec in KERNELS.items():
        for core in itertools.product(*spec.core.values()):
            out.append(_variant(kernel, "fp32", core, spec.presence))
            out.append(_variant(kernel, "fp32", core, ()))
        for default in spec.defaults:
            out.extend(_variant(kernel, "fp32", default, (name,)) for name in spec.presence)
            out.extend(_variant(kernel, dtype, default, spec.presence) for dtype in ("fp16", "bf16", "fp64"))
            if "state" in spec.pointers.values():
                out.append(_variant(kernel, "fp32", default, spec.presence, save="bf16"))
                out.append(_variant(kernel, "fp16", default, spec.presence, save="fp32"))
            if "spk_ptr" in spec.pointers:
                out.extend(_variant(kernel, "fp32", default, spec.presence, spike=s) for s in SPIKE_DTYPES)
    everything = KERNELS["lif_bwd_kernel"].presence
    for dtype, delay, sg in itertools.product(("fp32", "fp64"), (True, False), SURROGATES):
        out.append(_variant("lif_bwd_kernel", dtype, (0, delay, False, False), everything, sg))
    return list(dict.fromkeys(out))


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

    from tritonsnn import kernels

    fn = getattr(kernels, v.kernel)
    pointers = KERNELS[v.kernel].pointers
    acc = "fp64" if v.dtype == "fp64" else "fp32"
    constexprs = dict(v.flags, BLOCK=BLOCK)
    if "FP64" in fn.arg_names:
        constexprs["FP64"] = v.dtype == "fp64"
    if "DIRECTED" in fn.arg_names:  # as tritonsnn._rounding.directed decides it
        constexprs["DIRECTED"] = v.save not in ("", v.dtype, "fp64")
    if "SURROGATE" in constexprs:  # the surrogate's gradient, inlined as every surrogate's is
        sg = registry._REGISTRY[constexprs.pop("SURROGATE")]
        constexprs.update(SG_FN=sg.triton_fn, STOCHASTIC=sg.stochastic)
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


NUM_WARPS = 4
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


TRAFFIC_CASES = {
    "leaky_fwd": _variant("lif_fwd_kernel", "fp32", _LIF_DEFAULTS[0]),
    "leaky_bwd": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[0]),
    "leaky_bwd_mem_grad": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[0], ("HAS_GM",)),
    "leaky_bwd_summed_grad": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[0], ("GS_BCAST",)),
    "leaky_fwd_immediate_reset": _variant("lif_fwd_kernel", "fp32", (0, False, False, False)),
    "leaky_bwd_immediate_reset": _variant("lif_bwd_kernel", "fp32", (0, False, False, False)),
    "leaky_fwd_fp16": _variant("lif_fwd_kernel", "fp16", _LIF_DEFAULTS[0]),
    "leaky_bwd_fp16": _variant("lif_bwd_kernel", "fp16", _LIF_DEFAULTS[0]),
    "leaky_fwd_save_bf16": _variant("lif_fwd_kernel", "fp32", _LIF_DEFAULTS[0], save="bf16"),
    "leaky_bwd_save_bf16": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[0], save="bf16"),
    "leaky_fwd_bool_spikes": _variant("lif_fwd_kernel", "fp32", _LIF_DEFAULTS[0], spike="bool"),
    "synaptic_fwd": _variant("lif_fwd_kernel", "fp32", _LIF_DEFAULTS[1]),
    "synaptic_bwd": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[1]),
    "alpha_fwd": _variant("alpha_fwd_kernel", "fp32", (1,)),
    # Learnable decays with fp16 states: the currents kept in fp32 as well.
    "alpha_fwd_fp16_keep_currents": _variant("alpha_fwd_kernel", "fp16", (1,), ("KEEP_ACC",)),
    "alpha_bwd": _variant("alpha_bwd_kernel", "fp32", (1,)),
    # Per-sample lengths: loaded once per neuron before the loop, so the loop moves what it did.
    "leaky_fwd_lengths": _variant("lif_fwd_kernel", "fp32", _LIF_DEFAULTS[0], ("HAS_LEN",)),
    "leaky_bwd_lengths": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[0], ("HAS_LEN",)),
    "leaky_bwd_summed_grad_lengths": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[0], ("HAS_LEN", "GS_BCAST")),
    "synaptic_bwd_lengths": _variant("lif_bwd_kernel", "fp32", _LIF_DEFAULTS[1], ("HAS_LEN", "HAS_GI", "ALPHA_GRAD")),
    "alpha_fwd_lengths": _variant("alpha_fwd_kernel", "fp32", (1,), ("HAS_LEN",)),
    "alpha_bwd_lengths": _variant("alpha_bwd_kernel", "fp32", (1,), ("HAS_LEN", "DECAY_GRAD")),
}


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
        print(json.dumps({name: traffic(v, args.arch[-1]) for name, v in TRAFFIC_CASES.items()}))
        return 0
    jobs = [(v, arch) for arch in args.arch for v in variants()]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        failures = [f for f in pool.map(_compile_ok, jobs, chunksize=8) if f]
    per_arch = {f"sm_{a}": len(variants()) for a in args.arch}
    print(json.dumps({"variants": per_arch, "failed": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
