"""Triton device functions every kernel family shares: upcasts, parameters and initial states
for a block of neurons, incoming gradients (broadcast or not), per-sample sequence ends, spikes,
and the rounding of stored states that keeps each on the side of the threshold the forward
decided. Kernels import them by these names; the family folders (`lif/`, `alpha/`) hold the
kernels themselves."""
import triton
import triton.language as tl

from . import codes

# The reset codes as constexprs, so that kernels compare RESET with names (Triton reads only
# constexpr globals).
RESET_SUBTRACT = tl.constexpr(codes.RESET_SUBTRACT)
RESET_ZERO = tl.constexpr(codes.RESET_ZERO)
RESET_NONE = tl.constexpr(codes.RESET_NONE)

@triton.jit
def acc(x, FP64: tl.constexpr):
    """Upcast to the accumulation type: fp64 for fp64 tensors, fp32 for everything else."""
    if FP64:
        return x.to(tl.float64)
    else:
        return x.to(tl.float32)


@triton.jit
def stored(x, ptr, FP64: tl.constexpr):
    """`x` rounded to `ptr`'s dtype. Thresholds compare the membrane at the input's precision
    (`ptr` = x_ptr): for fp16/bf16 inputs that is exactly the stored membrane the backward reads,
    while a lower save_dtype only rounds the saved copy and leaves the forward's dynamics alone."""
    return acc(x.to(ptr.dtype.element_ty), FP64)


@triton.jit
def neighbours(b_thr, ptr):
    """The two values of `ptr`'s dtype around the threshold, in the accumulation dtype: (the
    largest <= thr, the smallest > thr). One step of the integer representation moves to the
    adjacent float (towards zero for a negative value; from +-0 to the smallest subnormal)."""
    D: tl.constexpr = ptr.dtype.element_ty
    if D.primitive_bitwidth == 16:
        ITY: tl.constexpr = tl.int16
    else:
        ITY: tl.constexpr = tl.int32
    b_c = b_thr.to(D)
    b_ca = b_c.to(b_thr.dtype)
    b_bits = b_c.to(ITY, bitcast=True)
    b_tiny = tl.full(b_bits.shape, 1, ITY).to(D, bitcast=True).to(b_thr.dtype)
    b_away = (b_bits + 1).to(ITY).to(D, bitcast=True).to(b_thr.dtype)  # one ulp further from 0
    b_back = (b_bits - 1).to(ITY).to(D, bitcast=True).to(b_thr.dtype)  # one ulp closer to 0
    b_next = tl.where(b_ca == 0, b_tiny, tl.where(b_ca > 0, b_away, b_back))
    b_prev = tl.where(b_ca == 0, -b_tiny, tl.where(b_ca > 0, b_back, b_away))
    return tl.where(b_ca <= b_thr, b_ca, b_prev), tl.where(b_ca > b_thr, b_ca, b_next)


@triton.jit
def on_side(b_v, b_fired, b_thr, b_down, b_up, ptr, DIRECTED: tl.constexpr):
    """`b_v` rounded to `ptr`'s dtype (returned in b_v's dtype) on the side of the threshold the
    forward decided (`b_fired`, from b_v at the input's precision): where the nearest value would
    cross it, the nearest value on the decided side (`neighbours`). The backward rebuilds every
    spike and reset from the stored states, so it then sees exactly the forward's decisions."""
    b_s = b_v.to(ptr.dtype.element_ty).to(b_v.dtype)
    if DIRECTED:
        b_s = tl.where((b_s > b_thr) == (b_fired > 0), b_s, tl.where(b_fired > 0, b_up, b_down))
    return b_s


@triton.jit
def spikes(b_fire, b_gsf, ptr):
    """What a step stores as spikes in `ptr`'s dtype: graded (fire * gsf) for floating spikes,
    the fire bit itself for binary (bool, uint8) ones."""
    if ptr.dtype.element_ty.is_floating():
        return (b_fire * b_gsf).to(ptr.dtype.element_ty)
    else:
        return b_fire.to(ptr.dtype.element_ty)


