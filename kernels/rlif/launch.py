"""Launchers of the recurrent LIF family's fused kernels (`kernels.py`): sequences as `[T, R, F]`,
one program per BLOCK_R rows, parameters per neuron or scalar (`tritonsnn._launch.parameters`);
launched through `wrap_triton`, so that a compiler tracing the `rlif_fwd` / `rlif_bwd` ops sees the
kernels themselves."""
from __future__ import annotations

import torch
import triton
from torch.library import wrap_triton

from tritonsnn._launch import (FP_FUSION, contiguous, parameters, per_sample, presence_flags, surrogate_constexprs,
                               time_major)
from tritonsnn.kernels.rlif.kernels import rlif_bwd_kernel, rlif_fwd_kernel

# Rows per program: tl.dot's smallest tile. The recurrence leaves the rows as a layer's only
# parallelism, so a program takes as few as a tensor-core product allows.
BLOCK_R = 16
# Features per tile and per step of the product's reduction, warps, software-pipeline stages;
# 16 features in the interpreter, so that small test layers span several tiles and a ragged one.
# Compiled for sm_90 (triton 3.9, every variant `tritonsnn.aot` builds, registers from the
# cubin), 32 x 32 tiles unpipelined take 96 to 180 registers with a Linear term (sm_80: 127 to
# 168) and 40 to 168 with the one-to-one term, and only one variant spills (16 bytes on sm_90:
# the RSynaptic forward with per-neuron parameters and every optional tensor); 64 x 64 tiles or
# the default three stages reach 255 registers and spill hundreds of bytes. With a Linear term
# registers hardly matter for occupancy: a layer has only rows / BLOCK_R programs.
GPU_BLOCKS = (32, 32, 4, 1)  # BLOCK_F, BLOCK_K, num_warps, num_stages
INTERPRETER_BLOCKS = (16, 16, 1, 1)
# fp32 products on tensor cores in three passes (each operand split into a tf32 pair): the
# spikes are 0 or gsf, so the forward's product loses only W's last bits, and the backward's
# dI W stays within a few fp32 ulps of the torch path's GEMM.
PRECISION = "tf32x3"


def blocks(device: torch.device) -> tuple[int, int, int, int]:
    return GPU_BLOCKS if device.type == "cuda" else INTERPRETER_BLOCKS


def grid(rows: int, features: int, one_to_one: bool, block_f: int) -> tuple[int, int]:
    """Programs over blocks of rows, and with the one-to-one term over tiles of features too."""
    return triton.cdiv(rows, BLOCK_R), triton.cdiv(features, block_f) if one_to_one else 1


def _shape(x: torch.Tensor) -> tuple[int, int, int]:
    """(R, F, M): the rows of a step, its features, the rows per sample (dim 1) of `[T, B, ..., F]`."""
    features = x.shape[-1]
    return x.shape[1:-1].numel(), features, x.shape[2:-1].numel()


