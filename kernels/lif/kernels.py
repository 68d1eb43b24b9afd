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

Loads run four steps ahead of stores: each time loop loads the tensors of four steps, then
computes and stores those steps (a remainder loop takes the last T % 4). No compiler moves a load
above a store that may alias it, so steps loaded one at a time would each wait a full memory
latency; grouped, four loads per tensor are in flight before the first store. The backward takes
its group size as GROUP: two steps where a thread owns two neurons (`_launch.steps_ahead`), the
same four elements per tensor in flight with half the loaded values held. The arithmetic of every
step is the same either way (`_fwd_step`, `_bwd_step`).
"""
import triton
import triton.language as tl

from ..common import (RESET_NONE, RESET_SUBTRACT, RESET_ZERO, acc, aligned, aligned_grad, live, load_prev, load_step,
                      neighbours, on_side, param, sample_lengths, spikes, state0, step_grads, step_mask, step_offsets,
                      step_or_zero, stored)
from ..surrogates import surrogate_grad, surrogate_params, surrogate_seed


@triton.jit
def membrane(b_u, b_in, b_r, b_decay, b_thr, RESET: tl.constexpr, RESET_INPUT: tl.constexpr):
    """The new membrane from the last one b_u, the step's input and the reset b_r. A zero reset
    clears the whole new membrane with RESET_INPUT (Synaptic, Lapicque), the decayed one only
    otherwise (Leaky), written as snnTorch writes it, so that inf and NaN propagate alike."""
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
    return b_v


@triton.jit
def _fwd_step(
    b_in, t, b_u, b_r, b_i, x_ptr, spk_ptr, mem_ptr, h_ptr, syn_ptr, o_n, m_n, N, b_len,
    b_alpha, b_decay, b_thr, b_gsf, b_down, b_up,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr, SYNAPTIC: tl.constexpr,
    HAS_LEN: tl.constexpr, DIRECTED: tl.constexpr, FP64: tl.constexpr,
):
    """Step t from its input and the state after step t - 1 (membrane b_u, its reset b_r, the
    current b_i): stores the step's outputs, returns the state after it."""
    o_t = step_offsets(t, N, o_n)
    if SYNAPTIC:
        b_i = b_alpha * b_i + b_in
        tl.store(syn_ptr + o_t, live(b_i, t, b_len, HAS_LEN).to(syn_ptr.dtype.element_ty), mask=m_n)
        b_in = b_i
    b_v = membrane(b_u, b_in, b_r, b_decay, b_thr, RESET, RESET_INPUT)
    b_vs = stored(b_v, x_ptr, FP64)
    b_fire = tl.where(b_vs > b_thr, 1.0, 0.0)
    tl.store(spk_ptr + o_t, spikes(live(b_fire, t, b_len, HAS_LEN), b_gsf, spk_ptr), mask=m_n)
    if RESET_DELAY:
        b_u = b_v
        b_r = b_fire
    else:
        # The reset lands in the same step; h keeps the pre-reset membrane for the backward.
        b_h = on_side(b_v, b_fire, b_thr, b_down, b_up, h_ptr, DIRECTED)
        tl.store(h_ptr + o_t, live(b_h, t, b_len, HAS_LEN).to(h_ptr.dtype.element_ty), mask=m_n)
        b_d = b_fire - b_r
        if RESET == RESET_SUBTRACT:
            b_u = b_v - b_d * b_thr
        elif RESET == RESET_ZERO:
            b_u = b_v - b_d * b_v
        else:
            b_u = b_v
        b_r = tl.where(stored(b_u, x_ptr, FP64) > b_thr, 1.0, 0.0)
    b_m = on_side(b_u, b_r, b_thr, b_down, b_up, mem_ptr, DIRECTED)  # b_r: the next step's reset
    tl.store(mem_ptr + o_t, live(b_m, t, b_len, HAS_LEN).to(mem_ptr.dtype.element_ty), mask=m_n)
    return b_u, b_r, b_i


