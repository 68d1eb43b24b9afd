"""The fused ops as `torch.library` operators in the `tritonsnn` namespace.

`torch.ops.tritonsnn.leaky_fwd` / `leaky_bwd` are `triton_op`s: on the Triton path they launch the
kernels through `wrap_triton`, so `torch.compile` sees the kernels themselves; elsewhere they call
the vectorised torch implementation, registered as the opaque ops `leaky_fwd_torch` /
`leaky_bwd_torch` so that the compiler neither traces nor unrolls its time loop. The schemas hold
no Python objects: a surrogate travels as its kernel id and two float parameters.

Autograd is registered on `leaky_fwd` (`register_autograd`); its backward calls `leaky_bwd`,
which has no derivative of its own (double backward through a fused neuron is not supported).
"""
from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from torch import Tensor
from torch.library import triton_op

from tritonsnn import _leaky_torch, surrogate
from tritonsnn._leaky_triton import leaky_backward as _triton_leaky_backward
from tritonsnn._leaky_triton import leaky_forward as _triton_leaky_forward
from tritonsnn.backend import uses_triton
from tritonsnn.surrogate import spec_for_kernel_id


def _empty_like_seq(x: Tensor, present: bool) -> Tensor:
    return x.new_empty(x.shape if present else (0,))


