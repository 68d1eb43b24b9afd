"""Fused kernels of snnTorch's Alpha neuron: an excitatory and an inhibitory current, and a
membrane that is their scaled sum (it does not decay from its own past), over the whole time
loop in one launch, forward and backward.

The decays a = clamp(alpha), b = clamp(beta) and the scale tau = ln a / (ln b - ln a) + 1 arrive
computed in Python, so autograd chains tau's gradient back to alpha and beta. Equations and the
backward derivation are in `README.md` here.

Time is walked as in the LIF kernels (`kernels/lif/kernels.py`): the forward loads four steps'
inputs before it computes and stores them, the backward GROUP steps' reads (four at one neuron
per thread, two at two: `_launch.steps_ahead`), so that several loads per tensor are in flight
before the first store; the arithmetic of each step is the same (`_fwd_step`, `_bwd_step`).
"""
import triton
import triton.language as tl

from ..common import (RESET_SUBTRACT, RESET_ZERO, acc, aligned, aligned_grad, live, load_prev, load_step, neighbours,
                      on_side, param, sample_lengths, spikes, state0, step_grads, step_mask, step_offsets,
                      step_or_zero, stored)
from ..surrogates import surrogate_grad, surrogate_params, surrogate_seed


@triton.jit
def _fwd_step(
    b_x, t, b_exc, b_inh, b_r, x_ptr, spk_ptr, exc_ptr, inh_ptr, mem_ptr, exc_acc_ptr, inh_acc_ptr, o_n, m_n, N,
    b_len, b_a, b_b, b_tau, b_thr, b_gsf, b_down, b_up,
    RESET: tl.constexpr, HAS_LEN: tl.constexpr, KEEP_ACC: tl.constexpr, DIRECTED: tl.constexpr, FP64: tl.constexpr,
):
    """Step t from its input and the currents and reset after step t - 1: stores the step's
    outputs, returns the state after it."""
    o_t = step_offsets(t, N, o_n)
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
    b_r = tl.where(stored(b_u, x_ptr, FP64) > b_thr, 1.0, 0.0)
    tl.store(spk_ptr + o_t, spikes(live(b_r, t, b_len, HAS_LEN), b_gsf, spk_ptr), mask=m_n)
    tl.store(exc_ptr + o_t, live(b_exc, t, b_len, HAS_LEN).to(exc_ptr.dtype.element_ty), mask=m_n)
    tl.store(inh_ptr + o_t, live(b_inh, t, b_len, HAS_LEN).to(inh_ptr.dtype.element_ty), mask=m_n)
    b_m = on_side(b_u, b_r, b_thr, b_down, b_up, mem_ptr, DIRECTED)
    tl.store(mem_ptr + o_t, live(b_m, t, b_len, HAS_LEN).to(mem_ptr.dtype.element_ty), mask=m_n)
    if KEEP_ACC:  # the currents in the accumulation dtype too, for the decays' gradients
        tl.store(exc_acc_ptr + o_t, live(b_exc, t, b_len, HAS_LEN), mask=m_n)
        tl.store(inh_acc_ptr + o_t, live(b_inh, t, b_len, HAS_LEN), mask=m_n)
    return b_exc, b_inh, b_r