@triton.jit(do_not_specialize=["T"])
def lif_fwd_kernel(
    x_ptr, mem0_ptr, syn0_ptr, alpha_ptr, decay_ptr, thr_ptr, gsf_ptr, len_ptr,
    spk_ptr, mem_ptr, h_ptr, syn_ptr,
    T, N, M, stride_x_t,
    ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr,
    GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr,
    SYNAPTIC: tl.constexpr, HAS_MEM0: tl.constexpr, HAS_SYN0: tl.constexpr, HAS_LEN: tl.constexpr,
    DIRECTED: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr, N_DIV: tl.constexpr,
):
    N = aligned(N, N_DIV)
    stride_x_t = aligned(stride_x_t, N_DIV)
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
    b_i = state0(syn0_ptr, o_n, m_n, HAS_SYN0 and SYNAPTIC, FP64, BLOCK)
    b_alpha = b_decay  # read only with SYNAPTIC
    if SYNAPTIC:
        b_alpha = param(alpha_ptr, o_n, m_n, ALPHA_PER_NEURON, FP64)
    for t in range(0, T - 3, 4):
        b_x0 = load_step(x_ptr, t, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_x1 = load_step(x_ptr, t + 1, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_x2 = load_step(x_ptr, t + 2, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_x3 = load_step(x_ptr, t + 3, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_u, b_r, b_i = _fwd_step(b_x0, t, b_u, b_r, b_i, x_ptr, spk_ptr, mem_ptr, h_ptr, syn_ptr, o_n, m_n, N,
                                  b_len, b_alpha, b_decay, b_thr, b_gsf, b_down, b_up,
                                  RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_LEN, DIRECTED, FP64)
        b_u, b_r, b_i = _fwd_step(b_x1, t + 1, b_u, b_r, b_i, x_ptr, spk_ptr, mem_ptr, h_ptr, syn_ptr, o_n, m_n, N,
                                  b_len, b_alpha, b_decay, b_thr, b_gsf, b_down, b_up,
                                  RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_LEN, DIRECTED, FP64)
        b_u, b_r, b_i = _fwd_step(b_x2, t + 2, b_u, b_r, b_i, x_ptr, spk_ptr, mem_ptr, h_ptr, syn_ptr, o_n, m_n, N,
                                  b_len, b_alpha, b_decay, b_thr, b_gsf, b_down, b_up,
                                  RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_LEN, DIRECTED, FP64)
        b_u, b_r, b_i = _fwd_step(b_x3, t + 3, b_u, b_r, b_i, x_ptr, spk_ptr, mem_ptr, h_ptr, syn_ptr, o_n, m_n, N,
                                  b_len, b_alpha, b_decay, b_thr, b_gsf, b_down, b_up,
                                  RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_LEN, DIRECTED, FP64)
    for t in range(T - T % 4, T):
        b_x = load_step(x_ptr, t, stride_x_t, o_n, m_n, b_tmax, HAS_LEN, FP64)
        b_u, b_r, b_i = _fwd_step(b_x, t, b_u, b_r, b_i, x_ptr, spk_ptr, mem_ptr, h_ptr, syn_ptr, o_n, m_n, N,
                                  b_len, b_alpha, b_decay, b_thr, b_gsf, b_down, b_up,
                                  RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_LEN, DIRECTED, FP64)


@triton.jit
def _bwd_loads(
    t, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, b_mem0, b_syn0, o_n, m_n, N, b_tmax, b_zero,
    stride_gs_t, stride_gm_t, stride_gi_t,
    RESET_DELAY: tl.constexpr, SYNAPTIC: tl.constexpr, HAS_GM: tl.constexpr, HAS_GI: tl.constexpr,
    ALPHA_GRAD: tl.constexpr, GS_BCAST: tl.constexpr, GM_BCAST: tl.constexpr, HAS_LEN: tl.constexpr,
    FP64: tl.constexpr,
):
    """What step t of the backward reads: (dL/dS_t, dL/dU'_t, the pre-reset U_t, U'_{t-1},
    dL/dI_t, I_{t-1}), zeros for those the variant does not read. At t = 0 the states before the
    step are the initial ones, selected rather than branched to, so the loop body has no branch."""
    m_t = step_mask(m_n, t, b_tmax, HAS_LEN)
    t64 = tl.cast(t, tl.int64)
    o_t = step_offsets(t, N, o_n)
    b_gs, b_gm = step_grads(gs_ptr, gm_ptr, t64, stride_gs_t, stride_gm_t, o_n, m_t, b_zero, HAS_GM, GS_BCAST,
                            GM_BCAST, FP64)
    b_h = step_or_zero(h_ptr, o_t, m_t, b_zero, not RESET_DELAY, FP64)
    b_p = load_prev(mem_ptr, o_t, N, t, step_mask(m_n, t - 1, b_tmax, HAS_LEN), b_mem0, FP64)
    b_gi = step_or_zero(gi_ptr, t64 * stride_gi_t + o_n, m_t, b_zero, SYNAPTIC and HAS_GI, FP64)
    b_iprev = b_zero
    if SYNAPTIC and ALPHA_GRAD:
        b_iprev = load_prev(syn_ptr, o_t, N, t, m_t, b_syn0, FP64)
    return b_gs, b_gm, b_h, b_p, b_gi, b_iprev


@triton.jit
def _reset_gain(b_u, b_r, b_sg, b_thr, RESET: tl.constexpr, RESET_DELAY: tl.constexpr):
    """dU'_t/dU_t, the post-reset membrane's derivative by the pre-reset one: 1 when the reset is
    delayed (or absent); otherwise the same-step reset is not detached from the spike, so the
    surrogate enters again."""
    b_k = 1.0
    if not (RESET_DELAY or RESET == RESET_NONE):
        if RESET == RESET_SUBTRACT:
            b_k = 1.0 - b_sg * b_thr
        else:
            b_k = 1.0 - (tl.where(b_u > b_thr, 1.0, 0.0) - b_r) - b_u * b_sg
    return b_k


@triton.jit
def _bwd_step(
    t, b_gs, b_gm, b_h, b_p, b_gi_in, b_iprev, b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha,
    dx_ptr, o_n, m_n, N, b_len, b_alpha, b_decay, b_thr, b_gsf, p0, p1, b_seed,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr, SYNAPTIC: tl.constexpr,
    HAS_GM: tl.constexpr, HAS_GI: tl.constexpr, PARAM_GRAD: tl.constexpr, ALPHA_GRAD: tl.constexpr,
    HAS_LEN: tl.constexpr, SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr,
):
    """Step t of the reverse-time scan from its loads (`_bwd_loads`) and the carries from step
    t + 1: stores dL/dX_t, returns the carries to step t - 1 and the parameter sums."""
    o_t = step_offsets(t, N, o_n)
    if not RESET_DELAY:
        b_u = b_h
    b_r = tl.where(b_p > b_thr, 1.0, 0.0)
    b_fire = tl.where(b_u > b_thr, 1.0, 0.0)
    # (t, neuron) counter of the stochastic surrogate's random stream; unused (and compiled
    # away) by every other surrogate.
    b_sg = surrogate_grad(b_u - b_thr, p0, p1, b_seed, o_t, SG_FN, STOCHASTIC)
    b_gs = live(b_gs, t, b_len, HAS_LEN)
    b_gspk = b_gs * b_gsf * b_sg
    b_gpost = b_carry  # dL/d(state after step t)
    if HAS_GM:
        b_gpost += live(b_gm, t, b_len, HAS_LEN)
    if RESET_DELAY or RESET == RESET_NONE:
        b_gu = b_gspk + b_gpost
    else:
        b_gu = b_gspk + b_gpost * _reset_gain(b_u, b_r, b_sg, b_thr, RESET, RESET_DELAY)
        if PARAM_GRAD:
            if RESET == RESET_SUBTRACT:
                b_dthr += b_gpost * (b_sg * b_thr - (b_fire - b_r))
            else:
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
            b_gi += live(b_gi_in, t, b_len, HAS_LEN)
        if ALPHA_GRAD:
            # Gated, not just multiplied by the zero gradient: the current before the first
            # step past the end may be inf.
            b_dalpha += live(b_gi * b_iprev, t, b_len, HAS_LEN)
        b_carry_i = b_gi * b_alpha
        b_gin = b_gi
    tl.store(dx_ptr + o_t, b_gin.to(dx_ptr.dtype.element_ty), mask=m_n)
    if PARAM_GRAD:
        b_dthr -= b_gspk
        if RESET == RESET_SUBTRACT:
            b_dthr -= b_gu * b_r
        b_dgsf += b_gs * b_fire
        b_ddecay += live(b_gu_kept * b_p, t, b_len, HAS_LEN)
    b_carry = b_gu_kept * b_decay
    return b_p, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha


@triton.jit
def _bwd_map_step(
    t, b_gs, b_gm, b_h, b_p, b_gi_in, b_u, b_a1, b_b1, b_a2, b_a3, b_b2, b_len, b_alpha, b_decay, b_thr, b_gsf,
    p0, p1, b_seed, o_n, N,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr, SYNAPTIC: tl.constexpr,
    HAS_GM: tl.constexpr, HAS_GI: tl.constexpr, HAS_LEN: tl.constexpr, SG_FN: tl.constexpr,
    STOCHASTIC: tl.constexpr,
):
    """Step t of pass 1: `_bwd_step`'s recurrence in affine form, composed into the chunk's map
    so far. The step sends the carry c from step t + 1 to A c + B for step t - 1, and with SYNAPTIC
    c_i to alpha (G c + H + c_i); composed below the maps (a1, b1, a2, a3, b2) of the steps above
    it, that is the chunk's map down to step t. Returns U'_{t-1} and the composed map."""
    if not RESET_DELAY:
        b_u = b_h
    b_r = tl.where(b_p > b_thr, 1.0, 0.0)
    b_sg = surrogate_grad(b_u - b_thr, p0, p1, b_seed, step_offsets(t, N, o_n), SG_FN, STOCHASTIC)
    b_k = _reset_gain(b_u, b_r, b_sg, b_thr, RESET, RESET_DELAY)
    b_own = live(b_gs, t, b_len, HAS_LEN) * b_gsf * b_sg  # dL/dU_t without the carry
    if HAS_GM:
        b_own += live(b_gm, t, b_len, HAS_LEN) * b_k
    b_kept = 1.0
    if RESET == RESET_ZERO:
        b_kept = 1.0 - b_r
    b_kin = 1.0
    if RESET == RESET_ZERO and RESET_INPUT:
        b_kin = b_kept
    if SYNAPTIC:  # from the carries before this step's update
        b_hh = b_kin * b_own
        if HAS_GI:
            b_hh += live(b_gi_in, t, b_len, HAS_LEN)
        b_a2 = b_alpha * (b_kin * b_k * b_a1 + b_a2)
        b_a3 = b_alpha * b_a3
        b_b2 = b_alpha * (b_kin * b_k * b_b1 + b_hh + b_b2)
    b_a = b_decay * b_kept * b_k
    b_a1 = b_a * b_a1
    b_b1 = b_a * b_b1 + b_decay * b_kept * b_own
    return b_p, b_a1, b_b1, b_a2, b_a3, b_b2


@triton.jit(do_not_specialize=["T"])
def lif_bwd_map_kernel(
    gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, mem0_ptr, alpha_ptr, decay_ptr, thr_ptr, gsf_ptr, sg_ptr, seed_ptr,
    len_ptr, maps_ptr,
    T, N, M, stride_gs_t, stride_gm_t, stride_gi_t,
    ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr,
    GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr,
    SYNAPTIC: tl.constexpr, HAS_MEM0: tl.constexpr, HAS_GM: tl.constexpr, HAS_GI: tl.constexpr,
    GS_BCAST: tl.constexpr, GM_BCAST: tl.constexpr, HAS_LEN: tl.constexpr,
    SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr,
    N_DIV: tl.constexpr,
):
    """Pass 1 of the chunked backward (see `lif_bwd_kernel`, HAS_MAPS): chunk k = program_id(1)
    + 1 composes its steps' carry maps into one, (c, c_i) at its bottom as an affine function of
    (c, c_i) at its top, and stores the five coefficients (a1, b1, a2, a3, b2) at maps[:, k]:
    c_bottom = a1 c + b1, c_i,bottom = a2 c + a3 c_i + b2. Chunk 0 needs no map. Time is walked
    in groups of GROUP steps, loads first, as in the scan."""
    tl.static_assert(GROUP == 2 or GROUP == 4)
    N = aligned(N, N_DIV)
    stride_gs_t = aligned_grad(stride_gs_t, GS_BCAST, N_DIV)
    stride_gm_t = aligned_grad(stride_gm_t, GM_BCAST, N_DIV)
    stride_gi_t = aligned(stride_gi_t, N_DIV)
    o_n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_n = o_n < N
    k = tl.program_id(1) + 1
    n_chunks = tl.num_programs(1) + 1
    chunk = tl.cdiv(T, n_chunks)
    t_hi = tl.minimum((k + 1) * chunk, T)
    n_steps = tl.maximum(t_hi - k * chunk, 0)
    b_decay = param(decay_ptr, o_n, m_n, DECAY_PER_NEURON, FP64)
    b_thr = param(thr_ptr, o_n, m_n, THR_PER_NEURON, FP64)
    b_gsf = param(gsf_ptr, o_n, m_n, GSF_PER_NEURON, FP64)
    b_mem0 = state0(mem0_ptr, o_n, m_n, HAS_MEM0, FP64, BLOCK)
    b_zero = acc(tl.zeros([BLOCK], dtype=tl.float32), FP64)
    b_len, b_tmax = sample_lengths(len_ptr, o_n, m_n, M, T, HAS_LEN)
    b_seed = surrogate_seed(seed_ptr, STOCHASTIC)
    p0, p1 = surrogate_params(sg_ptr, FP64)
    b_alpha = b_decay  # read only with SYNAPTIC
    if SYNAPTIC:
        b_alpha = param(alpha_ptr, o_n, m_n, ALPHA_PER_NEURON, FP64)
    b_a1 = b_zero + 1.0
    b_b1 = b_zero
    b_a2 = b_zero
    b_a3 = b_zero + 1.0
    b_b2 = b_zero
    b_u = b_zero
    if RESET_DELAY:
        b_u = acc(tl.load(mem_ptr + step_offsets(t_hi - 1, N, o_n),
                          mask=tl.where(n_steps > 0, step_mask(m_n, t_hi - 1, b_tmax, HAS_LEN), False),
                          other=0.0), FP64)
    for i in range(0, n_steps - (GROUP - 1), GROUP):
        t = t_hi - 1 - i
        b_gs0, b_gm0, b_h0, b_p0, b_gi0, b_ip0 = _bwd_loads(
            t, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, None, b_mem0, b_zero, o_n, m_n, N, b_tmax, b_zero,
            stride_gs_t, stride_gm_t, stride_gi_t,
            RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, False, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_gs1, b_gm1, b_h1, b_p1, b_gi1, b_ip1 = _bwd_loads(
            t - 1, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, None, b_mem0, b_zero, o_n, m_n, N, b_tmax, b_zero,
            stride_gs_t, stride_gm_t, stride_gi_t,
            RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, False, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        if GROUP == 4:
            b_gs2, b_gm2, b_h2, b_p2, b_gi2, b_ip2 = _bwd_loads(
                t - 2, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, None, b_mem0, b_zero, o_n, m_n, N, b_tmax, b_zero,
                stride_gs_t, stride_gm_t, stride_gi_t,
                RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, False, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
            b_gs3, b_gm3, b_h3, b_p3, b_gi3, b_ip3 = _bwd_loads(
                t - 3, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, None, b_mem0, b_zero, o_n, m_n, N, b_tmax, b_zero,
                stride_gs_t, stride_gm_t, stride_gi_t,
                RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, False, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_u, b_a1, b_b1, b_a2, b_a3, b_b2 = _bwd_map_step(
            t, b_gs0, b_gm0, b_h0, b_p0, b_gi0, b_u, b_a1, b_b1, b_a2, b_a3, b_b2, b_len, b_alpha, b_decay, b_thr,
            b_gsf, p0, p1, b_seed, o_n, N,
            RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, HAS_LEN, SG_FN, STOCHASTIC)
        b_u, b_a1, b_b1, b_a2, b_a3, b_b2 = _bwd_map_step(
            t - 1, b_gs1, b_gm1, b_h1, b_p1, b_gi1, b_u, b_a1, b_b1, b_a2, b_a3, b_b2, b_len, b_alpha, b_decay,
            b_thr, b_gsf, p0, p1, b_seed, o_n, N,
            RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, HAS_LEN, SG_FN, STOCHASTIC)
        if GROUP == 4:
            b_u, b_a1, b_b1, b_a2, b_a3, b_b2 = _bwd_map_step(
                t - 2, b_gs2, b_gm2, b_h2, b_p2, b_gi2, b_u, b_a1, b_b1, b_a2, b_a3, b_b2, b_len, b_alpha, b_decay,
                b_thr, b_gsf, p0, p1, b_seed, o_n, N,
                RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, HAS_LEN, SG_FN, STOCHASTIC)
            b_u, b_a1, b_b1, b_a2, b_a3, b_b2 = _bwd_map_step(
                t - 3, b_gs3, b_gm3, b_h3, b_p3, b_gi3, b_u, b_a1, b_b1, b_a2, b_a3, b_b2, b_len, b_alpha, b_decay,
                b_thr, b_gsf, p0, p1, b_seed, o_n, N,
                RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, HAS_LEN, SG_FN, STOCHASTIC)
    for i in range(n_steps - n_steps % GROUP, n_steps):
        t = t_hi - 1 - i
        b_gs, b_gm, b_h, b_p, b_gi, b_ip = _bwd_loads(
            t, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, None, b_mem0, b_zero, o_n, m_n, N, b_tmax, b_zero,
            stride_gs_t, stride_gm_t, stride_gi_t,
            RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, False, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_u, b_a1, b_b1, b_a2, b_a3, b_b2 = _bwd_map_step(
            t, b_gs, b_gm, b_h, b_p, b_gi, b_u, b_a1, b_b1, b_a2, b_a3, b_b2, b_len, b_alpha, b_decay, b_thr,
            b_gsf, p0, p1, b_seed, o_n, N,
            RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, HAS_LEN, SG_FN, STOCHASTIC)
    o_map = k.to(tl.int64) * N + o_n
    plane = n_chunks.to(tl.int64) * N
    tl.store(maps_ptr + o_map, b_a1, mask=m_n)
    tl.store(maps_ptr + plane + o_map, b_b1, mask=m_n)
    if SYNAPTIC:
        tl.store(maps_ptr + 2 * plane + o_map, b_a2, mask=m_n)
        tl.store(maps_ptr + 3 * plane + o_map, b_a3, mask=m_n)
        tl.store(maps_ptr + 4 * plane + o_map, b_b2, mask=m_n)


@triton.jit(do_not_specialize=["T"])
def lif_bwd_kernel(
    gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, mem0_ptr, syn0_ptr,
    alpha_ptr, decay_ptr, thr_ptr, gsf_ptr, sg_ptr, seed_ptr, len_ptr,
    dx_ptr, dmem0_ptr, dsyn0_ptr, dalpha_ptr, ddecay_ptr, dthr_ptr, dgsf_ptr, maps_ptr,
    T, N, M, stride_gs_t, stride_gm_t, stride_gi_t,
    ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr, THR_PER_NEURON: tl.constexpr,
    GSF_PER_NEURON: tl.constexpr,
    RESET: tl.constexpr, RESET_DELAY: tl.constexpr, RESET_INPUT: tl.constexpr,
    SYNAPTIC: tl.constexpr, HAS_MEM0: tl.constexpr, HAS_SYN0: tl.constexpr, HAS_GM: tl.constexpr,
    HAS_GI: tl.constexpr, PARAM_GRAD: tl.constexpr, ALPHA_GRAD: tl.constexpr,
    GS_BCAST: tl.constexpr, GM_BCAST: tl.constexpr, HAS_LEN: tl.constexpr, HAS_MAPS: tl.constexpr,
    SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr,
    N_DIV: tl.constexpr,
):
    """The reverse-time scan. With HAS_MAPS it is pass 2 of the chunked backward, for layers too
    small to fill the GPU with neurons alone: time splits into num_programs(1) chunks, program
    (block, k) scans chunk k, starting from the carries its upper chunks' maps give
    (`lif_bwd_map_kernel`), and stores its parameter sums at row k for the launcher to add."""
    tl.static_assert(GROUP == 2 or GROUP == 4)
    N = aligned(N, N_DIV)
    stride_gs_t = aligned_grad(stride_gs_t, GS_BCAST, N_DIV)
    stride_gm_t = aligned_grad(stride_gm_t, GM_BCAST, N_DIV)
    stride_gi_t = aligned(stride_gi_t, N_DIV)
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
    b_seed = surrogate_seed(seed_ptr, STOCHASTIC)
    p0, p1 = surrogate_params(sg_ptr, FP64)
    b_alpha = b_decay  # read only with SYNAPTIC
    if SYNAPTIC:
        b_alpha = param(alpha_ptr, o_n, m_n, ALPHA_PER_NEURON, FP64)
    b_syn0 = state0(syn0_ptr, o_n, m_n, HAS_SYN0 and ALPHA_GRAD, FP64, BLOCK)
    b_carry = b_zero  # dL/d(membrane state after step t), arriving from step t + 1
    b_carry_i = b_zero  # dL/dI_t arriving from step t + 1 (SYNAPTIC)
    t_hi = T
    n_steps = T
    o_sums = o_n  # where the per-neuron parameter sums go
    m_first = m_n  # the chunk that ends at t = 0 stores the initial states' gradients
    if HAS_MAPS:
        k = tl.program_id(1)
        n_chunks = tl.num_programs(1)
        chunk = tl.cdiv(T, n_chunks)
        t_hi = tl.minimum((k + 1) * chunk, T)
        n_steps = tl.maximum(t_hi - k * chunk, 0)
        o_sums = k.to(tl.int64) * N + o_n
        m_first = tl.where(k == 0, m_n, False)
        plane = n_chunks.to(tl.int64) * N
        # The carries into this chunk's top: every chunk above, top down, through its map.
        for j in range(0, n_chunks - 1 - k):
            o_map = (n_chunks - 1 - j).to(tl.int64) * N + o_n
            b_a1 = tl.load(maps_ptr + o_map, mask=m_n, other=0.0)
            b_b1 = tl.load(maps_ptr + plane + o_map, mask=m_n, other=0.0)
            if SYNAPTIC:
                b_a2 = tl.load(maps_ptr + 2 * plane + o_map, mask=m_n, other=0.0)
                b_a3 = tl.load(maps_ptr + 3 * plane + o_map, mask=m_n, other=0.0)
                b_b2 = tl.load(maps_ptr + 4 * plane + o_map, mask=m_n, other=0.0)
                b_carry_i = b_a2 * b_carry + b_a3 * b_carry_i + b_b2
            b_carry = b_a1 * b_carry + b_b1
    b_ddecay = b_zero
    b_dthr = b_zero
    b_dgsf = b_zero
    b_dalpha = b_zero
    # With reset_delay=True the membrane after step t is also the state before step t + 1, so
    # each step reads the saved sequence once: b_u is what the previous iteration loaded.
    b_u = b_zero
    if RESET_DELAY:
        o_last = step_offsets(t_hi - 1, N, o_n)
        b_u = acc(tl.load(mem_ptr + o_last, mask=tl.where(n_steps > 0, step_mask(m_n, t_hi - 1, b_tmax, HAS_LEN), False),
                          other=0.0), FP64)
    for i in range(0, n_steps - (GROUP - 1), GROUP):
        t = t_hi - 1 - i
        b_gs0, b_gm0, b_h0, b_p0, b_gi0, b_ip0 = _bwd_loads(
            t, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, b_mem0, b_syn0, o_n, m_n, N, b_tmax, b_zero,
            stride_gs_t, stride_gm_t, stride_gi_t,
            RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, ALPHA_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_gs1, b_gm1, b_h1, b_p1, b_gi1, b_ip1 = _bwd_loads(
            t - 1, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, b_mem0, b_syn0, o_n, m_n, N, b_tmax, b_zero,
            stride_gs_t, stride_gm_t, stride_gi_t,
            RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, ALPHA_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        if GROUP == 4:
            b_gs2, b_gm2, b_h2, b_p2, b_gi2, b_ip2 = _bwd_loads(
                t - 2, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, b_mem0, b_syn0, o_n, m_n, N, b_tmax, b_zero,
                stride_gs_t, stride_gm_t, stride_gi_t,
                RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, ALPHA_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
            b_gs3, b_gm3, b_h3, b_p3, b_gi3, b_ip3 = _bwd_loads(
                t - 3, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, b_mem0, b_syn0, o_n, m_n, N, b_tmax, b_zero,
                stride_gs_t, stride_gm_t, stride_gi_t,
                RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, ALPHA_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha = _bwd_step(
            t, b_gs0, b_gm0, b_h0, b_p0, b_gi0, b_ip0, b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha,
            dx_ptr, o_n, m_n, N, b_len, b_alpha, b_decay, b_thr, b_gsf, p0, p1, b_seed,
            RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, PARAM_GRAD, ALPHA_GRAD, HAS_LEN,
            SG_FN, STOCHASTIC)
        b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha = _bwd_step(
            t - 1, b_gs1, b_gm1, b_h1, b_p1, b_gi1, b_ip1, b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf,
            b_dalpha, dx_ptr, o_n, m_n, N, b_len, b_alpha, b_decay, b_thr, b_gsf, p0, p1, b_seed,
            RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, PARAM_GRAD, ALPHA_GRAD, HAS_LEN,
            SG_FN, STOCHASTIC)
        if GROUP == 4:
            b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha = _bwd_step(
                t - 2, b_gs2, b_gm2, b_h2, b_p2, b_gi2, b_ip2, b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf,
                b_dalpha, dx_ptr, o_n, m_n, N, b_len, b_alpha, b_decay, b_thr, b_gsf, p0, p1, b_seed,
                RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, PARAM_GRAD, ALPHA_GRAD, HAS_LEN,
                SG_FN, STOCHASTIC)
            b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha = _bwd_step(
                t - 3, b_gs3, b_gm3, b_h3, b_p3, b_gi3, b_ip3, b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf,
                b_dalpha, dx_ptr, o_n, m_n, N, b_len, b_alpha, b_decay, b_thr, b_gsf, p0, p1, b_seed,
                RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, PARAM_GRAD, ALPHA_GRAD, HAS_LEN,
                SG_FN, STOCHASTIC)
    for i in range(n_steps - n_steps % GROUP, n_steps):
        t = t_hi - 1 - i
        b_gs, b_gm, b_h, b_p, b_gi, b_ip = _bwd_loads(
            t, gs_ptr, gm_ptr, gi_ptr, mem_ptr, h_ptr, syn_ptr, b_mem0, b_syn0, o_n, m_n, N, b_tmax, b_zero,
            stride_gs_t, stride_gm_t, stride_gi_t,
            RESET_DELAY, SYNAPTIC, HAS_GM, HAS_GI, ALPHA_GRAD, GS_BCAST, GM_BCAST, HAS_LEN, FP64)
        b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha = _bwd_step(
            t, b_gs, b_gm, b_h, b_p, b_gi, b_ip, b_u, b_carry, b_carry_i, b_ddecay, b_dthr, b_dgsf, b_dalpha,
            dx_ptr, o_n, m_n, N, b_len, b_alpha, b_decay, b_thr, b_gsf, p0, p1, b_seed,
            RESET, RESET_DELAY, RESET_INPUT, SYNAPTIC, HAS_GM, HAS_GI, PARAM_GRAD, ALPHA_GRAD, HAS_LEN,
            SG_FN, STOCHASTIC)

    if HAS_MEM0:
        tl.store(dmem0_ptr + o_n, b_carry.to(dmem0_ptr.dtype.element_ty), mask=m_first)
    if SYNAPTIC:
        if HAS_SYN0:
            tl.store(dsyn0_ptr + o_n, b_carry_i.to(dsyn0_ptr.dtype.element_ty), mask=m_first)
        if ALPHA_GRAD:
            tl.store(dalpha_ptr + o_sums, b_dalpha, mask=m_n)
    if PARAM_GRAD:
        # Per-neuron sums over time (per chunk with HAS_MAPS); the launcher reduces them to each
        # parameter's shape.
        tl.store(ddecay_ptr + o_sums, b_ddecay, mask=m_n)
        tl.store(dthr_ptr + o_sums, b_dthr, mask=m_n)
        tl.store(dgsf_ptr + o_sums, b_dgsf, mask=m_n)
