"""Bit-packing of binary tensors: 8 elements per byte, for layers that save their spike input for
the backward at 1 bit per element instead of 16 or 32.

Layout: byte i holds elements 8i .. 8i+7, element 8i+j in bit j (the torch twin in
`tritonsnn/_bits.py` packs identically). The pack kernel also raises a flag when any element is
neither 0 nor 1 (NaN included), so callers detect binary input instead of assuming it.
"""
import triton
import triton.language as tl


@triton.jit
def pack_bits_kernel(x_ptr, packed_ptr, flag_ptr, n, BLOCK: tl.constexpr):
    o_b = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # bytes of this program
    o_x = o_b[:, None] * 8 + tl.arange(0, 8)[None, :]
    m_x = o_x < n
    b_x = tl.load(x_ptr + o_x, mask=m_x, other=0.0)
    b_bad = ((b_x != 0) & (b_x != 1) & m_x).to(tl.int32)
    tl.atomic_max(flag_ptr, tl.max(tl.max(b_bad, axis=1), axis=0))
    b_byte = tl.sum((b_x != 0).to(tl.int32) << tl.arange(0, 8)[None, :], axis=1)
    tl.store(packed_ptr + o_b, b_byte.to(tl.uint8), mask=o_b * 8 < n)


@triton.jit
def unpack_bits_kernel(packed_ptr, out_ptr, n, BLOCK: tl.constexpr):
    o_b = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    o_x = o_b[:, None] * 8 + tl.arange(0, 8)[None, :]
    b_byte = tl.load(packed_ptr + o_b, mask=o_b * 8 < n, other=0).to(tl.int32)
    b_bits = (b_byte[:, None] >> tl.arange(0, 8)[None, :]) & 1
    tl.store(out_ptr + o_x, b_bits.to(out_ptr.dtype.element_ty), mask=o_x < n)
