"""The fused Alpha neuron as `torch.library` operators: `torch.ops.tritonsnn.alpha_fwd` /
`alpha_bwd` (`triton_op`s, Triton launch through `wrap_triton`) and their opaque torch twins,
registered like the LIF family's (see `tritonsnn.kernels.lif.op`)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch.library import triton_op

from tritonsnn._dtypes import acc_dtype
from tritonsnn._registration import (Inputs, fake_like, fake_per_neuron, no_context, no_double_backward,
                                     surrogate_floats, to_param_shape, torch_surrogate_grad, with_module_slope)
from tritonsnn.backend import uses_triton
from tritonsnn.kernels.alpha import torch_path

Out6 = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]
Out8 = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


@torch.library.custom_op("tritonsnn::alpha_fwd_torch", mutates_args=())
def alpha_fwd_torch(
    x: Tensor, exc0: Optional[Tensor], inh0: Optional[Tensor], mem0: Optional[Tensor], a: Tensor,
    b: Tensor, tau: Tensor, threshold: Tensor, gsf: Tensor, reset: int, spike_dtype: torch.dtype,
    save_dtype: torch.dtype, keep_currents: bool, lengths: Optional[Tensor],
) -> Out6:
    if x.shape[0] == 0 or x[0].numel() == 0:
        return _outputs_like(x, spike_dtype, save_dtype, keep_currents)
    return torch_path.alpha_forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset,
                                      spike_dtype, save_dtype, keep_currents, lengths)


def _outputs_like(x: Tensor, spike_dtype: torch.dtype, save_dtype: torch.dtype, keep_currents: bool) -> Out6:
    states = tuple(x.new_empty(x.shape, dtype=d) for d in (spike_dtype, save_dtype, save_dtype, save_dtype))
    kept = keep_currents and torch_path.keeps_currents(x.dtype, save_dtype)
    acc = acc_dtype(x.dtype)
    return (*states, *(x.new_empty(x.shape if kept else (0,), dtype=acc) for _ in range(2)))


@alpha_fwd_torch.register_fake
def _(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, spike_dtype, save_dtype, keep_currents, lengths):
    return _outputs_like(x, spike_dtype, save_dtype, keep_currents)


@torch.library.custom_op("tritonsnn::alpha_bwd_torch", mutates_args=())
def alpha_bwd_torch(
    grad_spk: Tensor, grad_exc: Optional[Tensor], grad_inh: Optional[Tensor], grad_mem: Optional[Tensor],
    mem: Tensor, exc: Tensor, inh: Tensor, exc0: Optional[Tensor], inh0: Optional[Tensor],
    mem0: Optional[Tensor], a: Tensor, b: Tensor, tau: Tensor, threshold: Tensor, gsf: Tensor,
    reset: int, sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor], param_grad: bool, decay_grad: bool,
    lengths: Optional[Tensor],
) -> Out8:
    grads = torch_path.alpha_backward(
        grad_spk, grad_exc, grad_inh, grad_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold,
        gsf, reset, torch_surrogate_grad(sg_id, sg_seed, mem.device), surrogate_floats(sg_id, sg_params),
        param_grad, decay_grad, lengths)
    return tuple(grad_spk.new_empty(0) if g is None else g for g in grads)


@alpha_bwd_torch.register_fake
def _(grad_spk, grad_exc, grad_inh, grad_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold,
      gsf, reset, sg_id, sg_params, sg_seed, param_grad, decay_grad, lengths):
    return (mem.new_empty(mem.shape, dtype=grad_spk.dtype), fake_like(grad_spk, exc0), fake_like(grad_spk, inh0),
            *(fake_per_neuron(grad_spk, decay_grad) for _ in range(3)),
            *(fake_per_neuron(grad_spk, param_grad) for _ in range(2)))


@triton_op("tritonsnn::alpha_fwd", mutates_args=())
def alpha_fwd(
    x: Tensor, exc0: Optional[Tensor], inh0: Optional[Tensor], mem0: Optional[Tensor], a: Tensor,
    b: Tensor, tau: Tensor, threshold: Tensor, gsf: Tensor, reset: int, spike_dtype: torch.dtype,
    save_dtype: torch.dtype, keep_currents: bool, sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor],
    backend: str, lengths: Optional[Tensor],
) -> Out6:
    """snnTorch's Alpha neuron over `x: [T, *neurons]` with decays a, b (already clamped) and the
    membrane scale tau. Returns (spikes, excitatory current, inhibitory current, membrane, and the
    two currents in the accumulation dtype): spikes in `spike_dtype`, the states in `save_dtype`,
    zero past each sample's length (as `lif_fwd`). The last two are empty unless `keep_currents`
    (the decays will need gradients) and the states are stored below the accumulation precision
    (`torch_path.keeps_currents`): the decays' gradients then read them."""
    inputs = dict(x=x, exc0=exc0, inh0=inh0, mem0=mem0, a=a, b=b, tau=tau, threshold=threshold, gsf=gsf, reset=reset,
                  spike_dtype=spike_dtype, save_dtype=save_dtype, keep_currents=keep_currents, lengths=lengths)
    if uses_triton(x.device, backend):
        from tritonsnn.kernels.alpha.launch import alpha_forward  # imports Triton, an optional dependency

        return alpha_forward(**inputs)
    return torch.ops.tritonsnn.alpha_fwd_torch(**inputs)


