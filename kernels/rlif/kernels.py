"""Fused kernels of the recurrent LIF family (RLeaky, RSynaptic) with a Linear recurrent term
(or, ONE_TO_ONE, the spikes times V): the recurrent term inside the time loop, one launch for the
forward, one for the backward.

Layout: a sequence is `[T, R, F]`, R rows (samples, and any dimensions between the batch and the
features) of F features, contiguous. A program owns BLOCK_R rows and every feature of them, and
walks time: step t needs the spikes of all F features of its rows at step t - 1, which no other
program writes, so the only synchronisation is a barrier between steps (every thread of the
program must see the step's stores before the next one reads them). Within a step the features
run in tiles of BLOCK_F; each tile's recurrent current is `tl.dot` of the rows' previous spikes
with a [BLOCK_K, BLOCK_F] slice of Wᵀ, accumulated over F in fp32.

The states the next step starts from are not kept in registers but read back from the sequences
just stored (spikes, membrane, current: the outputs in the input's dtype, so nothing is rounded
that the torch path does not round): a tile of features then holds only its own step, whatever
F is, and W is read through the caches each step rather than held by a program (`README.md`
says why). Past a sample's length (`HAS_LEN`) every output is stored as 0, and the next step
starts from those zeros, as the torch path's do.

The backward walks time in reverse the same way: dL/dS_t gets dI_{t+1} W, one `tl.dot` per tile
of the stored dI_{t+1} (= dL/dX_{t+1}) with W, then the surrogate and the carried membrane and
current gradients. The weight and bias gradients are sums over every step, taken after the
kernel as one GEMM over the saved spikes (`fused.py`); per-neuron parameter gradients are summed
over time in place in `[R, F]` buffers that each program alone touches.
"""
import triton
import triton.language as tl

from ..common import RESET_SUBTRACT, RESET_ZERO, acc, live, load_prev, param, row_product, spikes, step_or_zero
from ..surrogates import surrogate_grad, surrogate_params


@triton.jit
def _tile(o_r, m_r, f0, F, BLOCK_F: tl.constexpr):
    """(features, their mask, offsets within a step, mask) of the tile of rows `o_r` and the
    BLOCK_F features from f0."""
    o_f = f0 + tl.arange(0, BLOCK_F)
    m_f = o_f < F
    return o_f, m_f, o_r[:, None] * F + o_f[None, :], m_r[:, None] & m_f[None, :]


