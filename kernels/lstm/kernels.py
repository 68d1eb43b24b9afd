"""Fused kernels of snnTorch's SLSTM: the LSTM cell's recurrent product, its gates, the reset and
the spike inside one time loop, forward and backward (`README.md` has the equations).

Layout and scheduling are the recurrent LIF family's (`kernels/rlif/kernels.py`): sequences
`[T, R, H]` (rows of H hidden units, contiguous), a program owns BLOCK_R rows and every unit of
them and walks time with a barrier between steps, and the states a step starts from are read
back from the sequences just stored. The input's part of the gates, `P_t = x_t W_ihᵀ + b_ih +
b_hh` for every step, comes in as one GEMM's output `[T, R, 4H]` (gates i, f, g, o, torch's
order); each step adds the recurrent part, `tl.dot` of the rows' previous hidden state with the
gate's block of W_hh, tile by tile.

The forward stores the four activated gates `[T, R, 4H]` for the backward, which walks time in
reverse: each step's hidden-state gradient gets `dG_{t+1} W_hh` (one `tl.dot` per gate of the
stored gate gradients of step t + 1), and the cell state's gradient its carry dc_{t+1} f_{t+1}
from a two-step buffer. The weight gradients, the input's and the biases' are GEMMs and sums over
the stored dG after the kernel (`fused.py`)."""
import triton
import triton.language as tl

from ..common import RESET_SUBTRACT, RESET_ZERO, load_prev, param, row_product, spikes, step_or_zero
from ..surrogates import surrogate_grad, surrogate_params


@triton.jit
def _tanh(x):
    # tanh from the sigmoid (exact in real arithmetic; no tanh intrinsic in every Triton version)
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def _recurrent(b_a_i, b_a_f, b_a_g, b_a_o, h_ptr, o_r, m_r, H, w_ptr, o_f, m_f, PRECISION: tl.constexpr,
               BLOCK_K: tl.constexpr):
    """The four gates' pre-activations plus the hidden state at `h_ptr` (`[R, H]`) times each
    gate's block of W_hh, transposed."""
    b_a_i = row_product(b_a_i, h_ptr, H, o_r, m_r, H, w_ptr, o_f, m_f, True, PRECISION, BLOCK_K)
    b_a_f = row_product(b_a_f, h_ptr, H, o_r, m_r, H, w_ptr + H * H, o_f, m_f, True, PRECISION, BLOCK_K)
    b_a_g = row_product(b_a_g, h_ptr, H, o_r, m_r, H, w_ptr + 2 * H * H, o_f, m_f, True, PRECISION, BLOCK_K)
    b_a_o = row_product(b_a_o, h_ptr, H, o_r, m_r, H, w_ptr + 3 * H * H, o_f, m_f, True, PRECISION, BLOCK_K)
    return b_a_i, b_a_f, b_a_g, b_a_o


@triton.jit
def _tile(o_r, m_r, f0, H, BLOCK_F: tl.constexpr):
    """(units, their mask, offsets within a state step, mask, offsets of gate i within a gate
    step) of the rows `o_r` and the BLOCK_F units from f0."""
    o_f = f0 + tl.arange(0, BLOCK_F)
    m_f = o_f < H
    return o_f, m_f, o_r[:, None] * H + o_f[None, :], m_r[:, None] & m_f[None, :], o_r[:, None] * (4 * H) + o_f[None, :]