def _state(s: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """An initial state as the kernels read it: one value per neuron of a step of `x`
    (a state that broadcasts to the step, e.g. `[F]`, expanded), contiguous, in x's dtype."""
    return None if s is None else s.to(x.dtype).expand(x.shape[1:]).reshape(-1).contiguous()


def rlif_forward(x, weight, bias, V, spk0, syn0, mem0, alpha, decay, threshold, gsf, reset: int, lengths=None):
    """(spk, syn or None, mem) over `x: [T, *rows, F]` (fp32): the recurrent current
    `S[t-1] weightᵀ + bias`, or `S[t-1] V` where `weight` is None, enters every step; per-sample
    `lengths` ([B], x's dim 1) end each sample's outputs in zeros."""
    rows, features, m = _shape(x)
    synaptic = alpha is not None
    spk, mem = torch.empty_like(x), torch.empty_like(x)
    syn = torch.empty_like(x) if synaptic else None
    x2, stride_x_t = time_major(x)
    block_f, block_k, warps, stages = blocks(x.device)
    lens, _ = per_sample(lengths, x.shape[1:])
    args = dict(x_ptr=x2, w_ptr=contiguous(weight), bias_ptr=bias, spk0_ptr=_state(spk0, x),
                syn0_ptr=_state(syn0, x), mem0_ptr=_state(mem0, x), len_ptr=lens, spk_ptr=spk, syn_ptr=syn,
                mem_ptr=mem)
    wrap_triton(rlif_fwd_kernel)[grid(rows, features, weight is None, block_f)](
        **args, **presence_flags(rlif_fwd_kernel, args),
        **parameters(x.shape[1:], v=V, alpha=alpha, decay=decay, thr=threshold, gsf=gsf),
        T=x.shape[0], R=rows, F=features, M=m, stride_x_t=stride_x_t,
        RESET=reset, SYNAPTIC=synaptic, ONE_TO_ONE=weight is None,
        PRECISION=PRECISION, BLOCK_R=BLOCK_R, BLOCK_F=block_f, BLOCK_K=block_k, num_warps=warps,
        num_stages=stages, enable_fp_fusion=FP_FUSION,
    )
    return spk, syn, mem


def rlif_backward(g_spk, g_syn, g_mem, mem, mem0, weight, V, alpha, decay, threshold, gsf, reset: int, sg_id: int,
                  sg_params, param_grad: bool, lengths=None):
    """(dx, db0, ddecay, dthr, dgsf): dI_t for every step (= dL/dX_t), the membrane path's dB_0
    (dL/dU_0 is decay times it), and the per-neuron parameter sums over time, shaped like a step
    (None unless `param_grad`). Incoming gradients may be None (no gradient)."""
    rows, features, m = _shape(mem)
    synaptic = alpha is not None
    dx = torch.empty_like(mem)
    db = torch.empty((2, *mem.shape[1:]), dtype=mem.dtype, device=mem.device) if synaptic else None
    ddecay, dthr, dgsf = (torch.zeros(mem.shape[1:], dtype=mem.dtype, device=mem.device) if param_grad else None
                          for _ in range(3))
    block_f, block_k, warps, stages = blocks(mem.device)
    lens, _ = per_sample(lengths, mem.shape[1:])
    args = dict(gs_ptr=contiguous(g_spk), gm_ptr=contiguous(g_mem), gi_ptr=contiguous(g_syn),
                w_ptr=contiguous(weight), mem_ptr=mem, mem0_ptr=_state(mem0, mem), sg_ptr=sg_params, len_ptr=lens,
                dx_ptr=dx, db_ptr=db, ddecay_ptr=ddecay, dthr_ptr=dthr, dgsf_ptr=dgsf)
    wrap_triton(rlif_bwd_kernel)[grid(rows, features, weight is None, block_f)](
        **args, **presence_flags(rlif_bwd_kernel, args),
        **parameters(mem.shape[1:], v=V, alpha=alpha, decay=decay, thr=threshold, gsf=gsf),
        T=mem.shape[0], R=rows, F=features, M=m,
        RESET=reset, SYNAPTIC=synaptic, ONE_TO_ONE=weight is None, PARAM_GRAD=param_grad, **_deterministic(sg_id),
        PRECISION=PRECISION, BLOCK_R=BLOCK_R, BLOCK_F=block_f, BLOCK_K=block_k, num_warps=warps, num_stages=stages,
        enable_fp_fusion=FP_FUSION,
    )
    db0 = dx[0].clone() if db is None else db[0]  # not a view of dx: an op's outputs may not alias
    return dx, db0, ddecay, dthr, dgsf


def _deterministic(sg_id: int) -> dict:
    """The surrogate's SG_FN; the kernels take no stochastic surrogate (`fused.applies`)."""
    constexprs = surrogate_constexprs(sg_id)
    if constexprs.pop("STOCHASTIC"):
        raise ValueError("the fused recurrent backward takes deterministic surrogates only")
    return constexprs
