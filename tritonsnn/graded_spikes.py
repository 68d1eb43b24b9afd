"""Learnable spike magnitudes, as snnTorch 1.0.0's `GradedSpikes`.

A binary spike says only that a neuron fired; multiplying it by a learnable per-neuron factor lets
each neuron send a spike of its own (graded) size. The layer holds one factor per neuron in a
parameter `weights` of shape `[size, 1]` and multiplies its input by it, broadcasting as torch
does: the neurons are the input's second-to-last dimension (`[size, 1]`, `[size, steps]`,
`[batch, size, steps]`, ...). A plain torch module: nothing is fused, the gradients are autograd's
of the product.
"""
from __future__ import annotations

import torch
from torch import nn

from tritonsnn._checks import positive_int

__all__ = ["GradedSpikes"]


class GradedSpikes(nn.Module):
    """Multiply spikes by a learnable magnitude per neuron.

    Args:
        size: number of neurons (those of the layer that feeds this one), a positive integer.
        constant_factor: the initial magnitude of every neuron. When it is falsy (None, 0,
            False) the magnitudes are drawn uniformly from [0.5, 1.5) instead: one
            `torch.rand(size, 1)` draw from torch's global generator plus 0.5, so
            `torch.manual_seed` gives the same weights as snnTorch. A tensor must hold one element.

    Attributes:
        weights: the magnitudes, an `nn.Parameter` of shape `[size, 1]` in the default dtype.
        size: the number of neurons.

    Raises:
        TypeError / ValueError: `size` is not a positive integer, or `constant_factor` is a
            tensor of more than one element.

    Example::

        >>> import torch
        >>> from tritonsnn.graded_spikes import GradedSpikes
        >>> layer = GradedSpikes(size=3, constant_factor=2.0)
        >>> spk = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # [neurons, steps]
        >>> layer(spk)
        tensor([[2., 0.],
                [0., 2.],
                [2., 2.]], grad_fn=<MulBackward0>)
        >>> _ = torch.manual_seed(0)
        >>> GradedSpikes(size=2, constant_factor=None).weights
        Parameter containing:
        tensor([[0.9963],
                [1.2682]], requires_grad=True)
    """

    def __init__(self, size, constant_factor):
        super().__init__()
        self.size = positive_int(size, "size")
        if isinstance(constant_factor, torch.Tensor) and constant_factor.numel() != 1:
            raise ValueError(f"constant_factor must be a number or a one-element tensor, "
                             f"got a tensor of shape {tuple(constant_factor.shape)}")
        if constant_factor:
            initial = torch.ones(self.size, 1) * constant_factor
        else:  # falsy (None, 0, 0.0, False): random magnitudes, as snnTorch draws them
            initial = torch.rand(self.size, 1) + 0.5
        self.weights = nn.Parameter(initial)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x * weights`, broadcast: scales dimension -2 of `x` (the neurons) per neuron."""
        return torch.mul(x, self.weights)

    def extra_repr(self) -> str:
        return f"size={self.size}"

