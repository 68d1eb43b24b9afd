"""snnTorch's contract for a surrogate gradient written in Python, `fn(input_, grad_input, out)`:
the per-step autograd Function and the torch twin the unfused backward uses, each checking what
`fn` returns."""
from __future__ import annotations

from typing import Callable

import torch


class CustomSurrogate(torch.autograd.Function):
    """snnTorch's contract for a gradient written in Python: forward H(x); backward
    ``fn(input_, grad_input, out)`` with `out` the forward's spikes.

    Example::

        >>> x = torch.tensor([-0.5, 0.5], requires_grad=True)
        >>> CustomSurrogate.apply(x, lambda input_, grad_input, out: 2 * grad_input).sum().backward()
        >>> x.grad
        tensor([2., 2.])
    """

    @staticmethod
    def forward(input_: torch.Tensor, fn) -> torch.Tensor:
        return (input_ > 0).to(input_.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        input_, fn = inputs
        ctx.save_for_backward(input_, output)
        ctx.fn = fn

    @staticmethod
    def backward(ctx, grad_output):
        input_, out = ctx.saved_tensors
        return checked_result(ctx.fn, ctx.fn(input_, grad_output.clone(), out), input_), None


def checked_result(fn: Callable, grad: object, input_: torch.Tensor) -> torch.Tensor:
    """A custom surrogate's gradient, checked against snnTorch's contract before anything uses
    it: a wrong result would otherwise fail far away (or broadcast into wrong numbers)."""
    contract = (f"custom_surrogate({getattr(fn, '__name__', fn)!s}): fn(input_, grad_input, out) must "
                f"return a floating-point tensor of input_'s shape {tuple(input_.shape)}")
    if not isinstance(grad, torch.Tensor):
        raise TypeError(f"{contract}, got {'None' if grad is None else type(grad).__name__}")
    if not grad.is_floating_point():
        raise TypeError(f"{contract}, got a tensor of dtype {grad.dtype}")
    if grad.shape != input_.shape:
        raise ValueError(f"{contract}, got a tensor of shape {tuple(grad.shape)}")
    return grad


def custom_grad(fn: Callable) -> Callable:
    """snnTorch's fn(input_, grad_input, out) as a twin: (x, g) -> g * dS/dx, plus `plus` where
    given (out of place: fn's result may be a tensor it holds)."""

    def grad_(x, g, *, plus=None):
        out = (x > 0).to(x.dtype)
        grad_input = torch.ones_like(x) if g is None else g.expand_as(x).clone()
        result = checked_result(fn, fn(x, grad_input, out), x)
        return result if plus is None else result + plus

    return grad_
