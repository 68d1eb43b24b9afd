"""Launchers of SLSTM's fused kernels (`kernels.py`): sequences `[T, R, H]` and gates `[T, R, 4H]`,
one program per BLOCK_R rows (the recurrent family's), the threshold and graded spike factor per
neuron or scalar (`tritonsnn._launch.parameters`). Imports Triton: `fused.py` imports this
module only when a kernel runs."""
from __future__ import annotations

import torch
import triton

from tritonsnn._launch import FP_FUSION, contiguous, parameters, presence_flags, surrogate_constexprs
from tritonsnn.kernels.lstm.kernels import slstm_bwd_kernel, slstm_fwd_kernel
from tritonsnn.kernels.rlif.launch import BLOCK_R, INTERPRETER_BLOCKS, PRECISION

# Units per tile and per step of the product's reduction, warps, pipeline stages: the recurrent
# family's tiles with twice the warps, since a tile holds four gates. Compiled for sm_90 (triton
# 3.9, `tritonsnn.aot`), 32 x 32 tiles take 171 registers forward and 166 backward without spills
# at 8 warps (at 4 warps the forward spills 152 bytes); sm_80 caps them at 128 and spills 40 and
# 24 bytes.
GPU_BLOCKS = (32, 32, 8, 1)  # BLOCK_F, BLOCK_K, num_warps, num_stages


def _tiles(device: torch.device) -> dict:
    block_f, block_k, warps, stages = GPU_BLOCKS if device.type == "cuda" else INTERPRETER_BLOCKS
    return dict(PRECISION=PRECISION, BLOCK_R=BLOCK_R, BLOCK_F=block_f, BLOCK_K=block_k, num_warps=warps,
                num_stages=stages, enable_fp_fusion=FP_FUSION)


def slstm_forward(pre, w_hh, syn0, mem0, threshold, gsf, reset: int):
    """(spk, syn, mem, gates) from the gates' input parts `pre: [T, R, 4H]`, W_hh `[4H, H]` and
    the initial states `[R, H]` (None: zeros), all contiguous fp32."""
    T, R, H = pre.shape[0], pre.shape[1], pre.shape[2] // 4
    spk, syn, mem = (pre.new_empty(T, R, H) for _ in range(3))
    gates = pre.new_empty(T, R, 4 * H)
    if T and R and H:
        args = dict(pre_ptr=pre, w_ptr=w_hh, syn0_ptr=syn0, mem0_ptr=mem0, spk_ptr=spk, syn_ptr=syn, mem_ptr=mem,
                    gates_ptr=gates)
        slstm_fwd_kernel[(triton.cdiv(R, BLOCK_R),)](
            **args, **presence_flags(slstm_fwd_kernel, args), **parameters(torch.Size((R, H)), thr=threshold, gsf=gsf),
            T=T, R=R, H=H, RESET=reset, **_tiles(pre.device))
    return spk, syn, mem, gates


def slstm_backward(grad_spk, grad_syn, grad_mem, w_hh, syn, mem, gates, syn0, mem0, threshold, gsf, reset: int,
                   sg_id: int, sg_params):
    """(dG `[T, R, 4H]`, dc `[2, R, H]` with dc_0 in slot 0, the threshold's per-neuron sums
    `[R, H]`) from the incoming gradients (None: zero) and what the forward saved."""
    T, R, H = mem.shape
    dg = torch.empty_like(gates)
    dc = mem.new_empty(2, R, H)
    dthr = mem.new_zeros(R, H)  # summed over time in place
    if T and R and H:
        args = dict(gs_ptr=contiguous(grad_spk), gm_ptr=contiguous(grad_mem), gc_ptr=contiguous(grad_syn), w_ptr=w_hh,
                    syn_ptr=syn, mem_ptr=mem, gates_ptr=gates, syn0_ptr=syn0, mem0_ptr=mem0, sg_ptr=sg_params,
                    dg_ptr=dg, dc_ptr=dc, dthr_ptr=dthr)
        slstm_bwd_kernel[(triton.cdiv(R, BLOCK_R),)](
            **args, **presence_flags(slstm_bwd_kernel, args), **parameters(torch.Size((R, H)), thr=threshold, gsf=gsf),
            T=T, R=R, H=H, RESET=reset, **surrogate_constexprs(sg_id), **_tiles(mem.device))
    return dg, dc, dthr
