"""Surrogate gradients dS/dx as Triton device functions, x = U - threshold.

Each function takes the block `x` and two scalar parameters (unused ones are ignored) and returns
the derivative only; the fused backward kernels multiply it by the incoming gradient. The torch twin
of every function lives in `tritonsnn/surrogate.py` under the same snnTorch name, and
`tests/test_surrogate.py` ties the two together through `surrogate_grad_kernel`.

`surrogate_grad` dispatches on a constexpr id, so each backward kernel specialises to exactly one
surrogate while the parameters stay runtime scalars (a new slope does not recompile anything).
"""
import triton
import triton.language as tl

# Kernel id of each surrogate; 0 is "no gradient" (a neuron built with surrogate_disable=True).
SURROGATE_IDS = {
    "Disabled": 0,
    "ATan": 1,
    "FastSigmoid": 2,
    "Sigmoid": 3,
    "Heaviside": 4,
    "StraightThroughEstimator": 5,
    "Triangular": 6,
}


@triton.jit
def disabled_grad(x, p0, p1):
    return tl.zeros_like(x)


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
def surrogate_grad(x, p0, p1, SURROGATE: tl.constexpr):
    tl.static_assert(SURROGATE >= 0 and SURROGATE <= 6, "unknown surrogate id")
    if SURROGATE == 1:
        b_g = atan_grad(x, p0, p1)
    elif SURROGATE == 2:
        b_g = fast_sigmoid_grad(x, p0, p1)
    elif SURROGATE == 3:
        b_g = sigmoid_grad(x, p0, p1)
    elif SURROGATE == 4:
        b_g = heaviside_grad(x, p0, p1)
    elif SURROGATE == 5:
        b_g = straight_through_grad(x, p0, p1)
    elif SURROGATE == 6:
        b_g = triangular_grad(x, p0, p1)
    else:
        b_g = disabled_grad(x, p0, p1)
    return b_g


@triton.jit
def surrogate_grad_kernel(x_ptr, out_ptr, n, p0, p1, SURROGATE: tl.constexpr, BLOCK: tl.constexpr):
    """out = dS/dx(x) elementwise: exposes `surrogate_grad` on its own, for tests and tools."""
    o_n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_n = o_n < n
    b_x = tl.load(x_ptr + o_n, mask=m_n, other=0.0)
    if b_x.dtype != tl.float64:
        b_x = b_x.to(tl.float32)
    b_g = surrogate_grad(b_x, p0, p1, SURROGATE)
    tl.store(out_ptr + o_n, b_g.to(out_ptr.dtype.element_ty), mask=m_n)
