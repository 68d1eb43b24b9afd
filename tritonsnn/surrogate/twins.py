"""The torch twins of the Triton surrogate gradients in `tritonsnn/kernels/surrogates.py`, one per
registry name. Each returns g * dS/dx (dS/dx itself when g is None), computed in place in `x`,
which must be a scratch tensor the caller owns: the CPU path runs them over a whole [T, ...]
sequence, where every avoided temporary is a pass over memory saved."""
from __future__ import annotations

import math

import torch


def times_g(d: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    return d if g is None else d.mul_(g)


def atan_grad_(x, g, alpha=2.0):
    """g * (alpha/2) / (1 + (pi/2 * alpha * x)^2), as g / ((2/alpha) (1 + (pi/2 alpha x)^2))."""
    c = math.pi / 2 * alpha
    torch.addcmul(x.new_full((), 2.0 / alpha), x, x, value=2.0 / alpha * c * c, out=x)
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def fast_sigmoid_grad_(x, g, slope=25.0):
    """g / (slope * |x| + 1)^2"""
    x.abs_().mul_(slope).add_(1.0).square_()
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def sigmoid_grad_(x, g, slope=25.0):
    """g * slope * s * (1 - s), s = sigmoid(slope * x), computed as slope * e / (1 + e)^2 with
    e = exp(-slope * |x|) <= 1, so it never overflows into inf/inf = NaN."""
    e = x.abs_().mul_(-slope).exp_()
    denominator = (e + 1.0).square_()
    return times_g(e.div_(denominator).mul_(slope), g)


def heaviside_grad_(x, g):
    """g * H(x): the gradient passes where the neuron fired."""
    return times_g(torch.gt(x, 0, out=x), g)


def straight_through_grad_(x, g):
    """g: the gradient passes unchanged."""
    return x.fill_(1.0) if g is None else x.copy_(g)


def triangular_grad_(x, g, threshold=1.0):
    """g * (+threshold where x < 0, -threshold where x >= 0): snnTorch 1.0.0's actual backward."""
    return times_g(torch.ge(x, 0, out=x).mul_(-2.0 * threshold).add_(threshold), g)


def spike_rate_escape_grad_(x, g, beta=1.0, slope=25.0):
    """g * slope * exp(-beta * |x - 1|)"""
    return times_g(x.sub_(1.0).abs_().mul_(-beta).exp_().mul_(slope), g)


def stochastic_spike_operator_grad_(x, g, mean=0.0, variance=0.2, generator=None):
    """g where the neuron fired, else g * (u - 0.5 + mean) * variance with fresh u ~ U[0, 1):
    from torch's global generator, or from `generator` (the fused CPU path seeds one per forward)."""
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    noise = u.sub_(0.5 - mean).mul_(variance)
    return times_g(noise.masked_fill_(x > 0, 1.0), g)


def leaky_spike_operator_grad_(x, g, slope=0.1):
    """g where the neuron fired, slope * g elsewhere (a threshold-shifted leaky ReLU's gradient)."""
    return times_g(torch.gt(x, 0, out=x).mul_(1.0 - slope).add_(slope), g)


def sparse_fast_sigmoid_grad_(x, g, slope=25.0, B=1.0):
    """g / (slope * |x| + 1)^2 where x > B, else 0."""
    above = x > B
    return times_g(fast_sigmoid_grad_(x, None, slope).mul_(above), g)


def piecewise_quadratic_grad_(x, g, alpha=1.0):
    """g * (alpha - alpha^2 |x|) where |x| <= 1/alpha, else 0 (SpikingJelly)."""
    x.abs_()
    outside = x > 1.0 / alpha
    return times_g(x.mul_(-alpha * alpha).add_(alpha).masked_fill_(outside, 0.0), g)


def piecewise_exp_grad_(x, g, alpha=1.0):
    """g * (alpha/2) exp(-alpha |x|) (SpikingJelly)."""
    return times_g(x.abs_().mul_(-alpha).exp_().mul_(alpha / 2), g)


def soft_sign_grad_(x, g, alpha=2.0):
    """g / (2 alpha (1/alpha + |x|)^2) (SpikingJelly)."""
    x.abs_().add_(1.0 / alpha).square_().mul_(2.0 * alpha)
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def super_spike_grad_(x, g, alpha=1.0):
    """g * alpha / (|x| + 1)^2 (SpikingJelly)."""
    x.abs_().add_(1.0).square_()
    return (x.reciprocal_() if g is None else torch.div(g, x, out=x)).mul_(alpha)


def erf_grad_(x, g, alpha=2.0):
    """g * (alpha / sqrt(pi)) exp(-(alpha x)^2) (SpikingJelly)."""
    return times_g(x.square_().mul_(-alpha * alpha).exp_().mul_(alpha / math.sqrt(math.pi)), g)


def old_heaviside_grad_(x, g):
    """g where x >= 0: snnTorch 0.x's LIF.Heaviside (the forward still fires on x > 0)."""
    return times_g(torch.ge(x, 0, out=x), g)


def disabled_grad_(x, g):
    """0: no gradient through the spike (a neuron built with surrogate_disable=True)."""
    return x.zero_()
