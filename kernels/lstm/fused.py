"""SLSTM's fused sequence on the Triton backend: the two kernels of `kernels.py` behind one autograd
Function, with the GEMMs around them (the input's gates before, the weight gradients after) left
to cuBLAS. Where it applies (`applies`) the module runs it; elsewhere the time loop of `naive.py`."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from tritonsnn._ops import traced
from tritonsnn._registration import to_param_shape
from tritonsnn.backend import get_backend, uses_triton


def applies(x: torch.Tensor, cell: torch.nn.LSTMCell, lengths, state_quant, surrogate) -> bool:
    """Whether the kernels run a call: fp32 input and weights on the Triton backend, eager, no
    per-sample lengths or state_quant, a deterministic fused surrogate with fixed parameters."""
    return (uses_triton(x.device, get_backend()) and x.dtype == torch.float32 and x.dim() == 3
            and cell.weight_hh.dtype == torch.float32 and lengths is None and not state_quant and surrogate.fused
            and not surrogate.spec.stochastic and not surrogate.late_slope and not traced(x))


def run(x, cell: torch.nn.LSTMCell, syn0, mem0, threshold, gsf, reset: int, surrogate):
    """(spk, syn, mem) sequences of an SLSTM over `x: [T, B, input_size]` from the states (None:
    zeros), as `naive.slstm` computes them: every step's input gates one GEMM, the rest fused."""
    bias = None if cell.bias_ih is None else cell.bias_ih + cell.bias_hh
    pre = F.linear(x, cell.weight_ih, bias)
    shape = (x.shape[1], cell.hidden_size)
    syn0, mem0 = (None if s is None else s.expand(shape) for s in (syn0, mem0))
    return SLSTMSequence.apply(pre, cell.weight_hh, syn0, mem0, threshold, gsf, reset, surrogate.kernel_id,
                               surrogate.kernel_params(x))


class SLSTMSequence(torch.autograd.Function):
    """(spk, syn, mem) from the gates' input parts `pre: [T, R, 4H]` and W_hh `[4H, H]`."""

    @staticmethod
    def forward(ctx, pre, w_hh, syn0, mem0, threshold, gsf, reset, sg_id, sg_params):
        from tritonsnn.kernels.lstm.launch import slstm_forward  # imports Triton, an optional dependency

        w_hh = w_hh.contiguous()
        syn0, mem0 = (None if s is None else s.contiguous() for s in (syn0, mem0))
        spk, syn, mem, gates = slstm_forward(pre.contiguous(), w_hh, syn0, mem0, threshold, gsf, reset)
        ctx.save_for_backward(w_hh, syn, mem, gates, syn0, mem0, threshold, gsf, sg_params)
        ctx.config = (reset, sg_id)
        ctx.set_materialize_grads(False)
        return spk, syn, mem

    @staticmethod
    def backward(ctx, grad_spk, grad_syn, grad_mem):
        from tritonsnn.kernels.lstm.launch import slstm_backward

        w_hh, syn, mem, gates, syn0, mem0, threshold, gsf, sg_params = ctx.saved_tensors
        reset, sg_id = ctx.config
        T, R, H = mem.shape
        dg, dc, dthr = slstm_backward(grad_spk, grad_syn, grad_mem, w_hh, syn, mem, gates, syn0, mem0, threshold,
                                      gsf, reset, sg_id, sg_params)
        # The weight's gradient over every step at once: sum_t dG_tᵀ h_{t-1}.
        previous = torch.cat([mem.new_zeros(1, R, H) if mem0 is None else mem0.unsqueeze(0), mem[:-1]])
        dw = dg.reshape(-1, 4 * H).T @ previous.reshape(-1, H) if ctx.needs_input_grad[1] else None
        dmem0 = None if mem0 is None or not T else dg[0] @ w_hh
        dsyn0 = None if syn0 is None or not T else dc[0] * gates[0, :, H:2 * H]
        dthr_out = to_param_shape(dthr, threshold) if ctx.needs_input_grad[4] else None
        dgsf = None
        if ctx.needs_input_grad[5] and grad_spk is not None:
            dgsf = to_param_shape(grad_spk * (mem > threshold), gsf)
        return dg, dw, dsyn0, dmem0, dthr_out, dgsf, None, None, None

