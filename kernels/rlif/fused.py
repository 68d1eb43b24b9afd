"""The recurrent LIF family's fused sequence: RLeaky / RSynaptic with a Linear or one-to-one
recurrent term over a whole sequence, the two kernels of `kernels.py` behind two doors, as the
LIF family's (`tritonsnn.kernels.lif.fused`): the `torch.library` ops `tritonsnn::rlif_fwd` /
`rlif_bwd` (`op.py`) where a compiler, exporter or transform traces, and `Eager`, one autograd
node over the very same functions, everywhere else.

Scope (`applies`): the Triton backend, fp32 inputs, weights (or V) and saved states, the delayed
reset, a fused deterministic surrogate, more than one step. Everything else runs as it did
before (the torch path's Function on CPU, or the recurrent term and the LIF family's fused
single step, step by step: `tritonsnn._recurrent`). The parameters' gradients after the scan are
the torch path's (`torch_path.summed`), from the same saved tensors.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from tritonsnn._ops import ops, traced
from tritonsnn._registration import Inputs, eager_function, with_module_slope
from tritonsnn.backend import get_backend, uses_triton
from tritonsnn.kernels.rlif import torch_path

Out3 = tuple[Tensor, Tensor, Tensor]
Out5 = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def applies(x: Tensor, term: Tensor, reset_delay: bool, save_dtype, surrogate) -> bool:
    """Whether a sequence like `x` with a Linear term of weight `term` (or the one-to-one term
    of V `term`) runs fused. A single step does not: it is the recurrent term and the LIF
    family's step, bitwise what a settled single-step call computes
    (`tritonsnn._recurrent.RecurrentStep`)."""
    return (reset_delay and surrogate.fused and not surrogate.spec.stochastic and x.dim() >= 2 and x.shape[0] > 1
            and x.numel() > 0
            and x.dtype == torch.float32 and term.dtype == torch.float32 and save_dtype in (None, torch.float32)
            and uses_triton(x.device, get_backend()))


def run(x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, reset: int, surrogate, lengths=None):
    """(spk_seq, syn_seq or None, mem_seq) over `x: [T, *rows, F]`, as `torch_path.run` gives
    them for a Linear term (`weight`, `bias`) or, `weight` None, the one-to-one term (`V`)."""
    inputs = dict(x=x, spk0=spk0, syn0=syn0, mem0=mem0, weight=weight, bias=bias, V=V, alpha=alpha, decay=decay,
                  threshold=threshold, gsf=gsf, reset=reset, sg_id=surrogate.kernel_id,
                  sg_params=surrogate.kernel_params(x), lengths=lengths)
    spk, syn, mem = ops().rlif_fwd(**inputs) if traced(x) else Eager.apply(*FWD.ordered(inputs))
    return spk, None if alpha is None else syn, mem


def forward(
    x: Tensor, spk0: Optional[Tensor], syn0: Optional[Tensor], mem0: Optional[Tensor], weight: Optional[Tensor],
    bias: Optional[Tensor], V: Optional[Tensor], alpha: Optional[Tensor], decay: Tensor, threshold: Tensor,
    gsf: Tensor, reset: int, sg_id: int, sg_params: Tensor, lengths: Optional[Tensor],
) -> Out3:
    """The recurrent neuron over `x: [T, *rows, F]` (fp32) from the spikes, current and membrane
    before it (None: zeros), its recurrent term ``S Wᵀ + bias`` or, `weight` None, ``S V``;
    `alpha` None means RLeaky. Returns (spikes, current, membrane), the current empty for RLeaky;
    zero past each sample's length (`lengths`, int64 `[B]`). The surrogate (id, fp64 parameters)
    only matters to the backward."""
    from tritonsnn.kernels.rlif.launch import rlif_forward  # imports Triton, an optional dependency

    spk, syn, mem = rlif_forward(x, weight, bias, V, spk0, syn0, mem0, alpha, decay, threshold, gsf, reset, lengths)
    return spk, x.new_empty(0) if syn is None else syn, mem


def backward(
    grad_spk: Optional[Tensor], grad_syn: Optional[Tensor], grad_mem: Optional[Tensor], mem: Tensor,
    mem0: Optional[Tensor], weight: Optional[Tensor], V: Optional[Tensor], alpha: Optional[Tensor], decay: Tensor,
    threshold: Tensor, gsf: Tensor, reset: int, sg_id: int, sg_params: Tensor, param_grad: bool,
    lengths: Optional[Tensor],
) -> Out5:
    """The reverse-time scan of `forward`: (dx, db0, ddecay, dthreshold, dgsf) as
    `launch.rlif_backward` returns them, the last three empty unless `param_grad`. `sg_params`
    holds the surrogate's parameters as used (the module-level slope in place)."""
    from tritonsnn.kernels.rlif.launch import rlif_backward

    dx, db0, *sums = rlif_backward(grad_spk, grad_syn, grad_mem, mem, mem0, weight, V, alpha, decay, threshold, gsf,
                                   reset, sg_id, sg_params, param_grad, lengths)
    return dx, db0, *(mem.new_empty(0) if g is None else g for g in sums)


