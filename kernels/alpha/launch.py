"""Launchers of the fused Alpha kernels (layout and grid as for the LIF family)."""
from __future__ import annotations

import torch

from tritonsnn._dtypes import acc_dtype
from tritonsnn._launch import (empty_like_or_none, flat, incoming_grad, launch, parameters, per_neuron_sums, per_sample,
                               surrogate_constexprs, time_major)
from tritonsnn._rounding import directed
from tritonsnn.kernels.alpha.kernels import alpha_bwd_kernel, alpha_fwd_kernel
from tritonsnn.kernels.alpha.torch_path import keeps_currents


def alpha_forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset: int,
                  spike_dtype: torch.dtype, save_dtype: torch.dtype, keep_currents: bool, lengths=None):
    """Returns (spk, exc, inh, mem, exc_acc, inh_acc) as `tritonsnn.kernels.alpha.torch_path.alpha_forward`
    does."""
    T, shape = x.shape[0], x.shape[1:]
    n = shape.numel()
    spk, exc, inh, mem = (torch.empty(x.shape, dtype=dtype, device=x.device)
                          for dtype in (spike_dtype, save_dtype, save_dtype, save_dtype))
    keep = keep_currents and keeps_currents(x.dtype, save_dtype)
    exc_acc, inh_acc = (torch.empty(x.shape if keep else (0,), dtype=acc_dtype(x.dtype), device=x.device)
                        for _ in range(2))
    if T == 0 or n == 0:
        return spk, exc, inh, mem, exc_acc, inh_acc
    x2, stride_x_t = time_major(x)
    lens, m = per_sample(lengths, shape)
    launch(
        alpha_fwd_kernel, x.device,
        x_ptr=x2, exc0_ptr=flat(exc0), inh0_ptr=flat(inh0), mem0_ptr=flat(mem0), len_ptr=lens, spk_ptr=spk,
        exc_ptr=exc, inh_ptr=inh, mem_ptr=mem, exc_acc_ptr=exc_acc if keep else None,
        inh_acc_ptr=inh_acc if keep else None, **parameters(shape, a=a, b=b, tau=tau, thr=threshold, gsf=gsf),
        T=T, N=n, M=m, stride_x_t=stride_x_t,
        RESET=reset, KEEP_ACC=keep, DIRECTED=directed(x.dtype, save_dtype), FP64=x.dtype == torch.float64,
    )
    return spk, exc, inh, mem, exc_acc, inh_acc


def alpha_backward(grad_spk, grad_exc, grad_inh, grad_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold,
                   gsf, reset: int, sg_id: int, sg_params, sg_seed, param_grad: bool, decay_grad: bool, lengths=None):
    """Returns (dx, dexc0, dinh0, da, db, dtau, dthr, dgsf) as `tritonsnn.kernels.alpha.torch_path` does."""
    T, shape = mem.shape[0], mem.shape[1:]
    n = shape.numel()
    dx = torch.empty(mem.shape, dtype=grad_spk.dtype, device=mem.device)
    dexc0, dinh0 = (empty_like_or_none(t) for t in (exc0, inh0))
    da, db, dtau = (per_neuron_sums(decay_grad, shape, grad_spk) for _ in range(3))
    dthr, dgsf = (per_neuron_sums(param_grad, shape, grad_spk) for _ in range(2))
    gs2, stride_gs_t, gs_bcast = incoming_grad(grad_spk)
    gm2, stride_gm_t, gm_bcast = incoming_grad(grad_mem)
    ge2, stride_ge_t = time_major(grad_exc) if grad_exc is not None else (None, 0)
    gi2, stride_gi_t = time_major(grad_inh) if grad_inh is not None else (None, 0)
    lens, m = per_sample(lengths, shape)
    launch(
        alpha_bwd_kernel, mem.device,
        gs_ptr=gs2, ge_ptr=ge2, gi_ptr=gi2, gm_ptr=gm2, mem_ptr=mem, exc_ptr=exc if decay_grad else None,
        inh_ptr=inh if decay_grad else None, exc0_ptr=flat(exc0), inh0_ptr=flat(inh0), mem0_ptr=flat(mem0),
        sg_ptr=sg_params, seed_ptr=sg_seed, len_ptr=lens, dx_ptr=dx, dexc0_ptr=dexc0, dinh0_ptr=dinh0, da_ptr=da,
        db_ptr=db, dtau_ptr=dtau, dthr_ptr=dthr, dgsf_ptr=dgsf,
        **parameters(shape, a=a, b=b, tau=tau, thr=threshold, gsf=gsf),
        T=T, N=n, M=m, stride_gs_t=stride_gs_t, stride_ge_t=stride_ge_t, stride_gi_t=stride_gi_t,
        stride_gm_t=stride_gm_t,
        RESET=reset, PARAM_GRAD=param_grad, DECAY_GRAD=decay_grad, GS_BCAST=gs_bcast, GM_BCAST=gm_bcast,
        **surrogate_constexprs(sg_id), FP64=grad_spk.dtype == torch.float64,
    )
    return dx, dexc0, dinh0, da, db, dtau, dthr, dgsf
