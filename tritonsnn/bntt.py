"""Batch Normalisation Through Time (BNTT; Kim & Panda, arXiv:2010.01729), as in snnTorch 1.0.0.

BNTT gives every time step of a spiking network its own batch-norm statistics and its own scale:
step t normalises its input with the batch's mean and variance at that step (running averages of
them in eval mode) and multiplies by a learnable per-feature gamma_t. There is no shift: the
layers have no bias, so normalisation cannot add a constant drive towards (or away from) the
threshold.

`BatchNormTT1d` and `BatchNormTT2d` return what snnTorch's functions of the same name return: a
plain `torch.nn.ModuleList` of `time_steps` `torch.nn.BatchNorm1d` / `BatchNorm2d` layers whose
bias is unregistered (`bn[t].bias is None`; `bn[t].affine` stays True and `bn[t].weight` is the
learnable gamma_t). Index it by the step, `bn[t](x_t)`. Nothing is fused: these are torch's own
layers, so their numbers, state_dict (`"{t}.weight"`, `"{t}.running_mean"`, `"{t}.running_var"`,
`"{t}.num_batches_tracked"`) and pickles are torch's, and checkpoints load both ways with snnTorch.
"""
from __future__ import annotations

from torch import nn

from tritonsnn._checks import positive_int

__all__ = ["BatchNormTT1d", "BatchNormTT2d"]


def _through_time(norm: type[nn.Module], input_features, time_steps, eps, momentum, affine) -> nn.ModuleList:
    """One `norm` layer per step, each without its bias (unregistered, so absent from the state_dict)."""
    features = positive_int(input_features, "input_features")
    steps = positive_int(time_steps, "time_steps")
    layers = nn.ModuleList()
    for _ in range(steps):
        layer = norm(features, eps=eps, momentum=momentum, affine=affine)
        layer.register_parameter("bias", None)  # gamma only: the shift is not learned, nor stored
        layers.append(layer)
    return layers


def BatchNormTT1d(input_features, time_steps, eps=1e-5, momentum=0.1, affine=True) -> nn.ModuleList:
    """Batch norm through time for `[batch, features]` or `[batch, features, length]` inputs.

    Args:
        input_features: number of features (channels) of each step's input, a positive integer.
        time_steps: number of time steps, one `torch.nn.BatchNorm1d` each, a positive integer.
        eps: added to the variance before the square root, as in `torch.nn.BatchNorm1d`.
        momentum: weight of the newest batch in the running mean and variance (None: a plain
            cumulative average), as in `torch.nn.BatchNorm1d`.
        affine: True gives every step a learnable scale `bn[t].weight` (initialised to ones);
            there is never a learnable shift.

    Returns:
        A `torch.nn.ModuleList` of `time_steps` `torch.nn.BatchNorm1d` layers with `bias=None`;
        step t's input goes through `bn[t]`.

    Raises:
        TypeError / ValueError: `input_features` or `time_steps` is not a positive integer
            (snnTorch returns an empty list for `time_steps <= 0`).

    Example::

        >>> import torch
        >>> from tritonsnn.bntt import BatchNormTT1d
        >>> bn = BatchNormTT1d(3, time_steps=2)
        >>> len(bn), type(bn[0]).__name__, bn[0].bias
        (2, 'BatchNorm1d', None)
        >>> sorted(bn.state_dict())[:4]
        ['0.num_batches_tracked', '0.running_mean', '0.running_var', '0.weight']
        >>> x = torch.tensor([[0.0, 1.0, 2.0], [2.0, 3.0, 6.0]])  # one step: [batch, features]
        >>> bn[0](x)
        tensor([[-1.0000, -1.0000, -1.0000],
                [ 1.0000,  1.0000,  1.0000]], grad_fn=<NativeBatchNormBackward0>)
        >>> bn[0].running_mean
        tensor([0.1000, 0.2000, 0.4000])
    """
    return _through_time(nn.BatchNorm1d, input_features, time_steps, eps, momentum, affine)


def BatchNormTT2d(input_features, time_steps, eps=1e-5, momentum=0.1, affine=True) -> nn.ModuleList:
    """Batch norm through time for `[batch, channels, height, width]` inputs: as
    :func:`BatchNormTT1d` (the same arguments, errors and learnable per-channel scale, never a
    shift), with one `torch.nn.BatchNorm2d` per step.

    Example::

        >>> import torch
        >>> from tritonsnn.bntt import BatchNormTT2d
        >>> bn = BatchNormTT2d(2, time_steps=4)
        >>> x = torch.rand(4, 8, 2, 5, 5)  # [T, batch, channels, height, width]
        >>> out = torch.stack([bn[t](x_t) for t, x_t in enumerate(x)])
        >>> out.shape, [name for name, _ in bn[3].named_parameters()]
        (torch.Size([4, 8, 2, 5, 5]), ['weight'])
    """
    return _through_time(nn.BatchNorm2d, input_features, time_steps, eps, momentum, affine)
