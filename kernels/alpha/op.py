"""The fused Alpha neuron (`fused.py`) as `torch.library` operators: `torch.ops.tritonsnn.alpha_fwd` /
`alpha_bwd` (`triton_op`s, Triton launch through `wrap_triton`) and their opaque torch twins,
registered like the LIF family's (see `tritonsnn.kernels.lif.op`)."""
from __future__ import annotations

import torch
from torch.library import triton_op

from tritonsnn._registration import fake_like, fake_per_neuron, no_context, no_double_backward
from tritonsnn.kernels.alpha import fused

alpha_fwd_torch = torch.library.custom_op("tritonsnn::alpha_fwd_torch", mutates_args=())(fused.torch_forward)
alpha_bwd_torch = torch.library.custom_op("tritonsnn::alpha_bwd_torch", mutates_args=())(fused.torch_backward)
alpha_fwd = triton_op("tritonsnn::alpha_fwd", mutates_args=())(fused.forward)
alpha_bwd = triton_op("tritonsnn::alpha_bwd", mutates_args=())(fused.backward)


@alpha_fwd_torch.register_fake
def _(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, spike_dtype, save_dtype, keep_currents, lengths):
    return fused.outputs_like(x, spike_dtype, save_dtype, keep_currents)


@alpha_bwd_torch.register_fake
def _(grad_spk, grad_exc, grad_inh, grad_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold,
      gsf, reset, sg_id, sg_params, sg_seed, param_grad, decay_grad, lengths):
    return (mem.new_empty(mem.shape, dtype=grad_spk.dtype), fake_like(grad_spk, exc0), fake_like(grad_spk, inh0),
            *(fake_per_neuron(grad_spk, decay_grad) for _ in range(3)),
            *(fake_per_neuron(grad_spk, param_grad) for _ in range(2)))



alpha_fwd.register_autograd(fused.backward_formula, setup_context=fused.setup_context)
alpha_bwd.register_autograd(no_double_backward, setup_context=no_context)
