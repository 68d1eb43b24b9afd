"""What a compiled kernel asks of a GPU, read from its cubin without one: registers, spills and
shared memory (`cuobjdump -res-usage`), the global loads each loop issues before its first
store (`cuobjdump -sass`), and the theoretical occupancy those resources allow.

The tools are the `cuobjdump` Triton ships in `triton/backends/nvidia/bin`.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass

# Per-SM limits of the architectures the report covers (CUDA occupancy calculator, cc 8.0 and 9.0).
SM_LIMITS = {
    80: {"regs": 65536, "warps": 64, "blocks": 32, "shared": 167936},
    90: {"regs": 65536, "warps": 64, "blocks": 32, "shared": 233472},
}
REG_UNIT = 256  # registers are allocated to a warp in units of 256
BLOCK_RESERVED_SHARED = 1024  # shared memory the runtime reserves per block (cc >= 8.0)

_RES = re.compile(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")
_INSTR = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")


def _cuobjdump(*args: str) -> str:
    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    return subprocess.run([tool, *args], capture_output=True, text=True, check=True).stdout


def _dump(cubin: bytes, flag: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(cubin)
        return _cuobjdump(flag, path)


@dataclass(frozen=True)
class Resources:
    registers: int  # per thread
    spill_bytes: int  # stack and local memory per thread: both mean spilled registers here
    shared: int  # static shared memory per block, bytes


def resources(cubin: bytes) -> Resources:
    """The kernel's resource usage as ptxas allocated it (the cubin holds one kernel)."""
    match = _RES.search(_dump(cubin, "-res-usage"))
    if match is None:
        raise ValueError("tritonsnn._cubin: cuobjdump printed no resource usage")
    reg, stack, shared, local = (int(g) for g in match.groups())
    return Resources(reg, stack + local, shared)


def sass(cubin: bytes) -> list[tuple[int, str, str]]:
    """The kernel's SASS as (address, opcode, operands), in address order."""
    return [(int(a, 16), op, rest.strip()) for a, _, op, rest in _INSTR.findall(_dump(cubin, "-sass"))]


def loops(code: list[tuple[int, str, str]]) -> list[tuple[int, int]]:
    """(first, last) instruction addresses of every loop: each backward branch closes one."""
    out = []
    for address, op, rest in code:
        if op.startswith("BRA"):
            target = int(rest.split()[-1], 16)
            if target < address:  # (a branch to itself pads the end of the code)
                out.append((target, address))
    return out


def loads_before_store(code: list[tuple[int, str, str]], loop: tuple[int, int]) -> list[str]:
    """The global loads (opcodes) the loop body issues before its first global store: the loads
    one thread can have in flight at once, since no load is moved above a store it may alias."""
    out = []
    for address, op, _ in code:
        if loop[0] <= address <= loop[1]:
            if op.startswith("STG"):
                break
            if op.startswith("LDG"):
                out.append(op)
    return out


_WIDTHS = {"128": 16, "64": 8, "U16": 2, "S16": 2, "U8": 1, "S8": 1}


def access_bytes(op: str) -> int:
    """Bytes one thread moves with a global load or store opcode (`LDG.E.128`: 16, `STG.E.U8`:
    1, no size suffix: 4)."""
    return next((_WIDTHS[p] for p in op.split(".")[1:] if p in _WIDTHS), 4)


def _in_flight(loads: list[str]) -> dict:
    return {"loads_before_store": len(loads), "bytes_before_store": sum(access_bytes(op) for op in loads)}


def time_loops(cubin: bytes) -> list[dict]:
    """Per loop of the kernel, the main one first (most stores, then most loads: the grouped
    steps, not a loop that reads a few values before the walk): the bytes per thread of each
    global load and store in its body, and the loads issued before its first store (how many, and
    their bytes per thread)."""
    code = sass(cubin)
    out = []
    for loop in loops(code):
        body = [op for address, op, _ in code if loop[0] <= address <= loop[1]]
        out.append({"ld": [access_bytes(op) for op in body if op.startswith("LDG")],
                    "st": [access_bytes(op) for op in body if op.startswith("STG")],
                    **_in_flight(loads_before_store(code, loop))})
    return sorted(out, key=lambda loop: (-len(loop["st"]), -len(loop["ld"])))


def occupancy(res: Resources, num_warps: int, arch: int) -> float:
    """Theoretical occupancy: resident warps per SM over the most an SM holds, limited by
    registers, shared memory, warps and blocks per SM."""
    lim = SM_LIMITS[arch]
    regs_per_warp = -(-res.registers * 32 // REG_UNIT) * REG_UNIT
    blocks = min(lim["blocks"], lim["warps"] // num_warps, lim["regs"] // regs_per_warp // num_warps)
    if res.shared:
        blocks = min(blocks, lim["shared"] // (res.shared + BLOCK_RESERVED_SHARED))
    return blocks * num_warps / lim["warps"]
