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
import sys
from concurrent.futures import ProcessPoolExecutor

from tritonsnn import _cubin
from tritonsnn._aot_spec import KernelFlags, Traffic, Variant
from tritonsnn.catalogue import NEURONS, RECURRENT_FAMILY
from tritonsnn.kernels.codes import RESET_SUBTRACT
from tritonsnn.surrogate import registry
from tritonsnn.surrogate.builtins import BUILT_IN as SURROGATES

DTYPES = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp64": "fp64"}
SPIKE_DTYPES = {"bool": "i1", "u8": "u8"}  # binary spikes (spike_dtype=torch.bool / torch.uint8)
BLOCK, NUM_WARPS = 256, 4  # the config the compile check and the traffic check use (one of CONFIGS)
REPORT_ARCHS = (80, 90)
# The GPU the report's predictions assume per architecture: its SMs and bandwidth in bytes/s.
REFERENCE_GPUS = {80: {"name": "A100 80GB", "sms": 108, "bandwidth": 2.0e12},
                  90: {"name": "H200", "sms": 132, "bandwidth": 4.8e12}}

FAMILIES = tuple(importlib.import_module(f"tritonsnn.kernels.{family}.aot")
                 for family in dict.fromkeys(n.family for n in NEURONS.values()))
"""Each catalogued family's `kernels/<family>/aot.py`: its KERNELS and TRAFFIC cases (and any
UNMODELLED_KERNELS, compiled like the others without traffic cases)."""
RECURRENT = importlib.import_module(f"tritonsnn.kernels.{RECURRENT_FAMILY}.aot")
"""The recurrent family's KERNELS (`catalogue.RECURRENT_FAMILY`), compiled like the others; no
traffic cases: the time loop's loads are the product's tiles, not one access per neuron and step."""
LSTM = importlib.import_module("tritonsnn.kernels.lstm.aot")
"""SLSTM's fused KERNELS, compiled like the recurrent family's (and, like them, without traffic
cases)."""

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


KERNELS: dict[str, KernelFlags] = _unique((k.name, k) for k in (
    *(k for f in FAMILIES for k in (*f.KERNELS, *getattr(f, "UNMODELLED_KERNELS", ()))), *RECURRENT.KERNELS,
    *LSTM.KERNELS, *_BITS))
TRAFFIC_CASES: dict[str, Traffic] = _unique(case for f in FAMILIES for case in f.TRAFFIC.items())
# The integer arguments the JIT marks divisible by 16 at a variant's n_div = 16 (a broadcast
# gradient's time stride may not be, but it addresses one scalar per step: the mark changes nothing).
_DIVISIBLE = {"N", "stride_x_t", "stride_gs_t", "stride_gm_t", "stride_gi_t", "stride_ge_t"}


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
    for spec in KERNELS.values():
        out.extend(v for v in _kernel_variants(spec)
                   if v.dtype in spec.dtypes and (spec.storage or not (v.save or v.spike)))
    lif_bwd = KERNELS["lif_bwd_kernel"]
    for dtype, delay, sg in itertools.product(("fp32", "fp64"), (True, False), SURROGATES):
        out.append(lif_bwd.variant(dtype, (RESET_SUBTRACT, delay, False, False), lif_bwd.presence, sg))
    return list(dict.fromkeys(out))


def _kernel_variants(spec: KernelFlags) -> list[Variant]:
    """`variants`' combinations for one kernel, before its dtypes and storage options filter them."""
    out = []
    per_neuron = any(name.endswith("_PER_NEURON") for name in _kernel_fn(spec).arg_names)
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
    return out


def _kernel_fn(spec: KernelFlags):
    """The `@triton.jit` function a spec describes."""
    return getattr(importlib.import_module(spec.module), spec.name)


def _absent(v: Variant) -> set[str]:
    flags = dict(v.flags)
    spec = KERNELS[v.kernel]
    absent = set()
    for flag, value, pointers in spec.optional:
        if flags[flag] == value:
            absent.update(pointers)
    if spec.surrogate and "seed_ptr" in spec.pointers and not registry._REGISTRY[flags["SURROGATE"]].stochastic:
        absent.add("seed_ptr")
    return absent


