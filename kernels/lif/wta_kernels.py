"""Winner-take-all kernels (snnTorch's `inhibition`) for Leaky and Synaptic: the LIF family's
time loop where, in each sample, only the neuron with the largest membrane minus threshold may
fire (`README.md`, "Inhibition").

Layout: sequences `[T, B, N]` with the N neurons of a sample contiguous; a program owns ROWS
whole samples (a [ROWS, BLOCK_N] block, BLOCK_N >= N), so each step's maximum over a sample is a
reduction inside the block and no program waits on another. The backward finds each step's
winner again from the stored membrane, as the forward found it."""
import triton
import triton.language as tl

from ..common import RESET_SUBTRACT, RESET_ZERO
from ..surrogates import surrogate_grad, surrogate_params
from .kernels import membrane


@triton.jit
def _vector(ptr, o_n, m_n, PER_NEURON: tl.constexpr):
    """A parameter as a [1, BLOCK_N] row (one value per neuron) or a scalar, in fp32."""
    if PER_NEURON:
        return tl.load(ptr + o_n, mask=m_n, other=0.0).to(tl.float32)[None, :]
    else:
        return tl.load(ptr).to(tl.float32)


@triton.jit
def _winners(b_v, b_thr, o_n, m_n):
    """1.0 where a neuron has its sample's largest v - thr (the first of equals, a NaN counting
    as the largest, as torch.argmax counts it), 0.0 elsewhere; columns past N never win."""
    b_shift = b_v - b_thr
    b_shift = tl.where(b_shift != b_shift, float("inf"), b_shift)
    b_shift = tl.where(m_n[None, :], b_shift, float("-inf"))
    b_win = tl.argmax(b_shift, axis=1, tie_break_left=True)
    return tl.where(o_n[None, :] == b_win[:, None], 1.0, 0.0)


@triton.jit
def _block(B, N, ROWS: tl.constexpr, BLOCK_N: tl.constexpr):
    """The program's samples as a [ROWS, BLOCK_N] block: (its neurons, their mask, the block's
    mask, its offsets within a step, a step's length B N)."""
    o_b = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    o_n = tl.arange(0, BLOCK_N)
    m_n = o_n < N
    return o_n, m_n, (o_b < B)[:, None] & m_n[None, :], o_b[:, None] * N + o_n[None, :], B.to(tl.int64) * N


@triton.jit(do_not_specialize=["T"])
def wta_fwd_kernel(
    x_ptr, mem0_ptr, syn0_ptr, alpha_ptr, decay_ptr, thr_ptr, spk_ptr, mem_ptr, syn_ptr,
    T, B, N,
    ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, SYNAPTIC: tl.constexpr, HAS_MEM0: tl.constexpr,
    HAS_SYN0: tl.constexpr, ROWS: tl.constexpr, BLOCK_N: tl.constexpr,
):
    o_n, m_n, m, o, step = _block(B, N, ROWS, BLOCK_N)
    b_decay = _vector(decay_ptr, o_n, m_n, DECAY_PER_NEURON)
    b_thr = _vector(thr_ptr, o_n, m_n, THR_PER_NEURON)
    b_u = tl.zeros((ROWS, BLOCK_N), dtype=tl.float32)
    if HAS_MEM0:
        b_u = tl.load(mem0_ptr + o, mask=m, other=0.0).to(tl.float32)
    b_r = tl.where(b_u > b_thr, 1.0, 0.0)
    b_i = tl.zeros((ROWS, BLOCK_N), dtype=tl.float32)
    b_alpha = b_decay  # read only with SYNAPTIC
    if SYNAPTIC:
        b_alpha = _vector(alpha_ptr, o_n, m_n, ALPHA_PER_NEURON)
        if HAS_SYN0:
            b_i = tl.load(syn0_ptr + o, mask=m, other=0.0).to(tl.float32)
    for t in range(0, T):
        o_t = t * step + o
        b_in = tl.load(x_ptr + o_t, mask=m, other=0.0).to(tl.float32)
        if SYNAPTIC:
            b_i = b_alpha * b_i + b_in
            tl.store(syn_ptr + o_t, b_i.to(syn_ptr.dtype.element_ty), mask=m)
            b_in = b_i
        b_v = membrane(b_u, b_in, b_r, b_decay, b_thr, RESET, SYNAPTIC)  # Synaptic's zero reset clears its input
        # Every neuron past the threshold resets at the next step; only the winner fires.
        b_r = tl.where(b_v > b_thr, 1.0, 0.0)
        b_spk = b_r * _winners(b_v, b_thr, o_n, m_n)
        tl.store(spk_ptr + o_t, b_spk.to(spk_ptr.dtype.element_ty), mask=m)
        tl.store(mem_ptr + o_t, b_v.to(mem_ptr.dtype.element_ty), mask=m)
        b_u = b_v


