"""The torch twins of the Triton surrogate gradients in `tritonsnn/kernels/surrogates.py`, one per
registry name. Each returns g * dS/dx (dS/dx itself when g is None), plus the tensor `plus` where
one is given (a backward's other term of dL/dU), computed in place in `x`, which must be a
scratch tensor the caller owns: the CPU path runs them over a whole [T, ...] sequence, where every
avoided temporary is a pass over memory saved, and a gradient that ends in a division takes
`plus` in the same pass (addcdiv: g / x + plus, bitwise the division and the addition apart).
`plus` is keyword-only, after the surrogate's own parameters."""
from __future__ import annotations

import math

import torch


def times_g(d: torch.Tensor, g: torch.Tensor | None, plus: torch.Tensor | None = None) -> torch.Tensor:
    """g * d in d (d itself where g is None), plus `plus` where given."""
    if g is not None:
        d.mul_(g)
    return d if plus is None else d.add_(plus)


def g_over(x: torch.Tensor, g: torch.Tensor | None, plus: torch.Tensor | None = None) -> torch.Tensor:
    """g / x in x (1 / x where g is None), plus `plus` where given."""
    if g is None:
        return times_g(x.reciprocal_(), None, plus)
    return torch.div(g, x, out=x) if plus is None else torch.addcdiv(plus, g, x, out=x)


def atan_grad_(x, g, alpha=2.0, *, plus=None):
    """g * (alpha/2) / (1 + (pi/2 * alpha * x)^2), as g / ((2/alpha) (1 + (pi/2 alpha x)^2))."""
    c = math.pi / 2 * alpha
    torch.addcmul(x.new_full((), 2.0 / alpha), x, x, value=2.0 / alpha * c * c, out=x)
    return g_over(x, g, plus)


def fast_sigmoid_grad_(x, g, slope=25.0, *, plus=None):
    """g / (slope * |x| + 1)^2"""
    x.abs_().mul_(slope).add_(1.0).square_()
    return g_over(x, g, plus)


def sigmoid_grad_(x, g, slope=25.0, *, plus=None):
    """g * slope * s * (1 - s), s = sigmoid(slope * x), computed as slope * e / (1 + e)^2 with
    e = exp(-slope * |x|) <= 1, so it never overflows into inf/inf = NaN."""
    e = x.abs_().mul_(-slope).exp_()
    denominator = (e + 1.0).square_()
    return times_g(e.div_(denominator).mul_(slope), g, plus)


def heaviside_grad_(x, g, *, plus=None):
    """g * H(x): the gradient passes where the neuron fired."""
    return times_g(torch.gt(x, 0, out=x), g, plus)


def straight_through_grad_(x, g, *, plus=None):
    """g: the gradient passes unchanged."""
    return times_g(x.fill_(1.0) if g is None else x.copy_(g), None, plus)


def triangular_grad_(x, g, threshold=1.0, *, plus=None):
    """g * (+threshold where x < 0, -threshold where x >= 0): snnTorch 1.0.0's actual backward."""
    return times_g(torch.ge(x, 0, out=x).mul_(-2.0 * threshold).add_(threshold), g, plus)


def spike_rate_escape_grad_(x, g, beta=1.0, slope=25.0, *, plus=None):
    """g * slope * exp(-beta * |x - 1|)"""
    return times_g(x.sub_(1.0).abs_().mul_(-beta).exp_().mul_(slope), g, plus)


def stochastic_spike_operator_grad_(x, g, mean=0.0, variance=0.2, generator=None, *, plus=None):
    """g where the neuron fired, else g * (u - 0.5 + mean) * variance with fresh u ~ U[0, 1):
    from torch's global generator, or from `generator` (the fused CPU path seeds one per forward)."""
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    noise = u.sub_(0.5 - mean).mul_(variance)
    return times_g(noise.masked_fill_(x > 0, 1.0), g, plus)


def leaky_spike_operator_grad_(x, g, slope=0.1, *, plus=None):
    """g where the neuron fired, slope * g elsewhere (a threshold-shifted leaky ReLU's gradient)."""
    return times_g(torch.gt(x, 0, out=x).mul_(1.0 - slope).add_(slope), g, plus)


def sparse_fast_sigmoid_grad_(x, g, slope=25.0, B=1.0, *, plus=None):
    """g / (slope * |x| + 1)^2 where x > B, else 0."""
    above = x > B
    return times_g(fast_sigmoid_grad_(x, None, slope).mul_(above), g, plus)


def piecewise_quadratic_grad_(x, g, alpha=1.0, *, plus=None):
    """g * (alpha - alpha^2 |x|) where |x| <= 1/alpha, else 0 (SpikingJelly)."""
    x.abs_()
    outside = x > 1.0 / alpha
    return times_g(x.mul_(-alpha * alpha).add_(alpha).masked_fill_(outside, 0.0), g, plus)


def piecewise_exp_grad_(x, g, alpha=1.0, *, plus=None):
    """g * (alpha/2) exp(-alpha |x|) (SpikingJelly)."""
    return times_g(x.abs_().mul_(-alpha).exp_().mul_(alpha / 2), g, plus)


def soft_sign_grad_(x, g, alpha=2.0, *, plus=None):
    """g / (2 alpha (1/alpha + |x|)^2) (SpikingJelly)."""
    x.abs_().add_(1.0 / alpha).square_().mul_(2.0 * alpha)
    return g_over(x, g, plus)


def super_spike_grad_(x, g, alpha=1.0, *, plus=None):
    """g * alpha / (|x| + 1)^2 (SpikingJelly)."""
    x.abs_().add_(1.0).square_()
    return times_g(g_over(x, g).mul_(alpha), None, plus)


def erf_grad_(x, g, alpha=2.0, *, plus=None):
    """g * (alpha / sqrt(pi)) exp(-(alpha x)^2) (SpikingJelly)."""
    return times_g(x.square_().mul_(-alpha * alpha).exp_().mul_(alpha / math.sqrt(math.pi)), g, plus)


def old_heaviside_grad_(x, g, *, plus=None):
    """g where x >= 0: snnTorch 0.x's LIF.Heaviside (the forward still fires on x > 0)."""
    return times_g(torch.ge(x, 0, out=x), g, plus)


def disabled_grad_(x, g, *, plus=None):
    """0: no gradient through the spike (a neuron built with surrogate_disable=True)."""
    return times_g(x.zero_(), None, plus)