FWD = Inputs.of(forward)


def setup_context(ctx, inputs, output) -> None:
    i = FWD.named(inputs)
    spk, syn, mem = output
    ctx.save_for_backward(spk, syn, mem, i["spk0"], i["syn0"], i["mem0"], i["weight"], i["V"], i["alpha"],
                          i["decay"], i["threshold"], i["gsf"], i["sg_params"], i["lengths"])
    ctx.config = {name: i[name] for name in ("reset", "sg_id")}
    ctx.set_materialize_grads(False)


def backward_formula(ctx, grad_spk, grad_syn, grad_mem):
    """The gradients of `forward`'s inputs: the scan (`backward`, or the op `rlif_bwd` when
    traced or when the backward itself is recorded: create_graph=True, whose derivative is the
    clear error that double backward is not supported), then the initial states' gradients and
    the sums over every step (`torch_path.summed`)."""
    spk, syn, mem, spk0, syn0, mem0, weight, V, alpha, decay, threshold, gsf, sg_params, lengths = ctx.saved_tensors
    if grad_spk is None and grad_syn is None and grad_mem is None:
        return FWD.grads(ctx)
    needs = FWD.needs(ctx)
    scan = ops().rlif_bwd if traced(mem) or torch.is_grad_enabled() else backward
    param_grad = needs["decay"] or needs["threshold"] or needs["gsf"]
    dx, db0, ddecay, dthr, dgsf = scan(
        grad_spk=grad_spk, grad_syn=None if alpha is None else grad_syn, grad_mem=grad_mem, mem=mem, mem0=mem0,
        weight=weight, V=V, alpha=alpha, decay=decay, threshold=threshold, gsf=gsf,
        sg_params=with_module_slope(ctx.config["sg_id"], sg_params), param_grad=param_grad, lengths=lengths,
        **ctx.config)
    dspk0 = (dx[0] * V if weight is None else torch.matmul(dx[0], weight)) if needs["spk0"] else None
    saved = (spk, syn, mem, spk0, syn0, mem0, weight, V, alpha, decay, threshold, gsf)
    sums = (ddecay, dthr, dgsf) if param_grad else (None, None, None)
    dweight, dbias, dV, dalpha, ddecay, dthr, dgsf, _ = torch_path.summed(saved, dx, ctx.needs_input_grad[:11],
                                                                         *sums, None)
    return FWD.grads(ctx, x=dx, spk0=dspk0, syn0=dx[0] * alpha if needs["syn0"] else None,
                     mem0=db0 * decay if needs["mem0"] else None, weight=dweight, bias=dbias, V=dV, alpha=dalpha,
                     decay=ddecay, threshold=dthr, gsf=dgsf)


Eager = eager_function(forward, setup_context, backward_formula)