@triton.jit(do_not_specialize=["T"])
def alpha_fwd_kernel(
    x_ptr, exc0_ptr, inh0_ptr, mem0_ptr, a_ptr, b_ptr, tau_ptr, thr_ptr, gsf_ptr, len_ptr,
    spk_ptr, exc_ptr, inh_ptr, mem_ptr, exc_acc_ptr, inh_acc_ptr,
    T, N, M, stride_x_t, A_PER_NEURON: tl.constexpr, B_PER_NEURON: tl.constexpr,
    TAU_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr, GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, HAS_EXC0: tl.constexpr, HAS_INH0: tl.constexpr, HAS_MEM0: tl.constexpr,
    HAS_LEN: tl.constexpr, KEEP_ACC: tl.constexpr, DIRECTED: tl.constexpr, FP64: tl.constexpr,
    BLOCK: tl.constexpr, N_DIV: tl.constexpr,
):
    N = aligned(N, N_DIV)
    stride_x_t = aligned(stride_x_t, N_DIV)
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
    for t in range(0, T - 3, 4):
        b_x0 = load_step(x_ptr, t, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_x1 = load_step(x_ptr, t + 1, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_x2 = load_step(x_ptr, t + 2, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_x3 = load_step(x_ptr, t + 3, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_exc, b_inh, b_r = _fwd_step(b_x0, t, b_exc, b_inh, b_r, x_ptr, spk_ptr, exc_ptr, inh_ptr, mem_ptr,
                                      exc_acc_ptr, inh_acc_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf,
                                      b_down, b_up, RESET, HAS_LEN, KEEP_ACC, DIRECTED, FP64)
        b_exc, b_inh, b_r = _fwd_step(b_x1, t + 1, b_exc, b_inh, b_r, x_ptr, spk_ptr, exc_ptr, inh_ptr, mem_ptr,
                                      exc_acc_ptr, inh_acc_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf,
                                      b_down, b_up, RESET, HAS_LEN, KEEP_ACC, DIRECTED, FP64)
        b_exc, b_inh, b_r = _fwd_step(b_x2, t + 2, b_exc, b_inh, b_r, x_ptr, spk_ptr, exc_ptr, inh_ptr, mem_ptr,
                                      exc_acc_ptr, inh_acc_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf,
                                      b_down, b_up, RESET, HAS_LEN, KEEP_ACC, DIRECTED, FP64)
        b_exc, b_inh, b_r = _fwd_step(b_x3, t + 3, b_exc, b_inh, b_r, x_ptr, spk_ptr, exc_ptr, inh_ptr, mem_ptr,
                                      exc_acc_ptr, inh_acc_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf,
                                      b_down, b_up, RESET, HAS_LEN, KEEP_ACC, DIRECTED, FP64)
    for t in range(T - T % 4, T):
        b_x = load_step(x_ptr, t, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_exc, b_inh, b_r = _fwd_step(b_x, t, b_exc, b_inh, b_r, x_ptr, spk_ptr, exc_ptr, inh_ptr, mem_ptr,
                                      exc_acc_ptr, inh_acc_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf,
                                      b_down, b_up, RESET, HAS_LEN, KEEP_ACC, DIRECTED, FP64)


@triton.jit
def _bwd_loads(
    t, gs_ptr, ge_ptr, gi_ptr, gm_ptr, mem_ptr, exc_ptr, inh_ptr, b_mem0, b_exc0, b_inh0, o_n, m_n, N, b_tmax, b_zero,
    stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t,
    HAS_GE: tl.constexpr, HAS_GI: tl.constexpr, HAS_GM: tl.constexpr, DECAY_GRAD: tl.constexpr,
    GS_BCAST: tl.constexpr, GM_BCAST: tl.constexpr, HAS_LEN: tl.constexpr, FP64: tl.constexpr,
):
    """What step t of the backward reads: (dL/dS_t, dL/dU_t, dL/dE_t, dL/dI_t, U_{t-1}, E_{t-1},
    I_{t-1}), zeros for those the variant does not read. At t = 0 the states before the step are
    the initial ones, selected rather than branched to, so the loop body has no branch."""
    m_t = step_mask(m_n, t, b_tmax, HAS_LEN)
    t64 = tl.cast(t, tl.int64)
    o_t = step_offsets(t, N, o_n)
    b_gs, b_gm = step_grads(gs_ptr, gm_ptr, t64, stride_gs_t, stride_gm_t, o_n, m_t, b_zero, HAS_GM, GS_BCAST,
                            GM_BCAST, FP64)
    b_ge = step_or_zero(ge_ptr, t64 * stride_ge_t + o_n, m_t, b_zero, HAS_GE, FP64)
    b_gi = step_or_zero(gi_ptr, t64 * stride_gi_t + o_n, m_t, b_zero, HAS_GI, FP64)
    b_p = load_prev(mem_ptr, o_t, N, t, step_mask(m_n, t - 1, b_tmax, HAS_LEN), b_mem0, FP64)
    b_eprev = b_zero
    b_iprev = b_zero
    if DECAY_GRAD:
        b_eprev = load_prev(exc_ptr, o_t, N, t, m_t, b_exc0, FP64)
        b_iprev = load_prev(inh_ptr, o_t, N, t, m_t, b_inh0, FP64)
    return b_gs, b_gm, b_ge, b_gi, b_p, b_eprev, b_iprev


@triton.jit
def _bwd_step(
    t, b_gs, b_gm, b_ge_in, b_gi_in, b_p, b_eprev, b_iprev, b_u, b_carry_e, b_carry_i,
    b_da, b_db, b_dtau, b_dthr, b_dgsf, dx_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf, p0, p1, b_seed,
    RESET: tl.constexpr, HAS_GE: tl.constexpr, HAS_GI: tl.constexpr, HAS_GM: tl.constexpr,
    PARAM_GRAD: tl.constexpr, DECAY_GRAD: tl.constexpr, HAS_LEN: tl.constexpr, SG_FN: tl.constexpr,
    STOCHASTIC: tl.constexpr,
):
    """Step t of the reverse-time scan from its loads (`_bwd_loads`), the membrane U_t and the
    currents' carries from step t + 1: stores dL/dX_t, returns U_{t-1}, the carries to step t - 1
    and the parameter sums."""
    o_t = step_offsets(t, N, o_n)
    b_r = tl.where(b_p > b_thr, 1.0, 0.0)
    b_sg = surrogate_grad(b_u - b_thr, p0, p1, b_seed, o_t, SG_FN, STOCHASTIC)
    b_gs = live(b_gs, t, b_len, HAS_LEN)
    b_gspk = b_gs * b_gsf * b_sg
    b_gu = b_gspk  # the membrane feeds nothing later but the (detached) reset
    if HAS_GM:
        b_gu += live(b_gm, t, b_len, HAS_LEN)
    b_ge = b_carry_e
    if HAS_GE:
        b_ge += live(b_ge_in, t, b_len, HAS_LEN)
    b_gi = b_carry_i
    if HAS_GI:
        b_gi += live(b_gi_in, t, b_len, HAS_LEN)
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
    tl.store(dx_ptr + o_t, (b_ge_base - b_gi_base).to(dx_ptr.dtype.element_ty), mask=m_n)
    if DECAY_GRAD:
        # Gated past the end (the currents before its first step there may be inf).
        b_da += live(b_ge_base * b_eprev, t, b_len, HAS_LEN)
        b_db += live(b_gi_base * b_iprev, t, b_len, HAS_LEN)
        b_base = b_a * b_eprev + b_b * b_iprev  # E* + I*: the input cancels
        b_dtau += live(b_gu_base * b_base, t, b_len, HAS_LEN)
    if PARAM_GRAD:
        b_dthr -= b_gspk
        if RESET == RESET_SUBTRACT:
            b_dthr -= b_r * b_ge
        b_dgsf += b_gs * tl.where(b_u > b_thr, 1.0, 0.0)
    b_carry_e = b_a * b_ge_base
    b_carry_i = b_b * b_gi_base
    if RESET == RESET_SUBTRACT:
        b_carry_i += b_r * b_gu  # U_t gained r_t times the previous inhibitory current
    return b_p, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr, b_dgsf


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
    SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr,
    N_DIV: tl.constexpr,
):
    tl.static_assert(GROUP == 2 or GROUP == 4)
    N = aligned(N, N_DIV)
    stride_gs_t = aligned_grad(stride_gs_t, GS_BCAST, N_DIV)
    stride_gm_t = aligned_grad(stride_gm_t, GM_BCAST, N_DIV)
    stride_ge_t = aligned(stride_ge_t, N_DIV)
    stride_gi_t = aligned(stride_gi_t, N_DIV)
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
    b_exc0 = state0(exc0_ptr, o_n, m_n, HAS_EXC0 and DECAY_GRAD, FP64, BLOCK)
    b_inh0 = state0(inh0_ptr, o_n, m_n, HAS_INH0 and DECAY_GRAD, FP64, BLOCK)
    b_seed = surrogate_seed(seed_ptr, STOCHASTIC)
    p0, p1 = surrogate_params(sg_ptr, FP64)
    b_carry_e = b_zero  # dL/d(excitatory current after step t), from step t + 1
    b_carry_i = b_zero  # dL/d(inhibitory current after step t), from step t + 1
    b_da = b_zero
    b_db = b_zero
    b_dtau = b_zero
    b_dthr = b_zero
    b_dgsf = b_zero
    # U_t, the membrane after step t: each step reads U_{t-1}, the next one's U_t.
    b_u = acc(tl.load(mem_ptr + step_offsets(T - 1, N, o_n), mask=step_mask(m_n, T - 1, b_tmax, HAS_LEN), other=0.0),
              FP64)
    for i in range(0, T - (GROUP - 1), GROUP):
        t = T - 1 - i
        b_gs0, b_gm0, b_ge0, b_gi0, b_p0, b_e0, b_i0 = _bwd_loads(
            t, gs_ptr, ge_ptr, gi_ptr, gm_ptr, mem_ptr, exc_ptr, inh_ptr, b_mem0, b_exc0, b_inh0, o_n, m_n, N,
            b_tmax, b_zero, stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t,
            HAS_GE, HAS_GI, HAS_GM, DECAY_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_gs1, b_gm1, b_ge1, b_gi1, b_p1, b_e1, b_i1 = _bwd_loads(
            t - 1, gs_ptr, ge_ptr, gi_ptr, gm_ptr, mem_ptr, exc_ptr, inh_ptr, b_mem0, b_exc0, b_inh0, o_n, m_n, N,
            b_tmax, b_zero, stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t,
            HAS_GE, HAS_GI, HAS_GM, DECAY_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        if GROUP == 4:
            b_gs2, b_gm2, b_ge2, b_gi2, b_p2, b_e2, b_i2 = _bwd_loads(
                t - 2, gs_ptr, ge_ptr, gi_ptr, gm_ptr, mem_ptr, exc_ptr, inh_ptr, b_mem0, b_exc0, b_inh0, o_n, m_n,
                N, b_tmax, b_zero, stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t,
                HAS_GE, HAS_GI, HAS_GM, DECAY_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
            b_gs3, b_gm3, b_ge3, b_gi3, b_p3, b_e3, b_i3 = _bwd_loads(
                t - 3, gs_ptr, ge_ptr, gi_ptr, gm_ptr, mem_ptr, exc_ptr, inh_ptr, b_mem0, b_exc0, b_inh0, o_n, m_n,
                N, b_tmax, b_zero, stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t,
                HAS_GE, HAS_GI, HAS_GM, DECAY_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr, b_dgsf = _bwd_step(
            t, b_gs0, b_gm0, b_ge0, b_gi0, b_p0, b_e0, b_i0, b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr,
            b_dgsf, dx_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf, p0, p1, b_seed,
            RESET, HAS_GE, HAS_GI, HAS_GM, PARAM_GRAD, DECAY_GRAD, HAS_LEN, SG_FN, STOCHASTIC)
        b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr, b_dgsf = _bwd_step(
            t - 1, b_gs1, b_gm1, b_ge1, b_gi1, b_p1, b_e1, b_i1, b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau,
            b_dthr, b_dgsf, dx_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf, p0, p1, b_seed,
            RESET, HAS_GE, HAS_GI, HAS_GM, PARAM_GRAD, DECAY_GRAD, HAS_LEN, SG_FN, STOCHASTIC)
        if GROUP == 4:
            b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr, b_dgsf = _bwd_step(
                t - 2, b_gs2, b_gm2, b_ge2, b_gi2, b_p2, b_e2, b_i2, b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau,
                b_dthr, b_dgsf, dx_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf, p0, p1, b_seed,
                RESET, HAS_GE, HAS_GI, HAS_GM, PARAM_GRAD, DECAY_GRAD, HAS_LEN, SG_FN, STOCHASTIC)
            b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr, b_dgsf = _bwd_step(
                t - 3, b_gs3, b_gm3, b_ge3, b_gi3, b_p3, b_e3, b_i3, b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau,
                b_dthr, b_dgsf, dx_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf, p0, p1, b_seed,
                RESET, HAS_GE, HAS_GI, HAS_GM, PARAM_GRAD, DECAY_GRAD, HAS_LEN, SG_FN, STOCHASTIC)
    for i in range(T - T % GROUP, T):
        t = T - 1 - i
        b_gs, b_gm, b_ge, b_gi, b_p, b_e, b_i = _bwd_loads(
            t, gs_ptr, ge_ptr, gi_ptr, gm_ptr, mem_ptr, exc_ptr, inh_ptr, b_mem0, b_exc0, b_inh0, o_n, m_n, N,
            b_tmax, b_zero, stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t,
            HAS_GE, HAS_GI, HAS_GM, DECAY_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr, b_dgsf = _bwd_step(
            t, b_gs, b_gm, b_ge, b_gi, b_p, b_e, b_i, b_u, b_carry_e, b_carry_i, b_da, b_db, b_dtau, b_dthr,
            b_dgsf, dx_ptr, o_n, m_n, N, b_len, b_a, b_b, b_tau, b_thr, b_gsf, p0, p1, b_seed,
            RESET, HAS_GE, HAS_GI, HAS_GM, PARAM_GRAD, DECAY_GRAD, HAS_LEN, SG_FN, STOCHASTIC)

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
