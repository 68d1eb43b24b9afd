"""Surrogate gradients dS/dx as Triton device functions, x = U - threshold.

Each function takes the block `x` and its two scalar parameters `(x, p0, p1)` and returns the
derivative only; the fused backward kernels multiply it by the incoming gradient. The registry
(`tritonsnn/surrogate/`) pairs each with its torch twin under the same snnTorch (or SpikingJelly)
name, and `tests/test_surrogate.py` ties the two together through `surrogate_grad_kernel`.

A kernel receives its surrogate's function as the constexpr `SG_FN` and inlines it through
`surrogate_grad`, the built-in ones exactly as those registered at run time
(`tritonsnn.surrogate.register`): each backward kernel specialises to one surrogate with no branch
in its loop. The parameters arrive at run time through a two-element fp64 tensor
(`surrogate_params`), so a new slope recompiles nothing, neither the kernel nor a torch.compile
graph. The stochastic surrogate (`STOCHASTIC`) takes a fourth argument, uniform noise.
"""
import triton
import triton.language as tl


@triton.jit
def atan_grad(x, alpha, p1):
    b_t = 1.5707963267948966 * alpha * x
    return 0.5 * alpha / (1.0 + b_t * b_t)


@triton.jit
def fast_sigmoid_grad(x, slope, p1):
    b_d = slope * tl.abs(x) + 1.0
    return 1.0 / (b_d * b_d)


@triton.jit
def sigmoid_grad(x, slope, p1):
    # k*s*(1-s) with s = sigmoid(k*x), written through e = exp(-k|x|) <= 1: it is symmetric in x,
    # and e never overflows, so the result is never inf/inf = NaN (snnTorch's form is).
    b_e = tl.exp(-slope * tl.abs(x))
    b_d = 1.0 + b_e
    return slope * b_e / (b_d * b_d)


@triton.jit
def heaviside_grad(x, p0, p1):
    return tl.where(x > 0, 1.0, 0.0).to(x.dtype)


@triton.jit
def straight_through_grad(x, p0, p1):
    return tl.full(x.shape, 1.0, x.dtype)


@triton.jit
def triangular_grad(x, threshold, p1):
    # snnTorch 1.0.0's Triangular returns +threshold below zero and -threshold at and above it.
    return tl.where(x >= 0, -threshold, threshold).to(x.dtype)


@triton.jit
def spike_rate_escape_grad(x, beta, slope):
    return slope * tl.exp(-beta * tl.abs(x - 1.0))


@triton.jit
def stochastic_spike_operator_grad(x, mean, variance, u):
    # 1 where the neuron fired, else uniform noise (u - 0.5 + mean) * variance, u ~ U[0, 1).
    return tl.where(x > 0, 1.0, (u - 0.5 + mean) * variance).to(x.dtype)


@triton.jit
def leaky_spike_operator_grad(x, slope, p1):
    return tl.where(x > 0, 1.0, slope).to(x.dtype)


@triton.jit
def sparse_fast_sigmoid_grad(x, slope, b):
    b_d = slope * tl.abs(x) + 1.0
    return tl.where(x > b, 1.0 / (b_d * b_d), 0.0)


@triton.jit
def piecewise_quadratic_grad(x, alpha, p1):
    b_abs = tl.abs(x)
    return tl.where(b_abs > 1.0 / alpha, 0.0, alpha - alpha * alpha * b_abs)


@triton.jit
def piecewise_exp_grad(x, alpha, p1):
    return 0.5 * alpha * tl.exp(-alpha * tl.abs(x))


@triton.jit
def soft_sign_grad(x, alpha, p1):
    b_d = 1.0 / alpha + tl.abs(x)
    return 1.0 / (2.0 * alpha * b_d * b_d)


@triton.jit
def super_spike_grad(x, alpha, p1):
    b_d = tl.abs(x) + 1.0
    return alpha / (b_d * b_d)


@triton.jit
def erf_grad(x, alpha, p1):
    b_t = alpha * x
    return 0.5641895835477563 * alpha * tl.exp(-b_t * b_t)  # alpha / sqrt(pi) e^{-(alpha x)^2}


@triton.jit
def old_heaviside_grad(x, p0, p1):
    # snnTorch 0.x's LIF.Heaviside: the gradient passes where x >= 0 (the forward fires on x > 0).
    return tl.where(x >= 0, 1.0, 0.0).to(x.dtype)


@triton.jit
def disabled_grad(x, p0, p1):
    return tl.zeros_like(x)


@triton.jit
def surrogate_grad(x, p0, p1, seed, offsets, SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr):
    """dS/dx of the surrogate `SG_FN` at x. For a stochastic one, `seed` and the int64 `offsets`
    (unique per neuron and step) drive the counter-based RNG of its noise; others ignore them."""
    if STOCHASTIC:
        b_g = SG_FN(x, p0, p1, tl.rand(seed, offsets))
    else:
        b_g = SG_FN(x, p0, p1)
    return b_g


@triton.jit
def surrogate_params(sg_ptr, FP64: tl.constexpr):
    """The surrogate's two parameters from `sg_ptr` (fp64), in the accumulation dtype."""
    b_p0 = tl.load(sg_ptr)
    b_p1 = tl.load(sg_ptr + 1)
    if not FP64:
        b_p0 = b_p0.to(tl.float32)
        b_p1 = b_p1.to(tl.float32)
    return b_p0, b_p1


@triton.jit
def surrogate_seed(seed_ptr, STOCHASTIC: tl.constexpr):
    """The random seed a backward kernel passes to `surrogate_grad`: for a stochastic surrogate
    the one drawn at forward time (a one-element tensor), 0 (unused) for every other."""
    if STOCHASTIC:
        b_seed = tl.load(seed_ptr)
    else:
        b_seed = 0
    return b_seed


@triton.jit
def surrogate_grad_kernel(x_ptr, out_ptr, sg_ptr, seed_ptr, n, SG_FN: tl.constexpr, STOCHASTIC: tl.constexpr,
                          BLOCK: tl.constexpr):
    """out = dS/dx(x) elementwise: exposes `surrogate_grad` on its own, for tests and tools."""
    o_n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_n = o_n < n
    b_x = tl.load(x_ptr + o_n, mask=m_n, other=0.0)
    if b_x.dtype != tl.float64:
        b_x = b_x.to(tl.float32)
    p0, p1 = surrogate_params(sg_ptr, b_x.dtype == tl.float64)
    b_seed = surrogate_seed(seed_ptr, STOCHASTIC)
    b_g = surrogate_grad(b_x, p0, p1, b_seed, o_n, SG_FN, STOCHASTIC)
    tl.store(out_ptr + o_n, b_g.to(out_ptr.dtype.element_ty), mask=m_n)
