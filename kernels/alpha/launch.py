"""Launchers of the fused Alpha kernels (layout and grid as for the LIF family)."""
from __future__ import annotations

import torch

from tritonsnn._dtypes import acc_dtype
from tritonsnn._launch import (empty_like_or_none, flat, incoming_grad, launch, per_neuron, per_neuron_sums, per_sample,
                               time_major)
from tritonsnn._rounding import directed
from tritonsnn.kernels.alpha.kernels import alpha_bwd_kernel, alpha_fwd_kernel
from tritonsnn.kernels.alpha.torch_path import keeps_currents
from tritonsnn.surrogate import spec_for_kernel_id


def alpha_forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset: int,
                  spike_dtype: torch.dtype, save_dtype: torch.dtype, keep_currents: bool, lengths=None):
    """Returns (spk, exc, inh, mem, exc_acc, inh_acc) as `tritonsnn.kernels.alpha.torch_path.alpha_forward`
    does."""
    T, shape = x.shape[0], x.shape[1:]
    n = shape.numel()
    outs = [torch.empty(x.shape, dtype=dtype, device=x.device) for dtype in (spike_dtype, *[save_dtype] * 3)]
    keep = keep_currents and keeps_currents(x.dtype, save_dtype)
    outs += [torch.empty(x.shape if keep else (0,), dtype=acc_dtype(x.dtype), device=x.device) for _ in range(2)]
    if T == 0 or n == 0:
        return tuple(outs)
    x2, stride_x_t = time_major(x)
    params = [per_neuron(p, shape) for p in (a, b, tau, threshold, gsf)]
    lens, m = per_sample(lengths, shape)
    launch(
        alpha_fwd_kernel, n, x.device,
        x2, flat(exc0), flat(inh0), flat(mem0), *(p for p, _ in params), lens, *outs[:4],
        *(outs[4:] if keep else (None, None)),
        T, n, m, stride_x_t, *(s for _, s in params),
        RESET=reset, HAS_EXC0=exc0 is not None, HAS_INH0=inh0 is not None, HAS_MEM0=mem0 is not None,
        HAS_LEN=lengths is not None, KEEP_ACC=keep, DIRECTED=directed(x.dtype, save_dtype),
        FP64=x.dtype == torch.float64,
    )
    return tuple(outs)


def alpha_backward(g_spk, g_exc, g_inh, g_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold,
                   gsf, reset: int, sg_id: int, sg_params, sg_seed, module_slope: float, param_grad: bool,
                   decay_grad: bool, lengths=None):
    """Returns (dx, dexc0, dinh0, da, db, dtau, dthr, dgsf) as `tritonsnn.kernels.alpha.torch_path` does."""
    T, shape = mem.shape[0], mem.shape[1:]
    n = shape.numel()
    dx = torch.empty(mem.shape, dtype=g_spk.dtype, device=mem.device)
    dexc0, dinh0 = (empty_like_or_none(t) for t in (exc0, inh0))
    da, db, dtau = (per_neuron_sums(decay_grad, shape, g_spk) for _ in range(3))
    dthr, dgsf = (per_neuron_sums(param_grad, shape, g_spk) for _ in range(2))
    gs2, stride_gs_t, gs_bcast = incoming_grad(g_spk)
    gm2, stride_gm_t, gm_bcast = incoming_grad(g_mem)
    ge2, stride_ge_t = time_major(g_exc) if g_exc is not None else (None, 0)
    gi2, stride_gi_t = time_major(g_inh) if g_inh is not None else (None, 0)
    params = [per_neuron(p, shape) for p in (a, b, tau, threshold, gsf)]
    lens, m = per_sample(lengths, shape)
    launch(
        alpha_bwd_kernel, n, mem.device,
        gs2, ge2, gi2, gm2, mem, exc if decay_grad else None, inh if decay_grad else None,
        flat(exc0), flat(inh0), flat(mem0), *(p for p, _ in params), sg_params, sg_seed, lens,
        dx, dexc0, dinh0, da, db, dtau, dthr, dgsf,
        T, n, m, stride_gs_t, stride_ge_t, stride_gi_t, stride_gm_t, *(s for _, s in params), module_slope,
        RESET=reset, HAS_EXC0=exc0 is not None, HAS_INH0=inh0 is not None, HAS_MEM0=mem0 is not None,
        HAS_GE=g_exc is not None, HAS_GI=g_inh is not None, HAS_GM=g_mem is not None,
        PARAM_GRAD=param_grad, DECAY_GRAD=decay_grad, GS_BCAST=gs_bcast, GM_BCAST=gm_bcast,
        HAS_LEN=lengths is not None, SURROGATE=sg_id, SG_FN=spec_for_kernel_id(sg_id).triton_fn,
        FP64=g_spk.dtype == torch.float64,
    )
    return dx, dexc0, dinh0, da, db, dtau, dthr, dgsf
