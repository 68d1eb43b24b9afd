"""Bit-packing of binary tensors (8 elements a byte; layout in `kernels/bits.py`): the Triton
kernels on the Triton path, vectorised torch elsewhere."""
from __future__ import annotations

import torch

from tritonsnn.backend import get_backend, uses_triton

BLOCK = 128  # bytes per program: 1024 elements
CHUNK = 1 << 20  # elements per step of the torch path (a multiple of 8)
_WEIGHTS = 1 << torch.arange(8)  # bit j of a byte holds element 8i + j


def pack(x: torch.Tensor) -> torch.Tensor | None:
    """`x` as 1 bit per element (uint8, ceil(numel / 8) bytes), or None when some element is not
    0 or 1 (NaN included): binary input is detected, never assumed. On a GPU the detection reads
    back one flag (a device sync)."""
    flat = x.detach().reshape(-1)
    n = flat.numel()
    packed = torch.empty((n + 7) // 8, dtype=torch.uint8, device=x.device)
    if n == 0:
        return packed
    if uses_triton(x.device, get_backend()):
        flag = torch.zeros(1, dtype=torch.int32, device=x.device)
        _launch("pack_bits_kernel", packed.numel(), flat, packed, flag, n)
        return None if flag.item() else packed
    weights = _WEIGHTS.to(x.device, torch.uint8)
    for start in range(0, n, CHUNK):  # chunks bound the temporaries (a few bytes per element)
        part = flat[start:start + CHUNK]
        if not bool(((part == 0) | (part == 1)).all()):
            return None
        bits = torch.zeros((part.numel() + 7) // 8 * 8, dtype=torch.uint8, device=x.device)
        bits[:part.numel()] = part != 0
        packed[start // 8:start // 8 + bits.numel() // 8] = (bits.view(-1, 8) * weights).sum(1, dtype=torch.uint8)
    return packed


def unpack(packed: torch.Tensor, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """The tensor `pack` packed, as `dtype` in `shape`."""
    n = shape.numel()
    out = torch.empty(shape, dtype=dtype, device=packed.device)
    if uses_triton(packed.device, get_backend()) and n:
        _launch("unpack_bits_kernel", packed.numel(), packed, out, n)
        return out
    weights, flat = _WEIGHTS.to(packed.device, torch.uint8), out.view(-1)
    for start in range(0, n, CHUNK):
        bits = (packed[start // 8:(start + CHUNK) // 8, None] & weights) != 0
        flat[start:start + CHUNK] = bits.reshape(-1)[:flat[start:start + CHUNK].numel()]
    return out


def _launch(kernel: str, n_bytes: int, *args) -> None:
    """Launch one of `kernels/bits.py`'s kernels over `n_bytes` packed bytes (Triton is imported
    here, when a kernel first runs)."""
    import triton

    from tritonsnn.kernels import bits

    getattr(bits, kernel)[(triton.cdiv(n_bytes, BLOCK),)](*args, BLOCK=BLOCK)
