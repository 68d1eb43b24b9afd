"""What every kernel family's `torch.library` registration shares: fakes of optional and
per-neuron outputs, the surrogate's torch twin and parameters as the torch paths take them, the
reduction of per-neuron gradient partials to a parameter's shape, and the refusal of double
backward."""
from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from torch import Tensor

from tritonsnn._dtypes import acc_dtype
from tritonsnn.surrogate import spec_for_kernel_id


def fake_per_neuron(grad: Tensor, present: bool) -> Tensor:
    """Fake of a per-neuron gradient sum (accumulation dtype of the incoming gradient `[T, ...]`),
    or an empty tensor (in the gradient's dtype)."""
    if not present:
        return grad.new_empty(0)
    return grad.new_empty(grad.shape[1:], dtype=acc_dtype(grad.dtype))


def fake_like(mem: Tensor, t: Optional[Tensor]) -> Tensor:
    """Fake of the gradient of an optional input: shaped like it, or empty when it is absent."""
    return mem.new_empty(0) if t is None else torch.empty_like(t)


def surrogate_floats(sg_id: int, sg_params: Tensor, module_slope: float) -> tuple[float, ...]:
    """The surrogate's parameters as floats for the torch path; NaN is the module-level slope."""
    n = len(spec_for_kernel_id(sg_id).params)
    return tuple(module_slope if math.isnan(p) else p for p in sg_params.tolist()[:n])


def torch_surrogate_grad(sg_id: int, sg_seed: Optional[Tensor], device: torch.device):
    """The torch twin of kernel surrogate `sg_id` as grad_(x, g, *params); the stochastic one
    draws from a generator seeded with the forward's seed (same statistics as the kernel's
    Philox stream, not the same numbers)."""
    spec = spec_for_kernel_id(sg_id)
    if not spec.stochastic:
        return spec.grad_
    generator = torch.Generator(device).manual_seed(int(sg_seed.item()))
    return functools.partial(spec.grad_, generator=generator)


def to_param_shape(per_neuron: Tensor, param: Tensor) -> Tensor:
    """Sum per-neuron gradient partials down to the parameter's own (broadcast) shape; a plain
    tensor reduction, so the result is bitwise reproducible."""
    if param.numel() == 1:
        return per_neuron.sum().reshape(param.shape).to(param.dtype)
    return per_neuron.sum_to_size(param.shape).to(param.dtype)


def no_double_backward(ctx, *grads):
    raise RuntimeError(
        "double backward (a gradient of a gradient, e.g. after autograd.grad(..., create_graph=True)) "
        "through a tritonsnn fused neuron is not supported: the backward kernels have no derivative "
        "of their own. tritonsnn.reference's naive neurons support it.")


def no_context(ctx, inputs, output) -> None:
    pass


def surrogate_seed(surrogate, x: Tensor) -> Optional[Tensor]:
    """A stochastic surrogate's noise comes from a seed drawn now, from torch's generator (so
    torch.manual_seed reproduces it); None for every other surrogate."""
    return torch.randint(0, 2**31 - 1, (1,), device=x.device) if surrogate.spec.stochastic else None
