"""The Alpha neuron's fused forward, backward and autograd formulas behind two doors, as the LIF
family's (`tritonsnn.kernels.lif.fused`): the `torch.library` ops of `op.py` where a compiler,
exporter or transform traces, the autograd Function `Eager` over the same functions everywhere
else (`call` picks)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from tritonsnn import _forward_ad
from tritonsnn._dtypes import acc_dtype
from tritonsnn._ops import ops, traced
from tritonsnn._registration import (Inputs, eager_function, surrogate_floats, to_param_shape,
                                     torch_surrogate_grad, with_module_slope)
from tritonsnn.backend import uses_triton
from tritonsnn.kernels.alpha import torch_path

Out6 = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]
Out8 = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


def outputs_like(x: Tensor, spike_dtype: torch.dtype, save_dtype: torch.dtype, keep_currents: bool) -> Out6:
    """Empty outputs as `forward` returns them for `x`."""
    states = tuple(x.new_empty(x.shape, dtype=d) for d in (spike_dtype, save_dtype, save_dtype, save_dtype))
    kept = keep_currents and torch_path.keeps_currents(x.dtype, save_dtype)
    acc = acc_dtype(x.dtype)
    return (*states, *(x.new_empty(x.shape if kept else (0,), dtype=acc) for _ in range(2)))


def torch_forward(
    x: Tensor, exc0: Optional[Tensor], inh0: Optional[Tensor], mem0: Optional[Tensor], a: Tensor,
    b: Tensor, tau: Tensor, threshold: Tensor, gsf: Tensor, reset: int, spike_dtype: torch.dtype,
    save_dtype: torch.dtype, keep_currents: bool, lengths: Optional[Tensor],
) -> Out6:
    """The forward on the torch path (`torch_path.alpha_forward`; the opaque op
    `tritonsnn::alpha_fwd_torch`)."""
    if x.numel() == 0:
        return outputs_like(x, spike_dtype, save_dtype, keep_currents)
    return torch_path.alpha_forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset,
                                    spike_dtype, save_dtype, keep_currents, lengths)


def torch_backward(
    grad_spk: Tensor, grad_exc: Optional[Tensor], grad_inh: Optional[Tensor], grad_mem: Optional[Tensor],
    mem: Tensor, exc: Tensor, inh: Tensor, exc0: Optional[Tensor], inh0: Optional[Tensor],
    mem0: Optional[Tensor], a: Tensor, b: Tensor, tau: Tensor, threshold: Tensor, gsf: Tensor,
    reset: int, sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor], param_grad: bool, decay_grad: bool,
    lengths: Optional[Tensor],
) -> Out8:
    """The backward on the torch path (the opaque op `tritonsnn::alpha_bwd_torch`)."""
    grads = torch_path.alpha_backward(
        grad_spk, grad_exc, grad_inh, grad_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold,
        gsf, reset, torch_surrogate_grad(sg_id, sg_seed, mem.device), surrogate_floats(sg_id, sg_params),
        param_grad, decay_grad, lengths)
    return tuple(grad_spk.new_empty(0) if g is None else g for g in grads)


def forward(
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
    return (ops().alpha_fwd_torch if traced(x) else torch_forward)(**inputs)


def backward(
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
    if mem.numel() == 0:
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
        dx, *rest = (ops().alpha_bwd_torch if traced(mem) else torch_backward)(**inputs)
    dexc0, dinh0, da, db, dtau, dthr, dgsf = rest
    if decay_grad:
        da, db, dtau = (to_param_shape(g, p) for g, p in ((da, a), (db, b), (dtau, tau)))
    if param_grad:
        dthr, dgsf = (to_param_shape(g, p) for g, p in ((dthr, threshold), (dgsf, gsf)))
    return dx, dexc0, dinh0, da, db, dtau, dthr, dgsf


FWD = Inputs.of(forward)


def setup_context(ctx, inputs, output) -> None:
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


def backward_formula(ctx, grad_spk, grad_exc, grad_inh, grad_mem, _grad_exc_acc, _grad_inh_acc):
    """The gradients of `forward`'s inputs: `backward`, or the op `alpha_bwd` when traced or when
    the backward itself is recorded (create_graph=True: the op's derivative is the clear error
    that double backward is not supported)."""
    mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf, sg_params, sg_seed, lengths = ctx.saved_tensors
    if grad_spk is None and grad_exc is None and grad_inh is None and grad_mem is None:
        return FWD.grads(ctx)
    if grad_spk is None:
        grad_spk = torch.zeros(mem.shape, dtype=ctx.x_dtype, device=mem.device)
    needs = FWD.needs(ctx)
    bwd = ops().alpha_bwd if traced(mem) or torch.is_grad_enabled() else backward
    empty = mem.new_empty(0)
    dx, dexc0, dinh0, da, db, dtau, dthr, dgsf = bwd(
        grad_spk=grad_spk, grad_exc=grad_exc, grad_inh=grad_inh, grad_mem=grad_mem, mem=mem,
        exc=empty if exc is None else exc, inh=empty if inh is None else inh, exc0=exc0, inh0=inh0, mem0=mem0,
        a=a, b=b, tau=tau, threshold=threshold, gsf=gsf, sg_params=with_module_slope(ctx.config["sg_id"], sg_params),
        sg_seed=sg_seed, param_grad=needs["threshold"] or needs["gsf"], decay_grad=ctx.decay_grad, lengths=lengths,
        **ctx.config)
    # The membrane's initial value only decides the first reset, which is detached: no gradient.
    return FWD.grads(ctx, x=dx, exc0=dexc0, inh0=dinh0, a=da, b=db, tau=dtau, threshold=dthr, gsf=dgsf)


Eager = eager_function(forward, setup_context, backward_formula)


def call(**inputs) -> Out6:
    """The fused neuron (`forward`'s arguments by name): the op `alpha_fwd` where traced, `Eager`
    everywhere else."""
    if traced(inputs["x"]) or _forward_ad.recording():  # the op's outputs take the tangents `dispatch` adds
        return ops().alpha_fwd(**inputs)
    return Eager.apply(*FWD.ordered(inputs))
