"""The recurrent LIF family's fused sequence: RLeaky / RSynaptic with a Linear or one-to-one
recurrent term over a whole sequence as one autograd node around the two kernels of `kernels.py`.

Scope (`applies`): the Triton backend, fp32 inputs, weights (or V) and saved states, the delayed
reset, a fused deterministic surrogate, more than one step, eager. Everything else runs as it
did before (the torch path's Function on CPU, or the recurrent term and the LIF family's fused
single step, step by step: `tritonsnn._recurrent`). The parameters' gradients after the scan are
the torch path's (`torch_path.summed`), from the same saved tensors.
"""
from __future__ import annotations

import torch

from tritonsnn._registration import with_module_slope
from tritonsnn._step import keep_for_backward, one_step_backward
from tritonsnn.backend import get_backend, uses_triton
from tritonsnn.kernels.rlif import torch_path


def applies(x: torch.Tensor, term: torch.Tensor, reset_delay: bool, save_dtype, surrogate) -> bool:
    """Whether a sequence like `x` with a Linear term of weight `term` (or the one-to-one term
    of V `term`) runs as one `FusedSequence`. A
    single step does not: it is the recurrent term and the LIF family's step, bitwise what a
    settled single-step call computes (`tritonsnn._recurrent.RecurrentStep`)."""
    return (reset_delay and surrogate.fused and not surrogate.spec.stochastic and x.dim() >= 2 and x.shape[0] > 1
            and x.numel() > 0
            and x.dtype == torch.float32 and term.dtype == torch.float32 and save_dtype in (None, torch.float32)
            and not torch.compiler.is_compiling() and uses_triton(x.device, get_backend()))


def run(x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, reset: int, surrogate, lengths=None):
    """(spk_seq, syn_seq or None, mem_seq) over `x: [T, *rows, F]`, as `torch_path.run` gives
    them for a Linear term (`weight`, `bias`) or, `weight` None, the one-to-one term (`V`)."""
    config = (reset, surrogate.kernel_id, surrogate.kernel_params(x), lengths)
    return FusedSequence.apply(x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, config)


class FusedSequence(torch.autograd.Function):
    """The recurrent neuron over `x: [T, *rows, F]` from the spikes, current and membrane before
    it (None: zeros), its recurrent term ``S Wᵀ + b`` or, `weight` None, ``S V``; `alpha` None
    means RLeaky. `config` =
    (reset, sg_id, sg_params, lengths or None)."""

    @staticmethod
    def forward(ctx, x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, config):
        from tritonsnn.kernels.rlif.launch import rlif_forward  # imports Triton, an optional dependency

        reset, lengths = config[0], config[-1]
        spk, syn, mem = rlif_forward(x, weight, bias, V, spk0, syn0, mem0, alpha, decay, threshold, gsf, reset,
                                     lengths)
        keep_for_backward(ctx, config, spk, syn, mem, spk0, syn0, mem0, weight, V, alpha, decay, threshold, gsf)
        return spk, syn, mem

    @staticmethod
    def backward(ctx, g_spk, g_syn, g_mem):
        return one_step_backward(_gradients, ctx, g_spk, g_syn, g_mem)


def _gradients(ctx, g_spk, g_syn, g_mem) -> tuple:
    from tritonsnn.kernels.rlif.launch import rlif_backward

    spk, syn, mem, spk0, syn0, mem0, weight, V, alpha, decay, threshold, gsf = ctx.saved_tensors
    reset, sg_id, sg_params, lengths = ctx.config
    needs = ctx.needs_input_grad
    param_grad = needs[8] or needs[9] or needs[10]
    dx, db0, ddecay, dthr, dgsf = rlif_backward(g_spk, g_syn, g_mem, mem, mem0, weight, V, alpha, decay, threshold,
                                                gsf, reset, sg_id, with_module_slope(sg_id, sg_params), param_grad,
                                                lengths)
    dspk0 = (dx[0] * V if weight is None else torch.matmul(dx[0], weight)) if needs[1] else None
    dsyn0 = dx[0] * alpha if needs[2] else None
    dmem0 = db0 * decay if needs[3] else None
    return (dx if needs[0] else None, dspk0, dsyn0, dmem0,
            *torch_path.summed(ctx.saved_tensors, dx, needs, ddecay, dthr, dgsf, None))
