"""Fused kernels of the first-order LIF family — snnTorch's Leaky, Synaptic and Lapicque — each
running the whole time loop in one launch, forward and backward.

One pair of kernels serves the three neurons through two constexpr flags: SYNAPTIC adds the
synaptic current I_t = alpha I_{t-1} + X_t in front of the membrane (Synaptic), and RESET_INPUT
makes a zero reset clear the step's input as well as the decayed membrane (Synaptic, Lapicque;
Leaky's zero reset keeps the input). The membrane decay arrives already clamped (or, for Lapicque,
as 1 - dt/(RC)), so the kernels only see `decay`.

Layout: every sequence is time-major `[T, N]` with the N neurons contiguous; a program owns BLOCK
neurons and walks time, so each step is one coalesced load or store per tensor. With HAS_LEN the
sequences are `[T, B, M]` flattened (neuron n belongs to sample n // M) and each sample stops at
its own length. The equations and the backward-through-time derivation are in `README.md` here.
"""
import triton
import triton.language as tl

from ..common import (RESET_NONE, RESET_SUBTRACT, RESET_ZERO, acc, grad_ptrs, live, load_grad, neighbours, on_side,
                      param, sample_lengths, spikes, state0, step_mask, stored)
from ..surrogates import surrogate_grad, surrogate_params, surrogate_seed


@triton.jit(do_not_specialize=["T"])
def lif_fwd_kernel(
    x_ptr, mem0_ptr, syn0_ptr, alpha_ptr, decay_ptr, thr_ptr, gsf_ptr, len_ptr,
    spk_ptr, mem_ptr, h_ptr, syn_ptr,
    T, N, M, stride_x_t,
    ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr,
    GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr,
    SYNAPTIC: tl.constexpr, HAS_MEM0: tl.constexpr, HAS_SYN0: tl.constexpr, HAS_LEN: tl.constexpr,
    DIRECTED: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr,
):
    o_n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_n = o_n < N
    b_decay = param(decay_ptr, o_n, m_n, DECAY_PER_NEURON, FP64)
    b_thr = param(thr_ptr, o_n, m_n, THR_PER_NEURON, FP64)
    b_gsf = param(gsf_ptr, o_n, m_n, GSF_PER_NEURON, FP64)
    b_down = b_thr
    b_up = b_thr
    if DIRECTED:  # the stored dtype's values around the threshold (see _on_side)
        b_down, b_up = neighbours(b_thr, mem_ptr)
    # Past a neuron's length its state runs on unobserved: every output there is stored as 0,
    # and nothing later reads it (the final state is taken at the last step within the length).
    b_len, b_tmax = sample_lengths(len_ptr, o_n, m_n, M, T, HAS_LEN)
    # b_u is the state after the previous step in the accumulation dtype (mem0 at t = 0).
    b_u = state0(mem0_ptr, o_n, m_n, HAS_MEM0, FP64, BLOCK)
    b_r = tl.where(b_u > b_thr, 1.0, 0.0)
    if SYNAPTIC:
        b_alpha = param(alpha_ptr, o_n, m_n, ALPHA_PER_NEURON, FP64)
        b_i = state0(syn0_ptr, o_n, m_n, HAS_SYN0, FP64, BLOCK)
        p_i = syn_ptr + o_n

    p_x = x_ptr + o_n
    p_s = spk_ptr + o_n
    p_m = mem_ptr + o_n
    if not RESET_DELAY:
        p_h = h_ptr + o_n
    for t in range(0, T):
        b_in = acc(tl.load(p_x, mask=step_mask(m_n, t, b_tmax, HAS_LEN), other=0.0), FP64)
        if SYNAPTIC:
            b_i = b_alpha * b_i + b_in
            tl.store(p_i, live(b_i, t, b_len, HAS_LEN).to(p_i.dtype.element_ty), mask=m_n)
            p_i += N
            b_in = b_i
        # A zero reset is written as snnTorch writes it, so that inf and NaN propagate alike.
        if RESET == RESET_SUBTRACT:
            b_v = b_decay * b_u + b_in - b_r * b_thr
        elif RESET == RESET_ZERO:
            if RESET_INPUT:
                b_base = b_decay * b_u + b_in
                b_v = b_base - b_base * b_r
            else:
                b_v = b_decay * ((1.0 - b_r) * b_u) + b_in
        else:
            b_v = b_decay * b_u + b_in
        b_vs = stored(b_v, p_x, FP64)
        b_fire = tl.where(b_vs > b_thr, 1.0, 0.0)
        tl.store(p_s, spikes(live(b_fire, t, b_len, HAS_LEN), b_gsf, p_s), mask=m_n)
        if RESET_DELAY:
            b_u = b_v
            b_r = b_fire
        else:
            # The reset lands in the same step; h keeps the pre-reset membrane for the backward.
            b_h = on_side(b_v, b_fire, b_thr, b_down, b_up, p_h, DIRECTED)
            tl.store(p_h, live(b_h, t, b_len, HAS_LEN).to(p_h.dtype.element_ty), mask=m_n)
            p_h += N
            b_d = b_fire - b_r
            if RESET == RESET_SUBTRACT:
                b_u = b_v - b_d * b_thr
            elif RESET == RESET_ZERO:
                b_u = b_v - b_d * b_v
            else:
                b_u = b_v
            b_r = tl.where(stored(b_u, p_x, FP64) > b_thr, 1.0, 0.0)
        b_m = on_side(b_u, b_r, b_thr, b_down, b_up, p_m, DIRECTED)  # b_r: the next step's reset
        tl.store(p_m, live(b_m, t, b_len, HAS_LEN).to(p_m.dtype.element_ty), mask=m_n)
        p_x += stride_x_t
        p_s += N
        p_m += N