@triton.jit
def param(ptr, o_n, m_n, PER_NEURON: tl.constexpr, FP64: tl.constexpr):
    """A parameter for the block: one value per neuron, or one scalar that the arithmetic
    broadcasts. The scalar is a single unmasked load kept in one register; read through the
    neurons' offsets (stride 0) it would be a masked gather holding a copy per neuron."""
    if PER_NEURON:
        return acc(tl.load(ptr + o_n, mask=m_n, other=0.0), FP64)
    else:
        return acc(tl.load(ptr), FP64)


@triton.jit
def state0(ptr, o_n, m_n, PRESENT: tl.constexpr, FP64: tl.constexpr, BLOCK: tl.constexpr):
    """An initial state for the block: loaded, or zeros when not given."""
    if PRESENT:
        return acc(tl.load(ptr + o_n, mask=m_n, other=0.0), FP64)
    else:
        return acc(tl.zeros([BLOCK], dtype=tl.float32), FP64)


@triton.jit
def grad_ptrs(ptr, o_t, stride_t, o_n, BCAST: tl.constexpr):
    """Pointers to step `o_t` of an incoming gradient: one per neuron, or, when the gradient is
    broadcast over the neurons (stride 0, as `.sum()` and `.mean()` produce), one pointer to the
    step's single value, so the broadcast is never materialised."""
    if BCAST:
        return ptr + o_t * stride_t
    else:
        return ptr + o_t * stride_t + o_n


@triton.jit
def load_grad(p, m_n, BCAST: tl.constexpr, FP64: tl.constexpr):
    """One step of an incoming gradient from `grad_ptrs`: a block, or one scalar that the
    arithmetic broadcasts (a single load per thread)."""
    if BCAST:
        return acc(tl.load(p), FP64)
    else:
        return acc(tl.load(p, mask=m_n, other=0.0), FP64)


@triton.jit
def aligned(n, N_DIV: tl.constexpr):
    """`n`, a neuron count or time stride that N_DIV divides (`_launch.alignment` checked it), in
    a form that tells the compiler so. Triton marks an integer argument divisible only when 16
    divides it; any other N would make every step's offsets look unaligned and split each
    thread's vector access into 4-byte ones. The division and product leave the value as it is."""
    return n // N_DIV * N_DIV


@triton.jit
def aligned_grad(stride_t, BCAST: tl.constexpr, N_DIV: tl.constexpr):
    """An incoming gradient's time stride as `aligned` marks it; a broadcast gradient's as it is:
    read one scalar per step, it is left out of N_DIV by the launcher."""
    if BCAST:
        return stride_t
    else:
        return aligned(stride_t, N_DIV)


@triton.jit
def step_offsets(t, N, o_n):
    """The block's int64 offsets at step t of a contiguous `[T, N]` sequence."""
    return tl.cast(t, tl.int64) * N + o_n


@triton.jit
def load_step(ptr, t, stride_t, o_n, m_n, b_tmax, HAS_LEN: tl.constexpr, FP64: tl.constexpr):
    """Step t of a `[T, N]` input with time stride `stride_t`, upcast (`step_mask`: zeros once t
    is past the block's longest sequence)."""
    o = tl.cast(t, tl.int64) * stride_t + o_n
    return acc(tl.load(ptr + o, mask=step_mask(m_n, t, b_tmax, HAS_LEN), other=0.0), FP64)


@triton.jit
def step_or_zero(ptr, o, m, b_zero, PRESENT: tl.constexpr, FP64: tl.constexpr):
    """One step of an optional sequence at offsets `o` (mask `m`), upcast; `b_zero` where the
    variant does not read it (PRESENT false, `ptr` None)."""
    if PRESENT:
        return acc(tl.load(ptr + o, mask=m, other=0.0), FP64)
    else:
        return b_zero


