"""The LIF family's fused neuron: one forward, one backward and the autograd formulas that join
them, behind two doors.

- `op.py` registers them as the `torch.library` ops `tritonsnn::lif_fwd` / `lif_bwd`, what
  torch.compile, torch.export and torch.func transforms see (`tritonsnn._ops.traced`);
- `Eager`, an autograd Function over the very same functions, is what every other call runs:
  one autograd node and no operator dispatch. For a single time step the dispatch chain of a
  `torch.library` op (custom op, autograd, redispatch, the Triton-op wrapper) costs more than
  the step itself.

`call` picks the door. Both compute the same numbers: the functions are shared, and so is the
choice of implementation (Triton kernels or the torch path, `tritonsnn.backend`).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from tritonsnn import _forward_ad
from tritonsnn._ops import ops, traced
from tritonsnn._registration import (Inputs, eager_function, surrogate_floats, to_param_shape,
                                     torch_surrogate_grad, with_module_slope)
from tritonsnn.backend import uses_triton
from tritonsnn.kernels.lif import torch_path

Out4 = tuple[Tensor, Tensor, Tensor, Tensor]
Out7 = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


def outputs_like(x: Tensor, reset_delay: bool, synaptic: bool, spike_dtype: torch.dtype,
                 save_dtype: torch.dtype) -> Out4:
    """Empty (spk, mem, h, syn) as `forward` returns them for `x` (h and syn empty unless present)."""
    def seq_or_empty(present: bool) -> Tensor:
        return x.new_empty(x.shape if present else (0,), dtype=save_dtype)

    return (x.new_empty(x.shape, dtype=spike_dtype), seq_or_empty(True), seq_or_empty(not reset_delay),
            seq_or_empty(synaptic))


def torch_forward(
    x: Tensor, mem0: Optional[Tensor], syn0: Optional[Tensor], alpha: Optional[Tensor],
    decay: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool, reset_input: bool,
    spike_dtype: torch.dtype, save_dtype: torch.dtype, lengths: Optional[Tensor],
) -> Out4:
    """The forward on the torch path (`torch_path.lif_forward`; registered as the opaque op
    `tritonsnn::lif_fwd_torch`, so that a compiler neither traces nor unrolls its time loop)."""
    if x.numel() == 0:
        return outputs_like(x, reset_delay, alpha is not None, spike_dtype, save_dtype)
    return torch_path.lif_forward(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay,
                                  reset_input, spike_dtype, save_dtype, lengths)


def torch_backward(
    grad_spk: Tensor, grad_mem: Optional[Tensor], grad_syn: Optional[Tensor], mem: Tensor, h: Tensor,
    syn: Tensor, mem0: Optional[Tensor], syn0: Optional[Tensor], alpha: Optional[Tensor],
    decay: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool, reset_input: bool,
    sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor], param_grad: bool, alpha_grad: bool,
    lengths: Optional[Tensor],
) -> Out7:
    """The backward on the torch path (the opaque op `tritonsnn::lif_bwd_torch`): per-neuron
    parameter sums, empty tensors for the gradients not computed."""
    grads = torch_path.lif_backward(
        grad_spk, grad_mem, grad_syn, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, reset,
        reset_delay, reset_input, torch_surrogate_grad(sg_id, sg_seed, mem.device),
        surrogate_floats(sg_id, sg_params), param_grad, alpha_grad, lengths,
    )
    return tuple(grad_spk.new_empty(0) if g is None else g for g in grads)


def forward(
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
    return (ops().lif_fwd_torch if traced(x) else torch_forward)(**inputs)


def backward(
    grad_spk: Tensor, grad_mem: Optional[Tensor], grad_syn: Optional[Tensor], mem: Tensor, h: Tensor,
    syn: Tensor, mem0: Optional[Tensor], syn0: Optional[Tensor], alpha: Optional[Tensor],
    decay: Tensor, threshold: Tensor, gsf: Tensor, reset: int, reset_delay: bool, reset_input: bool,
    sg_id: int, sg_params: Tensor, sg_seed: Optional[Tensor], param_grad: bool, alpha_grad: bool,
    backend: str, lengths: Optional[Tensor],
) -> Out7:
    """Backward of `forward` through time. Returns (dx, dmem0, dsyn0, dalpha, ddecay, dthreshold,
    dgsf), the parameter gradients in each parameter's shape; an entry is empty where its input is
    absent or its gradient was not asked for (`param_grad` for decay/threshold/gsf, `alpha_grad`,
    which needs `syn`, for alpha). dx comes in grad_spk's dtype, the input's. `sg_params` holds
    the surrogate's parameters as used (the module-level slope already in place)."""
    empty = [grad_spk.new_empty(0) for _ in range(6)]
    if mem.numel() == 0:
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
        dx, *rest = (ops().lif_bwd_torch if traced(mem) else torch_backward)(**inputs)
    dmem0, dsyn0, dalpha, ddecay, dthr, dgsf = rest
    if alpha_grad:
        dalpha = to_param_shape(dalpha, alpha)
    if param_grad:
        ddecay, dthr, dgsf = (to_param_shape(g, p) for g, p in ((ddecay, decay), (dthr, threshold), (dgsf, gsf)))
    return dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf


FWD = Inputs.of(forward)


def setup_context(ctx, inputs, output) -> None:
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


def backward_formula(ctx, grad_spk, grad_mem, grad_h, grad_syn):
    """The gradients of `forward`'s inputs: `backward`, or the op `lif_bwd` when traced or when
    the backward itself is recorded (create_graph=True: the op's derivative is the clear error
    that double backward is not supported)."""
    mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, sg_params, sg_seed, lengths = ctx.saved_tensors
    if grad_spk is None and grad_mem is None and grad_syn is None:
        return FWD.grads(ctx)
    if grad_spk is None:
        grad_spk = torch.zeros(mem.shape, dtype=ctx.x_dtype, device=mem.device)
    needs = FWD.needs(ctx)
    bwd = ops().lif_bwd if traced(mem) or torch.is_grad_enabled() else backward
    dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf = bwd(
        grad_spk=grad_spk, grad_mem=grad_mem, grad_syn=grad_syn, mem=mem, h=h,
        syn=mem.new_empty(0) if syn is None else syn, mem0=mem0, syn0=syn0, alpha=alpha, decay=decay,
        threshold=threshold, gsf=gsf, sg_params=with_module_slope(ctx.config["sg_id"], sg_params), sg_seed=sg_seed,
        param_grad=needs["decay"] or needs["threshold"] or needs["gsf"], alpha_grad=ctx.alpha_grad and needs["alpha"],
        lengths=lengths, **ctx.config)
    return FWD.grads(ctx, x=dx, mem0=dmem0, syn0=dsyn0, alpha=dalpha, decay=ddecay, threshold=dthr, gsf=dgsf)


Eager = eager_function(forward, setup_context, backward_formula)


def call(**inputs) -> Out4:
    """The fused neuron (`forward`'s arguments by name): the op `lif_fwd` where a compiler,
    exporter or transform traces, `Eager` everywhere else."""
    if traced(inputs["x"]) or _forward_ad.recording():  # the op's outputs take the tangents `dispatch` adds
        return ops().lif_fwd(**inputs)
    return Eager.apply(*FWD.ordered(inputs))