@triton.jit
def _row_lengths(len_ptr, o_r, m_r, M, T, HAS_LEN: tl.constexpr):
    """Each row's sequence length as a [BLOCK_R, 1] column (row r is sample r // M), clamped to
    [0, T]; T without lengths."""
    if HAS_LEN:
        b_len = tl.load(len_ptr + o_r // M, mask=m_r, other=0)
        return tl.minimum(tl.maximum(b_len, 0), T).to(tl.int32)[:, None]
    else:
        return T


@triton.jit
def _features(F, ONE_TO_ONE: tl.constexpr, BLOCK_F: tl.constexpr):
    """The range of feature tiles a program walks: all of them for a Linear term, whose product
    reads every feature's spikes; with the one-to-one term (ONE_TO_ONE: spikes times V) no
    feature reads another's, so a program owns one tile (the grid's second axis)."""
    if ONE_TO_ONE:
        f_first = tl.program_id(1) * BLOCK_F
        return f_first, f_first + 1
    else:
        return 0, F


@triton.jit(do_not_specialize=["T"])
def rlif_fwd_kernel(
    x_ptr, w_ptr, bias_ptr, v_ptr, spk0_ptr, syn0_ptr, mem0_ptr, alpha_ptr, decay_ptr, thr_ptr, gsf_ptr, len_ptr,
    spk_ptr, syn_ptr, mem_ptr,
    T, R, F, M, stride_x_t,
    V_PER_NEURON: tl.constexpr, ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr,
    THR_PER_NEURON: tl.constexpr, GSF_PER_NEURON: tl.constexpr, RESET: tl.constexpr, SYNAPTIC: tl.constexpr,
    ONE_TO_ONE: tl.constexpr, HAS_BIAS: tl.constexpr,
    HAS_SPK0: tl.constexpr, HAS_SYN0: tl.constexpr, HAS_MEM0: tl.constexpr, HAS_LEN: tl.constexpr,
    PRECISION: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr,
):
    o_r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    m_r = o_r < R
    N = R.to(tl.int64) * F
    b_len = _row_lengths(len_ptr, o_r, m_r, M, T, HAS_LEN)
    f_first, f_end = _features(F, ONE_TO_ONE, BLOCK_F)
    for t in range(0, T):
        t64 = tl.cast(t, tl.int64)
        tl.debug_barrier()  # step t - 1's stores, by every thread, are read below
        for f0 in range(f_first, f_end, BLOCK_F):
            o_f, m_f, o, m = _tile(o_r, m_r, f0, F, BLOCK_F)
            o_t = t64 * N + o
            b_zero = tl.zeros([BLOCK_R, BLOCK_F], dtype=tl.float32)
            # The recurrent current of the previous spikes: zeros before the first step unless given.
            if ONE_TO_ONE:
                b_s = load_prev(spk_ptr, o_t, N, t, m, step_or_zero(spk0_ptr, o, m, b_zero, HAS_SPK0, False), False)
                b_in = param(v_ptr, o, m, V_PER_NEURON, False) * b_s
            elif t > 0:
                b_in = row_product(b_zero, spk_ptr + (t64 - 1) * N, F, o_r, m_r, F, w_ptr, o_f, m_f, True,
                                   PRECISION, BLOCK_K)
            elif HAS_SPK0:
                b_in = row_product(b_zero, spk0_ptr, F, o_r, m_r, F, w_ptr, o_f, m_f, True, PRECISION, BLOCK_K)
            else:
                b_in = b_zero
            if not ONE_TO_ONE and HAS_BIAS:
                b_in += acc(tl.load(bias_ptr + o_f, mask=m_f, other=0.0), False)[None, :]
            b_in += acc(tl.load(x_ptr + t64 * stride_x_t + o, mask=m, other=0.0), False)
            b_decay = param(decay_ptr, o, m, DECAY_PER_NEURON, False)
            b_thr = param(thr_ptr, o, m, THR_PER_NEURON, False)
            b_gsf = param(gsf_ptr, o, m, GSF_PER_NEURON, False)
            b_u = load_prev(mem_ptr, o_t, N, t, m, step_or_zero(mem0_ptr, o, m, b_zero, HAS_MEM0, False), False)
            b_r = tl.where(b_u > b_thr, 1.0, 0.0)
            if SYNAPTIC:
                b_alpha = param(alpha_ptr, o, m, ALPHA_PER_NEURON, False)
                b_i = load_prev(syn_ptr, o_t, N, t, m, step_or_zero(syn0_ptr, o, m, b_zero, HAS_SYN0, False), False)
                b_in = b_alpha * b_i + b_in
                tl.store(syn_ptr + o_t, live(b_in, t, b_len, HAS_LEN).to(syn_ptr.dtype.element_ty), mask=m)
            # snnTorch's zero reset is base - base r_t, the step's input included.
            b_v = b_decay * b_u + b_in
            if RESET == RESET_SUBTRACT:
                b_v = b_v - b_r * b_thr
            elif RESET == RESET_ZERO:
                b_v = b_v - b_v * b_r
            b_fire = tl.where(b_v > b_thr, 1.0, 0.0)
            tl.store(spk_ptr + o_t, spikes(live(b_fire, t, b_len, HAS_LEN), b_gsf, spk_ptr), mask=m)
            tl.store(mem_ptr + o_t, live(b_v, t, b_len, HAS_LEN).to(mem_ptr.dtype.element_ty), mask=m)


@triton.jit(do_not_specialize=["T"])
def rlif_bwd_kernel(
    gs_ptr, gm_ptr, gi_ptr, w_ptr, v_ptr, mem_ptr, mem0_ptr, alpha_ptr, decay_ptr, thr_ptr, gsf_ptr, sg_ptr,
    len_ptr, dx_ptr, db_ptr, ddecay_ptr, dthr_ptr, dgsf_ptr,
    T, R, F, M,
    V_PER_NEURON: tl.constexpr, ALPHA_PER_NEURON: tl.constexpr, DECAY_PER_NEURON: tl.constexpr,
    THR_PER_NEURON: tl.constexpr, GSF_PER_NEURON: tl.constexpr, RESET: tl.constexpr, SYNAPTIC: tl.constexpr,
    ONE_TO_ONE: tl.constexpr, HAS_GS: tl.constexpr,
    HAS_GM: tl.constexpr, HAS_GI: tl.constexpr, HAS_MEM0: tl.constexpr, HAS_LEN: tl.constexpr,
    PARAM_GRAD: tl.constexpr, SG_FN: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """dx_ptr gets dI_t (= dL/dX_t) for every step; db_ptr (RSynaptic: two `[R, F]` slots, by
    the parity of t) the membrane path's dB_t, what step t - 1's carried gradient is made of
    (RLeaky's dB_t is dI_t itself); ddecay/dthr/dgsf, zero-filled, the per-neuron sums over time."""
    o_r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    m_r = o_r < R
    N = R.to(tl.int64) * F
    b_len = _row_lengths(len_ptr, o_r, m_r, M, T, HAS_LEN)
    p0, p1 = surrogate_params(sg_ptr, False)
    f_first, f_end = _features(F, ONE_TO_ONE, BLOCK_F)
    for s in range(0, T):
        t = T - 1 - s
        t64 = tl.cast(t, tl.int64)
        later = t < T - 1
        tl.debug_barrier()  # step t + 1's dI, by every thread, is read below
        for f0 in range(f_first, f_end, BLOCK_F):
            o_f, m_f, o, m = _tile(o_r, m_r, f0, F, BLOCK_F)
            o_t = t64 * N + o
            b_zero = tl.zeros([BLOCK_R, BLOCK_F], dtype=tl.float32)
            # dI_{t+1} (zeros at the last step): what step t + 1's input sends back through the
            # recurrent term (here through V, below through W), and RLeaky's dB_{t+1}.
            b_di_next = tl.load(dx_ptr + (t64 + 1) * N + o, mask=tl.where(later, m, False), other=0.0)
            b_gs = step_or_zero(gs_ptr, o_t, m, b_zero, HAS_GS, False)
            if ONE_TO_ONE:
                b_gs += b_di_next * param(v_ptr, o, m, V_PER_NEURON, False)
            elif later:
                b_gs = row_product(b_gs, dx_ptr + (t64 + 1) * N, F, o_r, m_r, F, w_ptr, o_f, m_f, False,
                                   PRECISION, BLOCK_K)
            b_gs = live(b_gs, t, b_len, HAS_LEN)
            b_decay = param(decay_ptr, o, m, DECAY_PER_NEURON, False)
            b_thr = param(thr_ptr, o, m, THR_PER_NEURON, False)
            b_gsf = param(gsf_ptr, o, m, GSF_PER_NEURON, False)
            b_u = acc(tl.load(mem_ptr + o_t, mask=m, other=0.0), False)
            b_gsg = b_gs * surrogate_grad(b_u - b_thr, p0, p1, 0, o_t, SG_FN, False) * b_gsf
            # dB_{t+1}, whose decay times is the membrane gradient carried to step t.
            b_db_next = b_di_next
            if SYNAPTIC:
                b_db_next = tl.load(db_ptr + ((t64 + 1) % 2) * N + o, mask=tl.where(later, m, False), other=0.0)
            b_gu = b_gsg + step_or_zero(gm_ptr, o_t, m, b_zero, HAS_GM, False) + b_decay * b_db_next
            b_gu = live(b_gu, t, b_len, HAS_LEN)
            b_up = load_prev(mem_ptr, o_t, N, t, m, step_or_zero(mem0_ptr, o, m, b_zero, HAS_MEM0, False), False)
            b_r = tl.where(b_up > b_thr, 1.0, 0.0)
            b_db = b_gu
            if RESET == RESET_ZERO:
                b_db = b_gu - b_gu * b_r  # the gradient of base - base r_t
            if PARAM_GRAD:
                b_dthr = tl.load(dthr_ptr + o, mask=m, other=0.0) - b_gsg
                if RESET == RESET_SUBTRACT:
                    b_dthr = b_dthr - b_gu * b_r
                tl.store(dthr_ptr + o, b_dthr, mask=m)
                tl.store(ddecay_ptr + o, tl.load(ddecay_ptr + o, mask=m, other=0.0) + b_db * b_up, mask=m)
                b_fired = tl.where(b_u > b_thr, 1.0, 0.0)
                tl.store(dgsf_ptr + o, tl.load(dgsf_ptr + o, mask=m, other=0.0) + b_gs * b_fired, mask=m)
            b_di = b_db
            if SYNAPTIC:
                b_alpha = param(alpha_ptr, o, m, ALPHA_PER_NEURON, False)
                b_di = b_db + step_or_zero(gi_ptr, o_t, m, b_zero, HAS_GI, False) + b_alpha * b_di_next
                b_di = live(b_di, t, b_len, HAS_LEN)
                tl.store(db_ptr + (t64 % 2) * N + o, b_db, mask=m)
            tl.store(dx_ptr + o_t, b_di.to(dx_ptr.dtype.element_ty), mask=m)
