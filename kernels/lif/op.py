"""The LIF family's fused neuron (`fused.py`) as `torch.library` operators in the `tritonsnn`
namespace, what torch.compile, torch.export and torch.func transforms see.

`torch.ops.tritonsnn.lif_fwd` / `lif_bwd` are `triton_op`s: on the Triton path they launch the
kernels through `wrap_triton`, so `torch.compile` sees the kernels themselves; elsewhere they call
the vectorised torch implementation, registered as the opaque ops `lif_fwd_torch` /
`lif_bwd_torch` so that the compiler neither traces nor unrolls its time loop. The schemas hold no
Python objects: a surrogate travels as its kernel id and a two-element fp64 tensor of parameters
(plus a seed tensor for the stochastic one). Parameters in a tensor, not floats, keep
torch.compile from specialising a graph on each slope value.

Autograd is registered on `lif_fwd` with the formulas of `fused.py`, whose backward calls
`lif_bwd` when traced; `lif_bwd`'s own derivative is a clear error (double backward through a
fused neuron is not supported).
"""
from __future__ import annotations

import torch
from torch.library import triton_op

from tritonsnn._registration import fake_like, fake_per_neuron, no_context, no_double_backward
from tritonsnn.kernels.lif import fused

lif_fwd_torch = torch.library.custom_op("tritonsnn::lif_fwd_torch", mutates_args=())(fused.torch_forward)
lif_bwd_torch = torch.library.custom_op("tritonsnn::lif_bwd_torch", mutates_args=())(fused.torch_backward)
lif_fwd = triton_op("tritonsnn::lif_fwd", mutates_args=())(fused.forward)
lif_bwd = triton_op("tritonsnn::lif_bwd", mutates_args=())(fused.backward)


@lif_fwd_torch.register_fake
def _(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input, spike_dtype, save_dtype,
      lengths):
    return fused.outputs_like(x, reset_delay, alpha is not None, spike_dtype, save_dtype)


@lif_bwd_torch.register_fake
def _(grad_spk, grad_mem, grad_syn, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, reset,
      reset_delay, reset_input, sg_id, sg_params, sg_seed, param_grad, alpha_grad, lengths):
    return (mem.new_empty(mem.shape, dtype=grad_spk.dtype), fake_like(grad_spk, mem0),
            fake_like(grad_spk, syn0), fake_per_neuron(grad_spk, alpha_grad),
            *(fake_per_neuron(grad_spk, param_grad) for _ in range(3)))


lif_fwd.register_autograd(fused.backward_formula, setup_context=fused.setup_context)
lif_bwd.register_autograd(no_double_backward, setup_context=no_context)
