"""Drop-ins for `torch.nn.Linear` and `torch.nn.Conv2d` that save a binary (spike) input for the
backward at 1 bit per element.

A layer fed spikes normally keeps the whole spike tensor alive for its weight gradient: 4 bytes
per element in fp32, and over T steps the largest activation memory of an SNN. These layers check
their input: when every element is 0 or 1 they save it bit-packed (32x smaller than fp32) and
unpack it in the backward; any other input (graded spikes, a real-valued first layer) is saved as
it is. Parameters, state_dict and gradients are exactly `torch.nn`'s. On a GPU the check reads
back one flag per call (a device sync); the layers are meant for eager training, where the memory
matters (torch.compile runs them with a graph break).
"""
from __future__ import annotations

import torch
from torch import nn

from tritonsnn import _bits

__all__ = ["Conv2d", "Linear"]


def _save(ctx, x: torch.Tensor, weight: torch.Tensor) -> None:
    """Save the weight and, when the weight's gradient needs it, `x`: bit-packed when it is
    binary, as it is otherwise."""
    ctx.input_meta = (x.shape, x.dtype)
    packed = _bits.pack(x) if weight.requires_grad else None
    ctx.packed = packed is not None
    kept = packed if packed is not None else (x if weight.requires_grad else None)
    ctx.save_for_backward(weight, kept)


def _saved(ctx) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, x): x unpacked, or None when it was not needed."""
    weight, kept = ctx.saved_tensors
    if kept is None:
        return weight, None
    return weight, (_bits.unpack(kept, *ctx.input_meta) if ctx.packed else kept)


class _BitLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.has_bias = bias is not None
        _save(ctx, x, weight)
        return nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        weight, x = _saved(ctx)
        g2 = grad_out.reshape(-1, grad_out.shape[-1])
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (g2 @ weight).reshape(*grad_out.shape[:-1], weight.shape[1])
        if ctx.needs_input_grad[1]:
            grad_w = g2.t() @ x.reshape(-1, x.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b


class Linear(nn.Linear):
    """`torch.nn.Linear` (same arguments, parameters and state_dict) that saves a binary input
    at 1 bit per element for the backward.

    Example::

        >>> import torch, tritonsnn
        >>> fc = tritonsnn.nn.Linear(8, 4)
        >>> spikes = (torch.rand(25, 2, 8) > 0.5).float()
        >>> fc(spikes).sum().backward()
        >>> fc.weight.grad.shape
        torch.Size([4, 8])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return _BitLinear.apply(input, self.weight, self.bias)


class _BitConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.conv = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        _save(ctx, x, weight)
        return nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        stride, padding, dilation, groups = ctx.conv
        weight, x = _saved(ctx)
        needs = ctx.needs_input_grad
        if x is None:  # the input's gradient alone needs only the input's shape
            shape, dtype = ctx.input_meta
            x = grad_out.new_zeros((), dtype=dtype).expand(shape)
        # The kernel autograd itself runs for nn.Conv2d, so the gradients are the same numbers.
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_out, x, weight, [weight.shape[0]] if ctx.has_bias else None, stride, padding, dilation,
            False, [0, 0], groups, [needs[0], needs[1], ctx.has_bias and needs[2]])
        return grad_x, grad_w, grad_b, None, None, None, None


class Conv2d(nn.Conv2d):
    """`torch.nn.Conv2d` (same arguments, parameters and state_dict) that saves a binary input
    at 1 bit per element for the backward. Non-zero padding modes run `torch.nn.Conv2d` as is.

    Example::

        >>> import torch, tritonsnn
        >>> conv = tritonsnn.nn.Conv2d(2, 4, 3, padding=1)
        >>> spikes = (torch.rand(8, 2, 6, 6) > 0.5).float()
        >>> conv(spikes).sum().backward()
        >>> conv.weight.grad.shape
        torch.Size([4, 2, 3, 3])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super().forward(input)
        return _BitConv2d.apply(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                self.groups)