def source(v: Variant, config: tuple[int, int] = (BLOCK, NUM_WARPS)):
    """The `ASTSource` of a variant at the launch config (BLOCK, num_warps); import triton
    lazily: the CLI checks the mode first."""
    from triton.compiler import ASTSource

    from tritonsnn._launch import group_constexpr

    block, warps = config
    spec = KERNELS[v.kernel]
    fn = _kernel_fn(spec)
    pointers = spec.pointers
    acc = "fp64" if v.dtype == "fp64" else "fp32"
    constexprs = dict(v.flags, **({"BLOCK": block} if "BLOCK" in fn.arg_names else {}),
                      **group_constexpr(fn, block, warps), **spec.fixed)
    if "N_DIV" in fn.arg_names:
        constexprs["N_DIV"] = v.n_div
    if "FP64" in fn.arg_names:
        constexprs["FP64"] = v.dtype == "fp64"
    constexprs.update({name: v.per_neuron for name in fn.arg_names if name.endswith("_PER_NEURON")})
    if "DIRECTED" in fn.arg_names:  # as tritonsnn._rounding.directed decides it
        constexprs["DIRECTED"] = v.save not in ("", v.dtype, "fp64")
    if "SURROGATE" in constexprs:  # the surrogate's gradient, inlined as every surrogate's is
        sg = registry._REGISTRY[constexprs.pop("SURROGATE")]
        constexprs["SG_FN"] = sg.jit_grad
        if "STOCHASTIC" in fn.arg_names:  # a kernel without it takes deterministic surrogates only
            constexprs["STOCHASTIC"] = sg.stochastic
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
            if name in _DIVISIBLE and v.n_div == 16:
                attrs[(i,)] = [["tt.divisibility", 16]]
    return ASTSource(fn, signature, constexprs, attrs)


def compile_variant(v: Variant, arch: int, config: tuple[int, int] = (BLOCK, NUM_WARPS)):
    """The compiled kernel (`.asm["ptx"]`, `.asm["cubin"]`) of a variant for `sm_<arch>` with
    the launch config (BLOCK, num_warps)."""
    import triton
    from triton.backends.compiler import GPUTarget

    from tritonsnn._launch import FP_FUSION

    options = {"num_warps": config[1], **KERNELS[v.kernel].options, "enable_fp_fusion": FP_FUSION}
    return triton.compile(source(v, config), target=GPUTarget("cuda", arch, 32), options=options)


def _compile_ok(job: tuple[Variant, int]) -> str | None:
    v, arch = job
    try:
        kernel = compile_variant(v, arch)
        if not kernel.asm.get("cubin"):
            return f"sm_{arch} {v.describe()}: no cubin"
    except Exception as e:  # report every failure, not just the first
        return f"sm_{arch} {v.describe()}: {type(e).__name__}: {e}"
    return None


def traffic(v: Variant, arch: int = 90) -> dict:
    """The global loads and stores of a variant's main time loop, from its SASS for `sm_<arch>`:
    the bytes each moves for one thread, at the config (BLOCK, NUM_WARPS)."""
    main = _cubin.time_loops(compile_variant(v, arch).asm["cubin"])[0]
    return {"ld": main["ld"], "st": main["st"]}


def default_variants() -> dict[str, Variant]:
    """The variants users run by default: Leaky's and Synaptic's forward and backward (scalar
    parameters, no initial state), in fp32 and bf16."""
    from tritonsnn.kernels.lif import aot as lif

    return {f"{neuron}_{kind}_{dtype}": spec.variant(dtype, core)
            for neuron, core in (("leaky", lif.LEAKY), ("synaptic", lif.SYNAPTIC))
            for kind, spec in (("fwd", lif.FWD), ("bwd", lif.BWD)) for dtype in ("fp32", "bf16")}


def _report_row(job: tuple[str, Variant, int, tuple[int, int]]) -> dict:
    name, v, arch, config = job
    cubin = compile_variant(v, arch, config).asm["cubin"]
    res = _cubin.resources(cubin)
    main = _cubin.time_loops(cubin)[0]
    occupancy = _cubin.occupancy(res, config[1], arch)
    threads = occupancy * _cubin.SM_LIMITS[arch]["warps"] * 32
    return {"name": name, "variant": v.describe(), "arch": arch, "block": config[0], "num_warps": config[1],
            "registers": res.registers, "spill_bytes": res.spill_bytes, "shared": res.shared,
            "occupancy": occupancy, "loads_before_store": main["loads_before_store"],
            "bytes_in_flight_per_sm": round(threads * main["bytes_before_store"])}


def recurrent_variants() -> dict[str, Variant]:
    """The recurrent family's variants users run by default: RLeaky's and RSynaptic's forward and
    backward, with a Linear and with the one-to-one term (fp32, scalar parameters)."""
    return {f"{neuron}_{term}_{kind}": spec.variant("fp32", (RESET_SUBTRACT, synaptic, one_to_one))
            for neuron, synaptic in (("rleaky", False), ("rsynaptic", True))
            for term, one_to_one in (("linear", False), ("one_to_one", True))
            for kind, spec in (("fwd", RECURRENT.FWD), ("bwd", RECURRENT.BWD))}


def _recurrent_row(job: tuple[str, Variant, int]) -> dict:
    name, v, arch = job
    res = _cubin.resources(compile_variant(v, arch).asm["cubin"])
    warps = RECURRENT.NUM_WARPS
    return {"name": name, "variant": v.describe(), "arch": arch, "num_warps": warps, "registers": res.registers,
            "spill_bytes": res.spill_bytes, "shared": res.shared, "occupancy": _cubin.occupancy(res, warps, arch)}