@triton.jit(do_not_specialize=["T"])
def wta_bwd_kernel(
    gs_ptr, gm_ptr, gi_ptr, mem_ptr, syn_ptr, mem0_ptr, syn0_ptr, alpha_ptr, decay_ptr, thr_ptr, sg_ptr,
    dx_ptr, dmem0_ptr, dsyn0_ptr, dalpha_ptr, ddecay_ptr, dthr_ptr,
    T, B, N,
    ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, SYNAPTIC: tl.constexpr, HAS_MEM0: tl.constexpr,
    HAS_SYN0: tl.constexpr, HAS_GS: tl.constexpr, HAS_GM: tl.constexpr, HAS_GI: tl.constexpr,
    SG_FN: tl.constexpr, ROWS: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """The reverse scan (`README.md`, "Inhibition"): gU_t = gS_t sg_t w_t + gM_t + c, with w_t
    the step's winner; per-neuron sums of the parameter gradients are stored for the launcher
    to reduce."""
    o_n, m_n, m, o, step = _block(B, N, ROWS, BLOCK_N)
    b_decay = _vector(decay_ptr, o_n, m_n, DECAY_PER_NEURON)
    b_thr = _vector(thr_ptr, o_n, m_n, THR_PER_NEURON)
    b_alpha = b_decay
    if SYNAPTIC:
        b_alpha = _vector(alpha_ptr, o_n, m_n, ALPHA_PER_NEURON)
    p0, p1 = surrogate_params(sg_ptr, False)
    zero = tl.zeros((ROWS, BLOCK_N), dtype=tl.float32)
    b_mem0 = zero
    if HAS_MEM0:
        b_mem0 = tl.load(mem0_ptr + o, mask=m, other=0.0).to(tl.float32)
    b_syn0 = zero
    if SYNAPTIC and HAS_SYN0:
        b_syn0 = tl.load(syn0_ptr + o, mask=m, other=0.0).to(tl.float32)
    b_c = zero       # dL/dU_t arriving from step t + 1
    b_ci = zero      # dL/dI_t arriving from step t + 1
    b_sdecay = zero
    b_sthr = zero
    b_salpha = zero
    # U_t, kept from the last iteration's U_{t-1}: each step reads one stored membrane.
    b_v = tl.load(mem_ptr + (T - 1) * step + o, mask=m, other=0.0).to(tl.float32)
    for s in range(0, T):
        t = T - 1 - s
        o_t = t * step + o
        if t > 0:
            b_u = tl.load(mem_ptr + o_t - step, mask=m, other=0.0).to(tl.float32)
        else:
            b_u = b_mem0
        b_r = tl.where(b_u > b_thr, 1.0, 0.0)
        b_gu = b_c
        if HAS_GM:
            b_gu += tl.load(gm_ptr + o_t, mask=m, other=0.0).to(tl.float32)
        b_fire_grad = zero
        if HAS_GS:
            b_gs = tl.load(gs_ptr + o_t, mask=m, other=0.0).to(tl.float32)
            b_fire_grad = b_gs * surrogate_grad(b_v - b_thr, p0, p1, 0, o_t, SG_FN, False) * _winners(
                b_v, b_thr, o_n, m_n)
        b_gu += b_fire_grad
        b_sthr -= b_fire_grad
        if RESET == RESET_SUBTRACT:
            b_sthr -= b_gu * b_r
        if RESET == RESET_ZERO:
            b_keep = 1.0 - b_r
        else:
            b_keep = 1.0 + zero
        b_sdecay += b_gu * b_keep * b_u
        b_c = b_decay * b_keep * b_gu
        if RESET == RESET_ZERO and SYNAPTIC:
            b_gin = b_keep * b_gu
        else:
            b_gin = b_gu
        if SYNAPTIC:
            b_gi = b_gin + b_ci
            if HAS_GI:
                b_gi += tl.load(gi_ptr + o_t, mask=m, other=0.0).to(tl.float32)
            if t > 0:
                b_iprev = tl.load(syn_ptr + o_t - step, mask=m, other=0.0).to(tl.float32)
            else:
                b_iprev = b_syn0
            b_salpha += b_gi * b_iprev
            b_ci = b_alpha * b_gi
            b_gin = b_gi
        tl.store(dx_ptr + o_t, b_gin.to(dx_ptr.dtype.element_ty), mask=m)
        b_v = b_u
    if HAS_MEM0:
        tl.store(dmem0_ptr + o, b_c.to(dmem0_ptr.dtype.element_ty), mask=m)
    if SYNAPTIC and HAS_SYN0:
        tl.store(dsyn0_ptr + o, b_ci.to(dsyn0_ptr.dtype.element_ty), mask=m)
    tl.store(ddecay_ptr + o, b_sdecay, mask=m)
    tl.store(dthr_ptr + o, b_sthr, mask=m)
    if SYNAPTIC:
        tl.store(dalpha_ptr + o, b_salpha, mask=m)