@triton_op("tritonsnn::alpha_bwd", mutates_args=())
def alpha_bwd(
    grad_spk: Tensor, grad_exc: Optional[Tensor], grad_inh: Optional[Tensor], grad_mem: Optional[Tensor],
    mem: Tensor, exc: Tensor, inh: Tensor, exc0: Optional[Tensor], inh0: Optional[Tensor],
    mem0: Optional[Tensor], a: Tensor, b: Tensor, tau: Tensor, threshold: Tensor, gsf: Tensor,
    reset: int, sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor], param_grad: bool, decay_grad: bool,
    backend: str, lengths: Optional[Tensor],
) -> Out8:
    """Backward of `alpha_fwd` through time: (dx, dexc0, dinh0, da, db, dtau, dthreshold, dgsf),
    parameter gradients in each parameter's shape; empty where absent or not asked for
    (`decay_grad`, which needs `exc` and `inh`, for a, b and tau). dx comes in grad_spk's dtype;
    `sg_params` holds the surrogate's parameters as used (the module-level slope in place)."""
    empty = [grad_spk.new_empty(0) for _ in range(7)]
    if mem.shape[0] == 0 or mem[0].numel() == 0:
        wanted = (True, True, decay_grad, decay_grad, decay_grad, param_grad, param_grad)
        zeros = [torch.zeros_like(t) if t is not None and w else e
                 for t, w, e in zip((exc0, inh0, a, b, tau, threshold, gsf), wanted, empty)]
        return (torch.zeros(mem.shape, dtype=grad_spk.dtype, device=mem.device), *zeros)
    inputs = dict(grad_spk=grad_spk, grad_exc=grad_exc, grad_inh=grad_inh, grad_mem=grad_mem, mem=mem, exc=exc,
                  inh=inh, exc0=exc0, inh0=inh0, mem0=mem0, a=a, b=b, tau=tau, threshold=threshold, gsf=gsf,
                  reset=reset, sg_id=sg_id, sg_params=sg_params, sg_seed=sg_seed, param_grad=param_grad,
                  decay_grad=decay_grad, lengths=lengths)
    if uses_triton(mem.device, backend):
        from tritonsnn.kernels.alpha.launch import alpha_backward

        dx, *rest = alpha_backward(**inputs)
        rest = [e if g is None else g for g, e in zip(rest, empty)]
    else:
        dx, *rest = torch.ops.tritonsnn.alpha_bwd_torch(**inputs)
    dexc0, dinh0, da, db, dtau, dthr, dgsf = rest
    if decay_grad:
        da, db, dtau = (to_param_shape(g, p) for g, p in ((da, a), (db, b), (dtau, tau)))
    if param_grad:
        dthr, dgsf = (to_param_shape(g, p) for g, p in ((dthr, threshold), (dgsf, gsf)))
    return dx, dexc0, dinh0, da, db, dtau, dthr, dgsf


FWD = Inputs.of_op(torch.ops.tritonsnn.alpha_fwd)


def _setup_context(ctx, inputs, output) -> None:
    i = FWD.named(inputs)
    _, exc, inh, mem, exc_acc, inh_acc = output
    # The membrane is all the backward needs, but for the decays' and tau's gradients, which
    # read the currents (at the accumulation precision when they were kept).
    decay_grad = i["a"].requires_grad or i["b"].requires_grad or i["tau"].requires_grad
    if i["keep_currents"] and torch_path.keeps_currents(i["x"].dtype, i["save_dtype"]):
        exc, inh = exc_acc, inh_acc
    ctx.save_for_backward(mem, exc if decay_grad else None, inh if decay_grad else None, i["exc0"], i["inh0"],
                          i["mem0"], i["a"], i["b"], i["tau"], i["threshold"], i["gsf"], i["sg_params"],
                          i["sg_seed"], i["lengths"])
    ctx.config = {name: i[name] for name in ("reset", "sg_id", "backend")}
    ctx.decay_grad, ctx.x_dtype = decay_grad, i["x"].dtype
    ctx.set_materialize_grads(False)


def _backward(ctx, grad_spk, grad_exc, grad_inh, grad_mem, _grad_exc_acc, _grad_inh_acc):
    mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf, sg_params, sg_seed, lengths = ctx.saved_tensors
    if grad_spk is None and grad_exc is None and grad_inh is None and grad_mem is None:
        return FWD.grads(ctx)
    if grad_spk is None:
        grad_spk = torch.zeros(mem.shape, dtype=ctx.x_dtype, device=mem.device)
    needs = FWD.needs(ctx)
    empty = mem.new_empty(0)
    dx, dexc0, dinh0, da, db, dtau, dthr, dgsf = torch.ops.tritonsnn.alpha_bwd(
        grad_spk=grad_spk, grad_exc=grad_exc, grad_inh=grad_inh, grad_mem=grad_mem, mem=mem,
        exc=empty if exc is None else exc, inh=empty if inh is None else inh, exc0=exc0, inh0=inh0, mem0=mem0,
        a=a, b=b, tau=tau, threshold=threshold, gsf=gsf, sg_params=with_module_slope(ctx.config["sg_id"], sg_params),
        sg_seed=sg_seed, param_grad=needs["threshold"] or needs["gsf"], decay_grad=ctx.decay_grad, lengths=lengths,
        **ctx.config)
    # The membrane's initial value only decides the first reset, which is detached: no gradient.
    return FWD.grads(ctx, x=dx, exc0=dexc0, inh0=dinh0, a=da, b=db, tau=dtau, threshold=dthr, gsf=dgsf)


alpha_fwd.register_autograd(_backward, setup_context=_setup_context)
alpha_bwd.register_autograd(no_double_backward, setup_context=no_context)