def recurrent_programs(sms: int) -> dict:
    """Programs per SM the recurrent kernels launch (`kernels/rlif/launch.grid`) for SpyTorch's
    SHD layer (B = 256, F = 200) and a sparch-like one (B = 256, F = 128), per term."""
    from tritonsnn.kernels.rlif.launch import grid

    out = {}
    for features in (200, 128):
        for term, one_to_one in (("linear", False), ("one_to_one", True)):
            rows, tiles = grid(256, features, one_to_one, RECURRENT.BLOCK_F)
            out[f"B=256 F={features} {term}"] = rows * tiles / sms
    return out


def _bytes_per_neuron_step(case: Traffic) -> float:
    return sum(case.loads) + sum(case.stores) + 4 * case.scalars / (BLOCK // (32 * NUM_WARPS))


def shd_programs(sms: int, n: int = 32 * 256) -> dict:
    """Programs per SM an SHD-sized layer (batch 32 x 256 neurons) launches on a GPU of `sms` SMs,
    at the heuristic config: the forward (one program per block of neurons) and the backward (times
    its chunks of time, `_launch.chunks_for`) at T = 100 and 1000."""
    from tritonsnn._launch import chunks_for, config_for

    blocks = -(-n // config_for(n, sms)[0])
    out = {"forward": blocks / sms}
    for T in (100, 1000):
        out[f"backward T={T}"] = blocks * chunks_for(n, T, sms) / sms
        out[f"backward T={T} chunks"] = chunks_for(n, T, sms)
    return out


def report(jobs: int = 1) -> dict:
    """The static GPU report: per default variant (and per traffic case), architecture and
    autotune config, registers, spills, shared memory, theoretical occupancy, the loads the main
    time loop issues before its first store and the bytes those put in flight per SM at that
    occupancy (what hides the memory latency: Little's law); each traffic case's bytes per neuron-step (its
    model, which tests/test_traffic.py holds the SASS to); the programs per SM an SHD-sized layer
    launches; the recurrent kernels' registers, spills and occupancy per default variant and the
    programs per SM their SHD-sized layers launch; and predicted times at the stated bandwidths.
    Static predictions, not measurements."""
    from tritonsnn._launch import CONFIGS

    cases = {**default_variants(), **{name: case.variant for name, case in TRAFFIC_CASES.items()}}
    work = [(name, v, arch, config) for name, v in cases.items() for arch in REPORT_ARCHS for config in CONFIGS]
    recurrent = [(name, v, arch) for name, v in recurrent_variants().items() for arch in REPORT_ARCHS]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(_report_row, work, chunksize=4))
        recurrent_rows = list(pool.map(_recurrent_row, recurrent))
    shd = 32 * 256
    fwd_bwd = _bytes_per_neuron_step(TRAFFIC_CASES["leaky_fwd"]) + _bytes_per_neuron_step(TRAFFIC_CASES["leaky_bwd"])
    shapes = {"Leaky [25,128,1000]": (25, 128 * 1000), "Leaky SHD [100,32,256]": (100, shd),
              "Leaky SHD [1000,256,256]": (1000, 256 * 256)}
    return {
        "kind": "static predictions from the compiled kernels (no GPU run)",
        "configs": [list(c) for c in CONFIGS], "archs": list(REPORT_ARCHS), "rows": rows,
        "bytes_per_neuron_step": {name: _bytes_per_neuron_step(case) for name, case in TRAFFIC_CASES.items()},
        "shd_layer": {f"sm_{arch}": shd_programs(REFERENCE_GPUS[arch]["sms"]) for arch in REPORT_ARCHS},
        # The recurrent kernels, at the launcher's one tile config: a program owns 16 rows.
        "recurrent_rows": recurrent_rows,
        "recurrent_programs_per_sm": {f"sm_{arch}": recurrent_programs(REFERENCE_GPUS[arch]["sms"])
                                      for arch in REPORT_ARCHS},
        "predicted_fwd_bwd_us": {f"sm_{arch} ({gpu['name']}) at {gpu['bandwidth'] / 1e12:g} TB/s": {
            shape: round(fwd_bwd * T * n / gpu["bandwidth"] * 1e6, 1) for shape, (T, n) in shapes.items()}
            for arch, gpu in ((a, REFERENCE_GPUS[a]) for a in REPORT_ARCHS)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[80, 90])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--traffic", action="store_true",
                        help="print the loads and stores of the main variants' time loops")
    parser.add_argument("--report", metavar="FILE.json",
                        help="write the static GPU report (registers, occupancy, loads in flight, traffic)")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("tritonsnn.aot: unset TRITON_INTERPRET; the interpreter cannot compile", file=sys.stderr)
        return 2
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report(args.jobs), f, indent=1)
        return 0
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