@triton.jit
def step_grads(gs_ptr, gm_ptr, t64, stride_gs_t, stride_gm_t, o_n, m_t, b_zero, HAS_GM: tl.constexpr,
               GS_BCAST: tl.constexpr, GM_BCAST: tl.constexpr, FP64: tl.constexpr):
    """Step t's incoming gradients of the spikes and (HAS_GM) of the membrane, each a block or
    one broadcast scalar (`grad_ptrs`); zeros for an absent membrane gradient."""
    b_gs = load_grad(grad_ptrs(gs_ptr, t64, stride_gs_t, o_n, GS_BCAST), m_t, GS_BCAST, FP64)
    b_gm = b_zero
    if HAS_GM:
        b_gm = load_grad(grad_ptrs(gm_ptr, t64, stride_gm_t, o_n, GM_BCAST), m_t, GM_BCAST, FP64)
    return b_gs, b_gm


@triton.jit
def load_prev(ptr, o_t, N, t, m_prev, b_first, FP64: tl.constexpr):
    """Step t - 1 of a contiguous `[T, N]` sequence (o_t: step t's offsets, m_prev its mask), or
    b_first, the initial state, at t = 0: selected rather than branched to, so that a time loop's
    body has no branch."""
    return tl.where(t > 0, acc(tl.load(ptr + o_t - N, mask=tl.where(t > 0, m_prev, False), other=0.0), FP64),
                    b_first)


@triton.jit
def sample_lengths(len_ptr, o_n, m_n, M, T, HAS_LEN: tl.constexpr):
    """(each neuron's sequence length, the block's longest) from the per-sample `lengths[B]`,
    clamped to [0, T]; placeholders (unused) without lengths."""
    if HAS_LEN:
        b_len = tl.load(len_ptr + o_n // M, mask=m_n, other=0)
        b_len = tl.minimum(tl.maximum(b_len, 0), T).to(tl.int32)
        return b_len, tl.max(b_len, axis=0)
    else:
        return T, T


@triton.jit
def live(x, t, b_len, HAS_LEN: tl.constexpr):
    """`x` where step t lies within the neuron's sequence, 0 past its end (every step without
    lengths). Past the end, outputs are zero and incoming gradients are ignored."""
    if HAS_LEN:
        return tl.where(t < b_len, x, 0.0)
    else:
        return x


@triton.jit
def step_mask(m_n, t, b_tmax, HAS_LEN: tl.constexpr):
    """The load mask of step t: the block's neurons, or none once t is past the block's longest
    sequence. The condition is uniform over the block, so loads stay full-width vectors (a
    per-neuron length mask would split them); per-neuron ends are applied with `live`."""
    if HAS_LEN:
        return tl.where(t < b_tmax, m_n, False)
    else:
        return m_n


@triton.jit
def row_product(b_acc, a_ptr, a_row, o_r, m_r, K, w_ptr, o_f, m_f, TRANSPOSED: tl.constexpr,
                PRECISION: tl.constexpr, BLOCK_K: tl.constexpr):
    """`b_acc` plus A Wᵀ (TRANSPOSED: sum_k A[r, k] W[f, k]) or A W (sum_k A[r, k] W[k, f]) for
    the rows `o_r` of A (row stride `a_row`, K columns) and the columns `o_f`, W of row stride K:
    the recurrent product of the recurrent kernels' time loops (RLeaky's spikes times its
    weight, SLSTM's hidden state times a gate's block of W_hh), tl.dot over K in BLOCK_K slices."""
    for k0 in range(0, K, BLOCK_K):
        o_k = k0 + tl.arange(0, BLOCK_K)
        m_k = o_k < K
        b_a = tl.load(a_ptr + o_r[:, None] * a_row + o_k[None, :], mask=m_r[:, None] & m_k[None, :], other=0.0)
        if TRANSPOSED:
            o_w = o_f[None, :] * K + o_k[:, None]
        else:
            o_w = o_k[:, None] * K + o_f[None, :]
        b_w = tl.load(w_ptr + o_w, mask=m_k[:, None] & m_f[None, :], other=0.0)
        b_acc = tl.dot(b_a, b_w, b_acc, input_precision=PRECISION)
    return b_acc
