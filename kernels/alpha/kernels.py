"""Fused kernels of snnTorch's Alpha neuron: an excitatory and an inhibitory current, and a
membrane that is their scaled sum (it does not decay from its own past), over the whole time
loop in one launch, forward and backward.

The decays a = clamp(alpha), b = clamp(beta) and the scale tau = ln a / (ln b - ln a) + 1 arrive
computed in Python, so autograd chains tau's gradient back to alpha and beta. Equations and the
backward derivation are in `README.md` here.
"""
import triton
import triton.language as tl

from ..common import (RESET_SUBTRACT, RESET_ZERO, acc, grad_ptrs, live, load_grad, neighbours, on_side, param,
                      sample_lengths, spikes, state0, step_mask, stored)
from ..surrogates import surrogate_grad, surrogate_params, surrogate_seed


@triton.jit(do_not_specialize=["T"])
def alpha_fwd_kernel(
    x_ptr, exc0_ptr, inh0_ptr, mem0_ptr, a_ptr, b_ptr, tau_ptr, thr_ptr, gsf_ptr, len_ptr,
    spk_ptr, exc_ptr, inh_ptr, mem_ptr, exc_acc_ptr, inh_acc_ptr,
    T, N, M, stride_x_t, A_PER_NEURON: tl.constexpr, B_PER_NEURON: tl.constexpr,
    TAU_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr, GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, HAS_EXC0: tl.constexpr, HAS_INH0: tl.constexpr, HAS_MEM0: tl.constexpr,
    HAS_LEN: tl.constexpr, KEEP_ACC: tl.constexpr, DIRECTED: tl.constexpr, FP64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    o_n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_n = o_n < N
    b_a = param(a_ptr, o_n, m_n, A_PER_NEURON, FP64)
    b_b = param(b_ptr, o_n, m_n, B_PER_NEURON, FP64)
    b_tau = param(tau_ptr, o_n, m_n, TAU_PER_NEURON, FP64)
    b_thr = param(thr_ptr, o_n, m_n, THR_PER_NEURON, FP64)
    b_gsf = param(gsf_ptr, o_n, m_n, GSF_PER_NEURON, FP64)
    b_down = b_thr
    b_up = b_thr
    if DIRECTED:  # the stored dtype's values around the threshold (see _on_side)
        b_down, b_up = neighbours(b_thr, mem_ptr)
    b_exc = state0(exc0_ptr, o_n, m_n, HAS_EXC0, FP64, BLOCK)
    b_inh = state0(inh0_ptr, o_n, m_n, HAS_INH0, FP64, BLOCK)
    b_r = tl.where(state0(mem0_ptr, o_n, m_n, HAS_MEM0, FP64, BLOCK) > b_thr, 1.0, 0.0)
    b_len, b_tmax = sample_lengths(len_ptr, o_n, m_n, M, T, HAS_LEN)  # outputs past the end are 0
    p_x = x_ptr + o_n
    p_s = spk_ptr + o_n
    p_e = exc_ptr + o_n
    p_i = inh_ptr + o_n
    p_m = mem_ptr + o_n
    if KEEP_ACC:  # the currents in the accumulation dtype too, for the decays' gradients
        p_ea = exc_acc_ptr + o_n
        p_ia = inh_acc_ptr + o_n
    for t in range(0, T):
        b_x = acc(tl.load(p_x, mask=step_mask(m_n, t, b_tmax, HAS_LEN), other=0.0), FP64)
        b_exc_base = b_a * b_exc + b_x
        b_inh_base = b_b * b_inh - b_x
        b_u = b_tau * (b_exc_base + b_inh_base)
        # The resets are written as snnTorch writes them, so that inf and NaN propagate alike.
        if RESET == RESET_SUBTRACT:
            # snnTorch's subtraction: the excitatory current loses the threshold, the inhibitory
            # one is cleared, and the membrane gains the previous inhibitory current.
            b_u = b_u + b_r * b_inh
            b_exc = b_exc_base - b_r * b_thr
            b_inh = b_inh_base - b_inh_base * b_r
        elif RESET == RESET_ZERO:
            b_u = b_u - b_u * b_r
            b_exc = b_exc_base - b_exc_base * b_r
            b_inh = b_inh_base - b_inh_base * b_r
        else:
            b_exc = b_exc_base
            b_inh = b_inh_base
        b_r = tl.where(stored(b_u, p_x, FP64) > b_thr, 1.0, 0.0)
        tl.store(p_s, spikes(live(b_r, t, b_len, HAS_LEN), b_gsf, p_s), mask=m_n)
        tl.store(p_e, live(b_exc, t, b_len, HAS_LEN).to(p_e.dtype.element_ty), mask=m_n)
        tl.store(p_i, live(b_inh, t, b_len, HAS_LEN).to(p_i.dtype.element_ty), mask=m_n)
        b_m = on_side(b_u, b_r, b_thr, b_down, b_up, p_m, DIRECTED)
        tl.store(p_m, live(b_m, t, b_len, HAS_LEN).to(p_m.dtype.element_ty), mask=m_n)
        if KEEP_ACC:
            tl.store(p_ea, live(b_exc, t, b_len, HAS_LEN), mask=m_n)
            tl.store(p_ia, live(b_inh, t, b_len, HAS_LEN), mask=m_n)
            p_ea += N
            p_ia += N
        p_x += stride_x_t
        p_s += N
        p_e += N
        p_i += N
        p_m += N


@triton.jit(do_not_specialize=["T"])
def alpha_bwd_kernel(
    gs_ptr, ge_ptr, gi_ptr, gm_ptr, mem_ptr, exc_ptr, inh_ptr, exc0_ptr, inh0_ptr, mem0_ptr,
    a_ptr, b_ptr, tau_ptr, thr_ptr, gsf_ptr, sg_ptr, seed_ptr, len_ptr,
    dx_ptr, dexc0_ptr, dinh0_ptr, da_ptr, db_ptr, dtau_ptr, dthr_ptr, dgsf_ptr,
    T, N, M, stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t,
    A_PER_NEURON: tl.constexpr, B_PER_NEURON: tl.constexpr, TAU_PER_NEURON: tl.constexpr,
    THR_PER_NEURON: tl.constexpr, GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, HAS_EXC0: tl.constexpr, HAS_INH0: tl.constexpr, HAS_MEM0: tl.constexpr,
    HAS_GE: tl.constexpr, HAS_GI: tl.constexpr, HAS_GM: tl.constexpr, PARAM_GRAD: tl.constexpr,
    DECAY_GRAD: tl.constexpr, GS_BCAST: tl.constexpr, GM_BCAST: tl.constexpr, HAS_LEN: tl.constexpr,
    SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr,
):
    o_n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_n = o_n < N
    b_a = param(a_ptr, o_n, m_n, A_PER_NEURON, FP64)
    b_b = param(b_ptr, o_n, m_n, B_PER_NEURON, FP64)
    b_tau = param(tau_ptr, o_n, m_n, TAU_PER_NEURON, FP64)
    b_thr = param(thr_ptr, o_n, m_n, THR_PER_NEURON, FP64)
    b_gsf = param(gsf_ptr, o_n, m_n, GSF_PER_NEURON, FP64)
    b_mem0 = state0(mem0_ptr, o_n, m_n, HAS_MEM0, FP64, BLOCK)
    b_zero = acc(tl.zeros([BLOCK], dtype=tl.float32), FP64)
    # Steps past a neuron's length take no incoming gradient (as in lif_bwd_kernel).
    b_len, b_tmax = sample_lengths(len_ptr, o_n, m_n, M, T, HAS_LEN)
    if DECAY_GRAD:
        b_exc0 = state0(exc0_ptr, o_n, m_n, HAS_EXC0, FP64, BLOCK)
        b_inh0 = state0(inh0_ptr, o_n, m_n, HAS_INH0, FP64, BLOCK)

    o_last = (T - 1).to(tl.int64)
    p_gs = grad_ptrs(gs_ptr, o_last, stride_gs_t, o_n, GS_BCAST)
    p_m = mem_ptr + o_last * N + o_n
    p_dx = dx_ptr + o_last * N + o_n
    if DECAY_GRAD:
        p_e = exc_ptr + o_last * N + o_n
        p_i = inh_ptr + o_last * N + o_n
    o_rand = o_last * N + o_n
    b_seed = surrogate_seed(seed_ptr, STOCHASTIC)
    p0, p1 = surrogate_params(sg_ptr, FP64)
    if HAS_GE:
        p_ge = ge_ptr + o_last * stride_ge_t + o_n
    if HAS_GI:
        p_gi = gi_ptr + o_last * stride_gi_t + o_n
    if HAS_GM:
        p_gm = grad_ptrs(gm_ptr, o_last, stride_gm_t, o_n, GM_BCAST)

    b_carry_e = b_zero  # dL/d(excitatory current after step t), from step t + 1
    b_carry_i = b_zero  # dL/d(inhibitory current after step t), from step t + 1
    b_da = b_zero
    b_db = b_zero
    b_dtau = b_zero
    b_dthr = b_zero
    b_dgsf = b_zero
    b_u = acc(tl.load(p_m, mask=step_mask(m_n, T - 1, b_tmax, HAS_LEN), other=0.0), FP64)
    for i in range(0, T):
        t = T - 1 - i
        m_t = step_mask(m_n, t, b_tmax, HAS_LEN)
        if t > 0:
            b_p = acc(tl.load(p_m - N, mask=step_mask(m_n, t - 1, b_tmax, HAS_LEN), other=0.0), FP64)
        else:
            b_p = b_mem0
        b_r = tl.where(b_p > b_thr, 1.0, 0.0)
        b_sg = surrogate_grad(b_u - b_thr, p0, p1, b_seed, o_rand, SG_FN, STOCHASTIC)
        b_gs = live(load_grad(p_gs, m_t, GS_BCAST, FP64), t, b_len, HAS_LEN)
        b_gspk = b_gs * b_gsf * b_sg
        b_gu = b_gspk  # the membrane feeds nothing later but the (detached) reset
        if HAS_GM:
            b_gu += live(load_grad(p_gm, m_t, GM_BCAST, FP64), t, b_len, HAS_LEN)
            p_gm -= stride_gm_t
        b_ge = b_carry_e
        if HAS_GE:
            b_ge += live(acc(tl.load(p_ge, mask=m_t, other=0.0), FP64), t, b_len, HAS_LEN)
            p_ge -= stride_ge_t
        b_gi = b_carry_i
        if HAS_GI:
            b_gi += live(acc(tl.load(p_gi, mask=m_t, other=0.0), FP64), t, b_len, HAS_LEN)
            p_gi -= stride_gi_t
        # Gradients of the bases (before the reset), each also reached through U = tau (E + I).
        if RESET == RESET_SUBTRACT:
            b_gu_base = b_gu
            b_ge_base = b_ge + b_tau * b_gu
            b_gi_base = b_gi * (1.0 - b_r) + b_tau * b_gu
        elif RESET == RESET_ZERO:
            b_gu_base = b_gu - b_gu * b_r
            b_ge_base = b_ge * (1.0 - b_r) + b_tau * b_gu_base
            b_gi_base = b_gi * (1.0 - b_r) + b_tau * b_gu_base
        else:
            b_gu_base = b_gu
            b_ge_base = b_ge + b_tau * b_gu
            b_gi_base = b_gi + b_tau * b_gu
        tl.store(p_dx, (b_ge_base - b_gi_base).to(p_dx.dtype.element_ty), mask=m_n)
        if DECAY_GRAD:
            if t > 0:
                b_eprev = acc(tl.load(p_e - N, mask=m_t, other=0.0), FP64)
                b_iprev = acc(tl.load(p_i - N, mask=m_t, other=0.0), FP64)
            else:
                b_eprev = b_exc0
                b_iprev = b_inh0
            # Gated past the end (the currents before its first step there may be inf).
            b_da += live(b_ge_base * b_eprev, t, b_len, HAS_LEN)
            b_db += live(b_gi_base * b_iprev, t, b_len, HAS_LEN)
            b_base = b_a * b_eprev + b_b * b_iprev  # E* + I*: the input cancels
            b_dtau += live(b_gu_base * b_base, t, b_len, HAS_LEN)
            p_e -= N
            p_i -= N
        if PARAM_GRAD:
            b_dthr -= b_gspk
            if RESET == RESET_SUBTRACT:
                b_dthr -= b_r * b_ge
            b_dgsf += b_gs * tl.where(b_u > b_thr, 1.0, 0.0)
        b_carry_e = b_a * b_ge_base
        b_carry_i = b_b * b_gi_base
        if RESET == RESET_SUBTRACT:
            b_carry_i += b_r * b_gu  # U_t gained r_t times the previous inhibitory current
        b_u = b_p
        p_gs -= stride_gs_t
        p_m -= N
        p_dx -= N
        o_rand -= N

    if HAS_EXC0:
        tl.store(dexc0_ptr + o_n, b_carry_e.to(dexc0_ptr.dtype.element_ty), mask=m_n)
    if HAS_INH0:
        tl.store(dinh0_ptr + o_n, b_carry_i.to(dinh0_ptr.dtype.element_ty), mask=m_n)
    if DECAY_GRAD:
        tl.store(da_ptr + o_n, b_da, mask=m_n)
        tl.store(db_ptr + o_n, b_db, mask=m_n)
        tl.store(dtau_ptr + o_n, b_dtau, mask=m_n)
    if PARAM_GRAD:
        tl.store(dthr_ptr + o_n, b_dthr, mask=m_n)
        tl.store(dgsf_ptr + o_n, b_dgsf, mask=m_n)
