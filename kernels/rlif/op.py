"""The recurrent family's fused sequence (`fused.py`) as `torch.library` operators:
`torch.ops.tritonsnn.rlif_fwd` / `rlif_bwd`, `triton_op`s whose kernels a compiler sees through
`wrap_triton`, registered like the LIF family's (`tritonsnn.kernels.lif.op`). They exist only for
the Triton backend (`fused.applies`): the torch path's recurrent sequence is not an op."""
from __future__ import annotations

from torch.library import triton_op

from tritonsnn._registration import fake_like, no_context, no_double_backward
from tritonsnn.kernels.rlif import fused

rlif_fwd = triton_op("tritonsnn::rlif_fwd", mutates_args=())(fused.forward)
rlif_bwd = triton_op("tritonsnn::rlif_bwd", mutates_args=())(fused.backward)


@rlif_fwd.register_fake
def _(x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, reset, sg_id, sg_params, lengths):
    return x.new_empty(x.shape), fake_like(x, x if alpha is not None else None), x.new_empty(x.shape)


@rlif_bwd.register_fake
def _(grad_spk, grad_syn, grad_mem, mem, mem0, weight, V, alpha, decay, threshold, gsf, reset, sg_id, sg_params,
      param_grad, lengths):
    step = mem.new_empty(mem.shape[1:])
    return (mem.new_empty(mem.shape), step, *(fake_like(mem, step if param_grad else None) for _ in range(3)))


rlif_fwd.register_autograd(fused.backward_formula, setup_context=fused.setup_context)
rlif_bwd.register_autograd(no_double_backward, setup_context=no_context)