@triton.jit(do_not_specialize=["T"])
def slstm_fwd_kernel(
    pre_ptr, w_ptr, syn0_ptr, mem0_ptr, thr_ptr, gsf_ptr, spk_ptr, syn_ptr, mem_ptr, gates_ptr,
    T, R, H,
    THR_PER_NEURON: tl.constexpr, GSF_PER_NEURON: tl.constexpr, RESET: tl.constexpr, HAS_SYN0: tl.constexpr,
    HAS_MEM0: tl.constexpr, PRECISION: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_F: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    o_r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    m_r = o_r < R
    N = R.to(tl.int64) * H
    for t in range(0, T):
        t64 = tl.cast(t, tl.int64)
        tl.debug_barrier()  # step t - 1's hidden states, by every thread, are read below
        for f0 in range(0, H, BLOCK_F):
            o_f, m_f, o, m, o_g = _tile(o_r, m_r, f0, H, BLOCK_F)
            o_t = t64 * N + o
            o_gt = t64 * 4 * N + o_g
            b_zero = tl.zeros([BLOCK_R, BLOCK_F], dtype=tl.float32)
            b_a_i = tl.load(pre_ptr + o_gt, mask=m, other=0.0)
            b_a_f = tl.load(pre_ptr + o_gt + H, mask=m, other=0.0)
            b_a_g = tl.load(pre_ptr + o_gt + 2 * H, mask=m, other=0.0)
            b_a_o = tl.load(pre_ptr + o_gt + 3 * H, mask=m, other=0.0)
            # The recurrent part of the gates: the previous hidden state (zeros before the first
            # step unless given) times each gate's block of W_hh.
            if t > 0:
                b_a_i, b_a_f, b_a_g, b_a_o = _recurrent(b_a_i, b_a_f, b_a_g, b_a_o, mem_ptr + (t64 - 1) * N, o_r, m_r,
                                                        H, w_ptr, o_f, m_f, PRECISION, BLOCK_K)
            elif HAS_MEM0:
                b_a_i, b_a_f, b_a_g, b_a_o = _recurrent(b_a_i, b_a_f, b_a_g, b_a_o, mem0_ptr, o_r, m_r, H, w_ptr,
                                                        o_f, m_f, PRECISION, BLOCK_K)
            b_i = tl.sigmoid(b_a_i)
            b_f = tl.sigmoid(b_a_f)
            b_g = _tanh(b_a_g)
            b_o = tl.sigmoid(b_a_o)
            b_thr = param(thr_ptr, o, m, THR_PER_NEURON, False)
            b_gsf = param(gsf_ptr, o, m, GSF_PER_NEURON, False)
            b_c = b_f * load_prev(syn_ptr, o_t, N, t, m, step_or_zero(syn0_ptr, o, m, b_zero, HAS_SYN0, False),
                                  False) + b_i * b_g
            b_h = b_o * _tanh(b_c)
            b_u = load_prev(mem_ptr, o_t, N, t, m, step_or_zero(mem0_ptr, o, m, b_zero, HAS_MEM0, False), False)
            b_r = tl.where(b_u > b_thr, 1.0, 0.0)
            if RESET == RESET_SUBTRACT:
                b_h = b_h - b_r * b_thr
            elif RESET == RESET_ZERO:
                b_h = b_h - b_r * b_h
            tl.store(spk_ptr + o_t, spikes(tl.where(b_h > b_thr, 1.0, 0.0), b_gsf, spk_ptr), mask=m)
            tl.store(syn_ptr + o_t, b_c, mask=m)
            tl.store(mem_ptr + o_t, b_h, mask=m)
            tl.store(gates_ptr + o_gt, b_i, mask=m)
            tl.store(gates_ptr + o_gt + H, b_f, mask=m)
            tl.store(gates_ptr + o_gt + 2 * H, b_g, mask=m)
            tl.store(gates_ptr + o_gt + 3 * H, b_o, mask=m)


@triton.jit(do_not_specialize=["T"])
def slstm_bwd_kernel(
    gs_ptr, gm_ptr, gc_ptr, w_ptr, syn_ptr, mem_ptr, gates_ptr, syn0_ptr, mem0_ptr, thr_ptr, gsf_ptr, sg_ptr,
    dg_ptr, dc_ptr, dthr_ptr,
    T, R, H,
    THR_PER_NEURON: tl.constexpr, GSF_PER_NEURON: tl.constexpr, RESET: tl.constexpr, HAS_SYN0: tl.constexpr,
    HAS_MEM0: tl.constexpr, HAS_GS: tl.constexpr, HAS_GM: tl.constexpr, HAS_GC: tl.constexpr, SG_FN: tl.constexpr,
    PRECISION: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """dg_ptr gets every step's gate gradients dG_t `[T, R, 4H]` (of the pre-activations), dc_ptr
    (two `[R, H]` slots, by the parity of t) the cell state's dc_t, dthr_ptr (zero-filled) the
    threshold's per-neuron sums over time."""
    o_r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    m_r = o_r < R
    N = R.to(tl.int64) * H
    p0, p1 = surrogate_params(sg_ptr, False)
    for s in range(0, T):
        t = T - 1 - s
        t64 = tl.cast(t, tl.int64)
        later = t < T - 1
        tl.debug_barrier()  # step t + 1's dG and dc, by every thread, are read below
        for f0 in range(0, H, BLOCK_F):
            o_f, m_f, o, m, o_g = _tile(o_r, m_r, f0, H, BLOCK_F)
            o_t = t64 * N + o
            o_gt = t64 * 4 * N + o_g
            b_zero = tl.zeros([BLOCK_R, BLOCK_F], dtype=tl.float32)
            # What step t + 1's gates send back to the hidden state through W_hh.
            b_dh = step_or_zero(gm_ptr, o_t, m, b_zero, HAS_GM, False)
            if later:
                dg_next = dg_ptr + (t64 + 1) * 4 * N
                for gate in tl.static_range(4):  # each gate's dG times its block of W_hh
                    b_dh = row_product(b_dh, dg_next + gate * H, 4 * H, o_r, m_r, H, w_ptr + gate * H * H, o_f, m_f,
                                       False, PRECISION, BLOCK_K)
            b_thr = param(thr_ptr, o, m, THR_PER_NEURON, False)
            b_gsf = param(gsf_ptr, o, m, GSF_PER_NEURON, False)
            b_mem = tl.load(mem_ptr + o_t, mask=m, other=0.0)
            b_gsg = b_zero
            if HAS_GS:
                b_gsg = tl.load(gs_ptr + o_t, mask=m, other=0.0) * surrogate_grad(
                    b_mem - b_thr, p0, p1, 0, o_t, SG_FN, False) * b_gsf
            b_dh += b_gsg  # dL/dmem_t
            b_u = load_prev(mem_ptr, o_t, N, t, m, step_or_zero(mem0_ptr, o, m, b_zero, HAS_MEM0, False), False)
            b_r = tl.where(b_u > b_thr, 1.0, 0.0)
            b_dthr = tl.load(dthr_ptr + o, mask=m, other=0.0) - b_gsg
            if RESET == RESET_SUBTRACT:
                b_dthr = b_dthr - b_dh * b_r
            elif RESET == RESET_ZERO:
                b_dh = b_dh - b_dh * b_r  # the cell's output before the reset, h_t - h_t r_t
            tl.store(dthr_ptr + o, b_dthr, mask=m)
            b_i = tl.load(gates_ptr + o_gt, mask=m, other=0.0)
            b_f = tl.load(gates_ptr + o_gt + H, mask=m, other=0.0)
            b_g = tl.load(gates_ptr + o_gt + 2 * H, mask=m, other=0.0)
            b_o = tl.load(gates_ptr + o_gt + 3 * H, mask=m, other=0.0)
            b_tc = _tanh(tl.load(syn_ptr + o_t, mask=m, other=0.0))
            b_dc = step_or_zero(gc_ptr, o_t, m, b_zero, HAS_GC, False) + b_dh * b_o * (1.0 - b_tc * b_tc)
            # The cell state's carry from step t + 1: dc_{t+1} f_{t+1}.
            b_dc += tl.load(dc_ptr + ((t64 + 1) % 2) * N + o, mask=tl.where(later, m, False), other=0.0) * tl.load(
                gates_ptr + o_gt + 4 * N + H, mask=tl.where(later, m, False), other=0.0)
            b_c_prev = load_prev(syn_ptr, o_t, N, t, m, step_or_zero(syn0_ptr, o, m, b_zero, HAS_SYN0, False), False)
            tl.store(dc_ptr + (t64 % 2) * N + o, b_dc, mask=m)
            tl.store(dg_ptr + o_gt, b_dc * b_g * b_i * (1.0 - b_i), mask=m)
            tl.store(dg_ptr + o_gt + H, b_dc * b_c_prev * b_f * (1.0 - b_f), mask=m)
            tl.store(dg_ptr + o_gt + 2 * H, b_dc * b_i * (1.0 - b_g * b_g), mask=m)
            tl.store(dg_ptr + o_gt + 3 * H, b_dh * b_tc * b_o * (1.0 - b_o), mask=m)
