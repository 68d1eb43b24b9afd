"""The LIF family's fused ops as `torch.library` operators in the `tritonsnn` namespace.

`torch.ops.tritonsnn.lif_fwd` / `lif_bwd` run the first-order LIF family (Leaky, Synaptic,
Lapicque). They are `triton_op`s: on the Triton path they launch the kernels through
`wrap_triton`, so `torch.compile` sees the kernels themselves; elsewhere they call the vectorised
torch implementation, registered as the opaque ops `lif_fwd_torch` / `lif_bwd_torch` so that the
compiler neither traces nor unrolls its time loop. The schemas hold no Python objects: a surrogate
travels as its kernel id and a two-element fp64 tensor of parameters (plus a seed tensor for the
stochastic one). Parameters in a tensor, not floats, keep torch.compile from specialising a
graph on each slope value.

Autograd is registered on `lif_fwd` (`register_autograd`); its backward calls `lif_bwd`, whose
own derivative is a clear error (double backward through a fused neuron is not supported).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch.library import triton_op

from tritonsnn._registration import (Inputs, fake_like, fake_per_neuron, no_context, no_double_backward,
                                     surrogate_floats, to_param_shape, torch_surrogate_grad, with_module_slope)
from tritonsnn.backend import uses_triton
from tritonsnn.kernels.lif import torch_path

Out4 = tuple[Tensor, Tensor, Tensor, Tensor]
Out7 = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


def _fwd_outputs_like(x: Tensor, reset_delay: bool, synaptic: bool, spike_dtype: torch.dtype,
                      save_dtype: torch.dtype) -> Out4:
    def seq_or_empty(present: bool) -> Tensor:
        return x.new_empty(x.shape if present else (0,), dtype=save_dtype)

    return (x.new_empty(x.shape, dtype=spike_dtype), seq_or_empty(True), seq_or_empty(not reset_delay),
            seq_or_empty(synaptic))


@torch.library.custom_op("tritonsnn::lif_fwd_torch", mutates_args=())
def lif_fwd_torch(
    x: Tensor, mem0: Optional[Tensor], syn0: Optional[Tensor], alpha: Optional[Tensor],
    decay: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool, reset_input: bool,
    spike_dtype: torch.dtype, save_dtype: torch.dtype, lengths: Optional[Tensor],
) -> Out4:
    if x.shape[0] == 0 or x[0].numel() == 0:
        return _fwd_outputs_like(x, reset_delay, alpha is not None, spike_dtype, save_dtype)
    return torch_path.lif_forward(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay,
                                  reset_input, spike_dtype, save_dtype, lengths)


@lif_fwd_torch.register_fake
def _(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input, spike_dtype, save_dtype,
      lengths):
    return _fwd_outputs_like(x, reset_delay, alpha is not None, spike_dtype, save_dtype)


@torch.library.custom_op("tritonsnn::lif_bwd_torch", mutates_args=())
def lif_bwd_torch(
    grad_spk: Tensor, grad_mem: Optional[Tensor], grad_syn: Optional[Tensor], mem: Tensor, h: Tensor,
    syn: Tensor, mem0: Optional[Tensor], syn0: Optional[Tensor], alpha: Optional[Tensor],
    decay: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool, reset_input: bool,
    sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor], param_grad: bool, alpha_grad: bool,
    lengths: Optional[Tensor],
) -> Out7:
    grads = torch_path.lif_backward(
        grad_spk, grad_mem, grad_syn, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, reset,
        reset_delay, reset_input, torch_surrogate_grad(sg_id, sg_seed, mem.device),
        surrogate_floats(sg_id, sg_params), param_grad, alpha_grad, lengths,
    )
    return tuple(grad_spk.new_empty(0) if g is None else g for g in grads)


@lif_bwd_torch.register_fake
def _(grad_spk, grad_mem, grad_syn, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, reset,
      reset_delay, reset_input, sg_id, sg_params, sg_seed, param_grad, alpha_grad, lengths):
    return (mem.new_empty(mem.shape, dtype=grad_spk.dtype), fake_like(grad_spk, mem0),
            fake_like(grad_spk, syn0), fake_per_neuron(grad_spk, alpha_grad),
            *(fake_per_neuron(grad_spk, param_grad) for _ in range(3)))


@triton_op("tritonsnn::lif_fwd", mutates_args=())
def lif_fwd(
    x: Tensor, mem0: Optional[Tensor], syn0: Optional[Tensor], alpha: Optional[Tensor],
    decay: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool, reset_input: bool,
    spike_dtype: torch.dtype, save_dtype: torch.dtype, sg_id: int, sg_params: Tensor,
    sg_seed: Optional[Tensor], backend: str, lengths: Optional[Tensor],
) -> Out4:
    """A first-order LIF neuron over `x: [T, *neurons]`: Leaky (alpha None), Synaptic (alpha
    given: a synaptic current in front of the membrane), Lapicque (Leaky with reset_input).
    `decay` is the membrane decay as used (already clamped). Returns (spikes, membrane U_1..U_T,
    pre-reset membrane if reset_delay=False, synaptic current if alpha is given), the last two
    empty otherwise; spikes in `spike_dtype` (x's dtype, or bool/uint8 fire bits, which carry no
    gradient), the state sequences in `save_dtype`. The surrogate (id, fp64 parameters `[2]`, and
    the seed of a stochastic one) only matters to the backward; a NaN parameter stands for the
    module-level slope, substituted when the backward runs (`tritonsnn.surrogate.MODULE_SLOPE`).
    `lengths` (int64 `[B]`, x's dim 1, values in [0, T]) ends each sample's sequence at its own
    length: every output past it is 0 and the backward ignores the gradients arriving there."""
    inputs = dict(x=x, mem0=mem0, syn0=syn0, alpha=alpha, decay=decay, threshold=threshold, gsf=gsf, reset=reset,
                  reset_delay=reset_delay, reset_input=reset_input, spike_dtype=spike_dtype, save_dtype=save_dtype,
                  lengths=lengths)
    if uses_triton(x.device, backend):
        from tritonsnn.kernels.lif.launch import lif_forward  # imports Triton, an optional dependency

        return lif_forward(**inputs)
    return torch.ops.tritonsnn.lif_fwd_torch(**inputs)


@triton_op("tritonsnn::lif_bwd", mutates_args=())
def lif_bwd(
    grad_spk: Tensor, grad_mem: Optional[Tensor], grad_syn: Optional[Tensor], mem: Tensor, h: Tensor,
    syn: Tensor, mem0: Optional[Tensor], syn0: Optional[Tensor], alpha: Optional[Tensor],
    decay: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool, reset_input: bool,
    sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor], param_grad: bool, alpha_grad: bool,
    backend: str, lengths: Optional[Tensor],
) -> Out7:
    """Backward of `lif_fwd` through time. Returns (dx, dmem0, dsyn0, dalpha, ddecay, dthreshold,
    dgsf), the parameter gradients in each parameter's shape; an entry is empty where its input is
    absent or its gradient was not asked for (`param_grad` for decay/threshold/gsf, `alpha_grad`,
    which needs `syn`, for alpha). dx comes in grad_spk's dtype, the input's. `sg_params` holds
    the surrogate's parameters as used (the module-level slope already in place)."""
    empty = [grad_spk.new_empty(0) for _ in range(6)]
    if mem.shape[0] == 0 or mem[0].numel() == 0:
        zeros = [torch.zeros_like(t) if t is not None and wanted else e
                 for t, wanted, e in zip((mem0, syn0, alpha, decay, threshold, gsf),
                                         (True, True, alpha_grad, param_grad, param_grad, param_grad), empty)]
        return (torch.zeros(mem.shape, dtype=grad_spk.dtype, device=mem.device), *zeros)
    inputs = dict(grad_spk=grad_spk, grad_mem=grad_mem, grad_syn=grad_syn, mem=mem, h=h, syn=syn, mem0=mem0,
                  syn0=syn0, alpha=alpha, decay=decay, threshold=threshold, gsf=gsf, reset=reset,
                  reset_delay=reset_delay, reset_input=reset_input, sg_id=sg_id, sg_params=sg_params,
                  sg_seed=sg_seed, param_grad=param_grad, alpha_grad=alpha_grad, lengths=lengths)
    if uses_triton(mem.device, backend):
        from tritonsnn.kernels.lif.launch import lif_backward

        dx, *rest = lif_backward(**inputs)
        rest = [e if g is None else g for g, e in zip(rest, empty)]
    else:
        dx, *rest = torch.ops.tritonsnn.lif_bwd_torch(**inputs)
    dmem0, dsyn0, dalpha, ddecay, dthr, dgsf = rest
    if alpha_grad:
        dalpha = to_param_shape(dalpha, alpha)
    if param_grad:
        ddecay, dthr, dgsf = (to_param_shape(g, p) for g, p in ((ddecay, decay), (dthr, threshold), (dgsf, gsf)))
    return dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf


FWD = Inputs.of_op(torch.ops.tritonsnn.lif_fwd)


def _lif_setup_context(ctx, inputs, output) -> None:
    i = FWD.named(inputs)
    _, mem, h, syn = output
    # The membrane (plus the pre-reset one when the reset is not delayed) is all the backward
    # needs; the synaptic current only for alpha's gradient.
    alpha_grad = i["alpha"] is not None and i["alpha"].requires_grad
    ctx.save_for_backward(mem, h, syn if alpha_grad else None, i["mem0"], i["syn0"], i["alpha"], i["decay"],
                          i["threshold"], i["gsf"], i["sg_params"], i["sg_seed"], i["lengths"])
    ctx.config = {name: i[name] for name in ("reset", "reset_delay", "reset_input", "sg_id", "backend")}
    ctx.alpha_grad, ctx.x_dtype = alpha_grad, i["x"].dtype
    ctx.set_materialize_grads(False)


def _lif_backward(ctx, grad_spk, grad_mem, grad_h, grad_syn):
    mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, sg_params, sg_seed, lengths = ctx.saved_tensors
    if grad_spk is None and grad_mem is None and grad_syn is None:
        return FWD.grads(ctx)
    if grad_spk is None:
        grad_spk = torch.zeros(mem.shape, dtype=ctx.x_dtype, device=mem.device)
    needs = FWD.needs(ctx)
    dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf = torch.ops.tritonsnn.lif_bwd(
        grad_spk=grad_spk, grad_mem=grad_mem, grad_syn=grad_syn, mem=mem, h=h,
        syn=mem.new_empty(0) if syn is None else syn, mem0=mem0, syn0=syn0, alpha=alpha, decay=decay,
        threshold=threshold, gsf=gsf, sg_params=with_module_slope(ctx.config["sg_id"], sg_params), sg_seed=sg_seed,
        param_grad=needs["decay"] or needs["threshold"] or needs["gsf"], alpha_grad=ctx.alpha_grad and needs["alpha"],
        lengths=lengths, **ctx.config)
    return FWD.grads(ctx, x=dx, mem0=dmem0, syn0=dsyn0, alpha=dalpha, decay=ddecay, threshold=dthr, gsf=dgsf)


lif_fwd.register_autograd(_lif_backward, setup_context=_lif_setup_context)
lif_bwd.register_autograd(no_double_backward, setup_context=no_context)
