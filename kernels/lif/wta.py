"""The LIF family's winner-take-all neuron (snnTorch's `inhibition`) on the Triton backend: one
forward and one backward kernel over a whole sequence (`wta_kernels.py`), behind one autograd
Function, for Leaky and Synaptic where the kernels apply (`applies`); the modules run the
oracle's loop elsewhere."""
from __future__ import annotations

import torch

from tritonsnn._ops import traced
from tritonsnn._registration import to_param_shape
from tritonsnn.backend import get_backend, uses_triton

MAX_NEURONS = 4096
"""The most neurons per sample: a program holds whole samples, every state of a step in registers."""


def applies(x: torch.Tensor, params: tuple, lengths, reset_delay: bool, surrogate) -> bool:
    """Whether the kernels run this call: fp32 steps `[B, N]` on the Triton backend, eager, the
    delayed reset, no per-sample lengths, a deterministic fused surrogate with its parameters
    fixed, and parameters that are one value or one per neuron (not per sample). Raises where
    only the sample size stands in the way (more than MAX_NEURONS neurons)."""
    if not (uses_triton(x.device, get_backend()) and x.dtype == torch.float32 and x.dim() == 3
            and lengths is None and reset_delay and surrogate.fused and not surrogate.spec.stochastic
            and not surrogate.late_slope and not traced(x)
            and all(p is None or _row(p, x.shape[2]) is not None for p in params)):
        return False
    if x.shape[2] > MAX_NEURONS:
        raise ValueError(f"inhibition on the Triton backend holds a whole sample in one program: at most "
                         f"{MAX_NEURONS} neurons per sample, got {x.shape[2]} (run the layer on the CPU, or split it)")
    return True


def _row(p: torch.Tensor, n: int) -> tuple[torch.Tensor, bool] | None:
    """A parameter as the kernels read it: one value, or one per neuron (True); None where it
    varies over the batch."""
    if p.numel() == 1:
        return p.reshape(1), False
    if p.dim() > 2 or any(d != 1 for d in p.shape[:-1]) or p.shape[-1] not in (1, n):
        return None
    return p.reshape(-1).expand(n).contiguous(), True


def _launch(kernel_name: str, B: int, N: int, sg_id: int | None = None, **args) -> None:
    """Launch a kernel of `wta_kernels.py` (imported here: Triton is an optional dependency) over
    the samples: every tensor it reads contiguous (an incoming gradient from `.sum()` is
    materialised), its HAS_* flags from the pointers given (`presence_flags`), surrogate `sg_id`
    inlined where given. Its tile is ROWS samples of BLOCK_N neurons (at most 2048 values unless
    one sample is larger), at 8 values a thread (the backward keeps about a dozen per value in
    registers: 112-128 a thread at sm_90, without spills)."""
    import triton

    from tritonsnn._launch import FP_FUSION, contiguous, presence_flags, surrogate_constexprs
    from tritonsnn.kernels.lif import wta_kernels

    kernel = getattr(wta_kernels, kernel_name)
    args = {k: contiguous(v) if isinstance(v, torch.Tensor) else v for k, v in args.items()}
    args.update(presence_flags(kernel, args))
    if sg_id is not None:
        args.update(surrogate_constexprs(sg_id))

    block_n = triton.next_power_of_2(N)
    rows = max(1, min(16, 2048 // block_n))
    warps = max(1, min(16, rows * block_n // 256))
    kernel[(triton.cdiv(B, rows),)](
        **args, B=B, N=N, ROWS=rows, BLOCK_N=block_n, num_warps=warps, enable_fp_fusion=FP_FUSION)


def _flags(N: int, **params) -> dict:
    out = {}
    for name, p in params.items():
        row = None if p is None else _row(p, N)
        out[f"{name}_ptr"], out[f"{name.upper()}_PER_NEURON"] = (None, False) if row is None else row
    return out


class WinnerTakeAll(torch.autograd.Function):
    """(spk, mem_seq, syn_seq) of a Leaky (alpha None) or Synaptic over `x: [T, B, N]`."""

    @staticmethod
    def forward(ctx, x, mem0, syn0, alpha, decay, threshold, reset, sg_id, sg_params):
        T, B, N = x.shape
        x = x.contiguous()
        synaptic = alpha is not None
        spk, mem = torch.empty_like(x), torch.empty_like(x)
        syn = torch.empty_like(x) if synaptic else x.new_empty(0)
        mem0 = None if mem0 is None else mem0.contiguous()
        syn0 = None if syn0 is None else syn0.contiguous()
        if T and B and N:
            _launch("wta_fwd_kernel", B, N, x_ptr=x, mem0_ptr=mem0, syn0_ptr=syn0, spk_ptr=spk, mem_ptr=mem,
                    syn_ptr=syn if synaptic else None, **_flags(N, alpha=alpha, decay=decay, thr=threshold), T=T,
                    RESET=reset, SYNAPTIC=synaptic)
        ctx.save_for_backward(mem, syn, mem0, syn0, alpha, decay, threshold, sg_params)
        ctx.config = (reset, sg_id)
        ctx.set_materialize_grads(False)
        return spk, mem, syn

    @staticmethod
    def backward(ctx, grad_spk, grad_mem, grad_syn):
        mem, syn, mem0, syn0, alpha, decay, threshold, sg_params = ctx.saved_tensors
        reset, sg_id = ctx.config
        T, B, N = mem.shape
        synaptic = alpha is not None
        # The kernel writes every element; with no step or no neuron the gradients are zeros.
        written = T and B and N
        new = torch.empty_like if written else torch.zeros_like
        dx = new(mem)
        dmem0, dsyn0 = (None if s is None else new(s) for s in (mem0, syn0))
        # alpha's, the decay's and the threshold's per-neuron sums
        sums = (torch.empty if written else torch.zeros)(3, B, N, dtype=mem.dtype, device=mem.device)
        if written:
            _launch("wta_bwd_kernel", B, N, gs_ptr=grad_spk, gm_ptr=grad_mem, gi_ptr=grad_syn if synaptic else None,
                    mem_ptr=mem, syn_ptr=syn if synaptic else None, mem0_ptr=mem0, syn0_ptr=syn0,
                    **_flags(N, alpha=alpha, decay=decay, thr=threshold), sg_ptr=sg_params, dx_ptr=dx, dmem0_ptr=dmem0,
                    dsyn0_ptr=dsyn0, dalpha_ptr=sums[0], ddecay_ptr=sums[1], dthr_ptr=sums[2], T=T,
                    RESET=reset, SYNAPTIC=synaptic, sg_id=sg_id)
        dalpha, ddecay, dthr = (None if p is None else to_param_shape(s, p)
                                for s, p in zip(sums, (alpha, decay, threshold)))
        return dx, dmem0, dsyn0, dalpha, ddecay, dthr, None, None, None


def run(x, mem0, syn0, alpha, decay, threshold, reset: int, surrogate):
    """(spk, mem_seq, syn_seq) of the winner-take-all Leaky (alpha None) or Synaptic from the
    initial states (None: zeros; else broadcast to a step, `[B, N]`); `decay` and `alpha` as used
    (clamped). Call where `applies`."""
    shape = x.shape[1:]
    mem0, syn0 = (None if s is None else s.expand(shape) for s in (mem0, syn0))
    return WinnerTakeAll.apply(x, mem0, syn0, alpha, decay, threshold, reset, surrogate.kernel_id,
                               surrogate.kernel_params(x))