@triton.jit(do_not_specialize=["T"])
def lif_bwd_kernel(
    gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, mem0_ptr, syn0_ptr,
    alpha_ptr, decay_ptr, thr_ptr, gsf_ptr, sg_ptr, seed_ptr, len_ptr,
    dx_ptr, dmem0_ptr, dsyn0_ptr, dalpha_ptr, ddecay_ptr, dthr_ptr, dgsf_ptr,
    T, N, M, stride_gs_t, stride_gm_t, stride_gi_t,
    ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr,
    GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr,
    SYNAPTIC: tl.constexpr, HAS_MEM0: tl.constexpr, HAS_SYN0: tl.constexpr, HAS_GM: tl.constexpr,
    HAS_GI: tl.constexpr, PARAM_GRAD: tl.constexpr, ALPHA_GRAD: tl.constexpr,
    GS_BCAST: tl.constexpr, GM_BCAST: tl.constexpr, HAS_LEN: tl.constexpr,
    SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr,
):
    o_n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_n = o_n < N
    b_decay = param(decay_ptr, o_n, m_n, DECAY_PER_NEURON, FP64)
    b_thr = param(thr_ptr, o_n, m_n, THR_PER_NEURON, FP64)
    b_gsf = param(gsf_ptr, o_n, m_n, GSF_PER_NEURON, FP64)
    b_mem0 = state0(mem0_ptr, o_n, m_n, HAS_MEM0, FP64, BLOCK)
    b_zero = acc(tl.zeros([BLOCK], dtype=tl.float32), FP64)
    # Steps past a neuron's length take no incoming gradient, so its carries are zero there and
    # the scan effectively starts at its last step. Their stored states are zeros.
    b_len, b_tmax = sample_lengths(len_ptr, o_n, m_n, M, T, HAS_LEN)

    o_last = (T - 1).to(tl.int64)
    p_gs = grad_ptrs(gs_ptr, o_last, stride_gs_t, o_n, GS_BCAST)
    p_m = mem_ptr + o_last * N + o_n
    p_dx = dx_ptr + o_last * N + o_n
    # (t, neuron) counter of the stochastic surrogate's random stream; unused (and compiled
    # away) by every other surrogate.
    o_rand = o_last * N + o_n
    b_seed = surrogate_seed(seed_ptr, STOCHASTIC)
    p0, p1 = surrogate_params(sg_ptr, FP64)
    if HAS_GM:
        p_gm = grad_ptrs(gm_ptr, o_last, stride_gm_t, o_n, GM_BCAST)
    if not RESET_DELAY:
        p_h = h_ptr + o_last * N + o_n
    if SYNAPTIC:
        b_alpha = param(alpha_ptr, o_n, m_n, ALPHA_PER_NEURON, FP64)
        b_carry_i = b_zero  # dL/dI_t arriving from step t + 1
        b_dalpha = b_zero
        if HAS_GI:
            p_gi = gi_ptr + o_last * stride_gi_t + o_n
        if ALPHA_GRAD:
            b_syn0 = state0(syn0_ptr, o_n, m_n, HAS_SYN0, FP64, BLOCK)
            p_i = syn_ptr + o_last * N + o_n

    b_carry = b_zero  # dL/d(membrane state after step t), arriving from step t + 1
    b_ddecay = b_zero
    b_dthr = b_zero
    b_dgsf = b_zero
    if RESET_DELAY:
        b_u = acc(tl.load(p_m, mask=step_mask(m_n, T - 1, b_tmax, HAS_LEN), other=0.0), FP64)
    for i in range(0, T):
        t = T - 1 - i
        m_t = step_mask(m_n, t, b_tmax, HAS_LEN)
        # State before step t: mem[t - 1], or mem0 at t = 0. With reset_delay=True it is also
        # the next iteration's pre-reset membrane, so each step reads the saved sequence once.
        if t > 0:
            b_p = acc(tl.load(p_m - N, mask=step_mask(m_n, t - 1, b_tmax, HAS_LEN), other=0.0), FP64)
        else:
            b_p = b_mem0
        if not RESET_DELAY:
            b_u = acc(tl.load(p_h, mask=m_t, other=0.0), FP64)
            p_h -= N
        b_r = tl.where(b_p > b_thr, 1.0, 0.0)
        b_fire = tl.where(b_u > b_thr, 1.0, 0.0)
        b_sg = surrogate_grad(b_u - b_thr, p0, p1, b_seed, o_rand, SG_FN, STOCHASTIC)
        b_gs = live(load_grad(p_gs, m_t, GS_BCAST, FP64), t, b_len, HAS_LEN)
        b_gspk = b_gs * b_gsf * b_sg
        b_gpost = b_carry  # dL/d(state after step t)
        if HAS_GM:
            b_gpost += live(load_grad(p_gm, m_t, GM_BCAST, FP64), t, b_len, HAS_LEN)
            p_gm -= stride_gm_t
        if RESET_DELAY or RESET == RESET_NONE:
            b_gu = b_gspk + b_gpost
        else:
            # The same-step reset is not detached from the spike: the surrogate enters again.
            b_d = b_fire - b_r
            if RESET == RESET_SUBTRACT:
                b_gu = b_gspk + b_gpost * (1.0 - b_sg * b_thr)
                if PARAM_GRAD:
                    b_dthr += b_gpost * (b_sg * b_thr - b_d)
            else:
                b_gu = b_gspk + b_gpost * (1.0 - b_d - b_u * b_sg)
                if PARAM_GRAD:
                    b_dthr += b_gpost * b_u * b_sg
        # A zero reset cuts the path to the previous state wherever it fired (and to the step's
        # input too with RESET_INPUT).
        if RESET == RESET_ZERO:
            b_gu_kept = b_gu * (1.0 - b_r)
        else:
            b_gu_kept = b_gu
        if RESET == RESET_ZERO and RESET_INPUT:
            b_gin = b_gu_kept
        else:
            b_gin = b_gu
        if SYNAPTIC:
            b_gi = b_gin + b_carry_i
            if HAS_GI:
                b_gi += live(acc(tl.load(p_gi, mask=m_t, other=0.0), FP64), t, b_len, HAS_LEN)
                p_gi -= stride_gi_t
            if ALPHA_GRAD:
                if t > 0:
                    b_iprev = acc(tl.load(p_i - N, mask=m_t, other=0.0), FP64)
                else:
                    b_iprev = b_syn0
                p_i -= N
                # Gated, not just multiplied by the zero gradient: the current before the first
                # step past the end may be inf.
                b_dalpha += live(b_gi * b_iprev, t, b_len, HAS_LEN)
            b_carry_i = b_gi * b_alpha
            b_gin = b_gi
        tl.store(p_dx, b_gin.to(p_dx.dtype.element_ty), mask=m_n)
        if PARAM_GRAD:
            b_dthr -= b_gspk
            if RESET == RESET_SUBTRACT:
                b_dthr -= b_gu * b_r
            b_dgsf += b_gs * b_fire
            b_ddecay += live(b_gu_kept * b_p, t, b_len, HAS_LEN)
        b_carry = b_gu_kept * b_decay
        if RESET_DELAY:
            b_u = b_p
        p_gs -= stride_gs_t
        p_m -= N
        p_dx -= N
        o_rand -= N

    if HAS_MEM0:
        tl.store(dmem0_ptr + o_n, b_carry.to(dmem0_ptr.dtype.element_ty), mask=m_n)
    if SYNAPTIC:
        if HAS_SYN0:
            tl.store(dsyn0_ptr + o_n, b_carry_i.to(dsyn0_ptr.dtype.element_ty), mask=m_n)
        if ALPHA_GRAD:
            tl.store(dalpha_ptr + o_n, b_dalpha, mask=m_n)
    if PARAM_GRAD:
        # Per-neuron sums over time; the launcher reduces them to each parameter's shape.
        tl.store(ddecay_ptr + o_n, b_ddecay, mask=m_n)
        tl.store(dthr_ptr + o_n, b_dthr, mask=m_n)
        tl.store(dgsf_ptr + o_n, b_dgsf, mask=m_n)