@torch.library.custom_op("tritonsnn::leaky_fwd_torch", mutates_args=())
def leaky_fwd_torch(
    x: Tensor, mem0: Optional[Tensor], beta: Tensor, threshold: Tensor, gsf: Tensor,
    reset: int, reset_delay: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    if x.shape[0] == 0 or x[0].numel() == 0:
        return x.new_empty(x.shape), x.new_empty(x.shape), _empty_like_seq(x, not reset_delay)
    return _leaky_torch.leaky_forward(x, mem0, beta, threshold, gsf, reset, reset_delay)


@leaky_fwd_torch.register_fake
def _(x, mem0, beta, threshold, gsf, reset, reset_delay):
    return torch.empty_like(x), torch.empty_like(x), _empty_like_seq(x, not reset_delay)


def torch_surrogate_grad(sg_id: int, sg_seed: Optional[Tensor], device: torch.device):
    """The torch twin of kernel surrogate `sg_id` as grad_(x, g, *params); the stochastic one
    draws from a generator seeded with the forward's seed (same statistics as the kernel's
    Philox stream, not the same numbers)."""
    spec = spec_for_kernel_id(sg_id)
    if not spec.stochastic:
        return spec.grad_
    generator = torch.Generator(device).manual_seed(int(sg_seed.item()))
    return functools.partial(spec.grad_, generator=generator)


@torch.library.custom_op("tritonsnn::leaky_bwd_torch", mutates_args=())
def leaky_bwd_torch(
    grad_spk: Tensor, grad_mem: Optional[Tensor], mem: Tensor, h: Tensor, mem0: Optional[Tensor],
    beta: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool,
    sg_id: int, sg_p0: float, sg_p1: float, sg_seed: Optional[Tensor], param_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    n_params = len(spec_for_kernel_id(sg_id).params)
    dx, dmem0, dbeta, dthr, dgsf = _leaky_torch.leaky_backward(
        grad_spk, grad_mem, mem, h, mem0, beta, threshold, gsf, reset, reset_delay,
        torch_surrogate_grad(sg_id, sg_seed, mem.device), (sg_p0, sg_p1)[:n_params], param_grad,
    )
    return (dx, *(mem.new_empty(0) if g is None else g for g in (dmem0, dbeta, dthr, dgsf)))


@leaky_bwd_torch.register_fake
def _(grad_spk, grad_mem, mem, h, mem0, beta, threshold, gsf, reset, reset_delay, sg_id, sg_p0,
      sg_p1, sg_seed, param_grad):
    acc = torch.float64 if mem.dtype == torch.float64 else torch.float32
    per_neuron = [mem.new_empty(mem.shape[1:] if param_grad else (0,), dtype=acc) for _ in range(3)]
    return torch.empty_like(mem), mem.new_empty(0) if mem0 is None else torch.empty_like(mem0), *per_neuron


@triton_op("tritonsnn::leaky_fwd", mutates_args=())
def leaky_fwd(
    x: Tensor, mem0: Optional[Tensor], beta: Tensor, threshold: Tensor, gsf: Tensor,
    reset: int, reset_delay: bool, sg_id: int, sg_p0: float, sg_p1: float,
    sg_seed: Optional[Tensor], backend: str,
) -> tuple[Tensor, Tensor, Tensor]:
    """Leaky over `x: [T, *neurons]`. Returns (spikes, membrane U_1..U_T, pre-reset membrane when
    reset_delay=False else an empty tensor). The surrogate (id, parameters, and the random seed of
    a stochastic one) only matters to the backward; a NaN parameter stands for the module-level
    slope at backward time (`tritonsnn.surrogate.MODULE_SLOPE`)."""
    if uses_triton(x.device, backend):
        return _triton_leaky_forward(x, mem0, beta, threshold, gsf, reset, reset_delay)
    return torch.ops.tritonsnn.leaky_fwd_torch(x, mem0, beta, threshold, gsf, reset, reset_delay)


def to_param_shape(per_neuron: Tensor, param: Tensor) -> Tensor:
    """Sum per-neuron gradient partials down to the parameter's own (broadcast) shape; a plain
    tensor reduction, so the result is bitwise reproducible."""
    if param.numel() == 1:
        return per_neuron.sum().reshape(param.shape).to(param.dtype)
    return per_neuron.sum_to_size(param.shape).to(param.dtype)


@triton_op("tritonsnn::leaky_bwd", mutates_args=())
def leaky_bwd(
    grad_spk: Tensor, grad_mem: Optional[Tensor], mem: Tensor, h: Tensor, mem0: Optional[Tensor],
    beta: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool,
    sg_id: int, sg_p0: float, sg_p1: float, sg_seed: Optional[Tensor], param_grad: bool, backend: str,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Backward of `leaky_fwd` through time. Returns (dx, dmem0, dbeta, dthreshold, dgsf); dmem0 is
    empty without mem0, the parameter gradients (in each parameter's shape) are empty unless
    param_grad."""
    if mem.shape[0] == 0 or mem[0].numel() == 0:
        dmem0 = mem.new_empty(0) if mem0 is None else torch.zeros_like(mem0)
        params = [torch.zeros_like(p) if param_grad else mem.new_empty(0) for p in (beta, threshold, gsf)]
        return torch.zeros_like(mem), dmem0, *params
    if uses_triton(mem.device, backend):
        dx, dmem0, dbeta, dthr, dgsf = _triton_leaky_backward(
            grad_spk, grad_mem, mem, h, mem0, beta, threshold, gsf, reset, reset_delay,
            sg_id, sg_p0, sg_p1, sg_seed, param_grad,
        )
        dmem0 = mem.new_empty(0) if dmem0 is None else dmem0
    else:
        dx, dmem0, dbeta, dthr, dgsf = torch.ops.tritonsnn.leaky_bwd_torch(
            grad_spk, grad_mem, mem, h, mem0, beta, threshold, gsf, reset, reset_delay,
            sg_id, sg_p0, sg_p1, sg_seed, param_grad,
        )
    if not param_grad:
        return dx, dmem0, mem.new_empty(0), mem.new_empty(0), mem.new_empty(0)
    return (dx, dmem0, to_param_shape(dbeta, beta), to_param_shape(dthr, threshold),
            to_param_shape(dgsf, gsf))


def _leaky_setup_context(ctx, inputs, output) -> None:
    x, mem0, beta, threshold, gsf, reset, reset_delay, sg_id, sg_p0, sg_p1, sg_seed, backend = inputs
    _, mem, h = output
    # U (plus the pre-reset membrane when the reset is not delayed) is all the backward needs.
    ctx.save_for_backward(mem, h, mem0, beta, threshold, gsf, sg_seed)
    ctx.config = (reset, reset_delay, sg_id, sg_p0, sg_p1, backend)
    ctx.set_materialize_grads(False)


def _module_slope_if_nan(p: float) -> float:
    return float(surrogate.slope) if math.isnan(p) else p


def _leaky_backward(ctx, grad_spk, grad_mem, grad_h):
    mem, h, mem0, beta, threshold, gsf, sg_seed = ctx.saved_tensors
    reset, reset_delay, sg_id, sg_p0, sg_p1, backend = ctx.config
    needs = ctx.needs_input_grad
    if grad_spk is None and grad_mem is None:
        return (None,) * 12
    if grad_spk is None:
        grad_spk = torch.zeros_like(mem)
    param_grad = bool(needs[2] or needs[3] or needs[4])
    dx, dmem0, dbeta, dthr, dgsf = torch.ops.tritonsnn.leaky_bwd(
        grad_spk, grad_mem, mem, h, mem0, beta, threshold, gsf, reset, reset_delay,
        sg_id, _module_slope_if_nan(sg_p0), _module_slope_if_nan(sg_p1), sg_seed, param_grad, backend,
    )
    return (
        dx if needs[0] else None,
        dmem0 if mem0 is not None and needs[1] else None,
        dbeta if needs[2] else None,
        dthr if needs[3] else None,
        dgsf if needs[4] else None,
        None, None, None, None, None, None, None,
    )


leaky_fwd.register_autograd(_leaky_backward, setup_context=_leaky_setup_context)
