"""Launchers of the LIF family's kernels: allocate outputs and lay tensors out as `[T, N]` (the
layout helpers, grid and block size: `tritonsnn._launch`)."""
from __future__ import annotations

import torch

from tritonsnn._dtypes import acc_dtype
from tritonsnn._launch import (backward_chunks, empty_like_or_none, flat, incoming_grad, launch, parameters,
                               per_neuron_sums, per_sample, surrogate_constexprs, time_major)
from tritonsnn._rounding import directed
from tritonsnn.kernels.lif.kernels import lif_bwd_kernel, lif_bwd_map_kernel, lif_fwd_kernel


def lif_forward(x, mem0, syn0, alpha, decay, threshold, gsf, reset: int, reset_delay: bool,
                reset_input: bool, spike_dtype: torch.dtype, save_dtype: torch.dtype, lengths=None):
    """Returns (spk, mem, h, syn): h is the pre-reset membrane when reset_delay=False and syn the
    synaptic current when alpha is given; each is an empty tensor otherwise. Spikes come in
    `spike_dtype`, the state sequences in `save_dtype` (the kernel rounds each membrane on store to
    the side of the threshold it decided, `_on_side`). With `lengths` ([B] int64, x's dim 1),
    every output past a sample's length is 0."""
    T, shape = x.shape[0], x.shape[1:]
    n = shape.numel()
    synaptic = alpha is not None
    spk = torch.empty(x.shape, dtype=spike_dtype, device=x.device)
    mem = torch.empty(x.shape, dtype=save_dtype, device=x.device)
    h = torch.empty(x.shape if not reset_delay else (0,), dtype=save_dtype, device=x.device)
    syn = torch.empty(x.shape if synaptic else (0,), dtype=save_dtype, device=x.device)
    if T == 0 or n == 0:
        return spk, mem, h, syn
    x2, stride_x_t = time_major(x)
    lens, m = per_sample(lengths, shape)
    launch(
        lif_fwd_kernel, x.device,
        x_ptr=x2, mem0_ptr=flat(mem0), syn0_ptr=flat(syn0), len_ptr=lens, spk_ptr=spk, mem_ptr=mem,
        h_ptr=None if reset_delay else h, syn_ptr=syn if synaptic else None,
        **parameters(shape, alpha=alpha, decay=decay, thr=threshold, gsf=gsf),
        T=T, N=n, M=m, stride_x_t=stride_x_t,
        RESET=reset, RESET_DELAY=reset_delay, RESET_INPUT=reset_input, SYNAPTIC=synaptic,
        DIRECTED=directed(x.dtype, save_dtype), FP64=x.dtype == torch.float64,
    )
    return spk, mem, h, syn


def lif_backward(grad_spk, grad_mem, grad_syn, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf,
                 reset: int, reset_delay: bool, reset_input: bool, sg_id: int, sg_params, sg_seed,
                 param_grad: bool, alpha_grad: bool, lengths=None):
    """Returns (dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf) as `torch_path.lif_backward`
    does: parameter gradients are per-neuron sums over time; None where not asked for. dx comes in
    grad_spk's dtype (the input's), which also sets the accumulation dtype. Incoming gradients past
    a sample's length (`lengths`) are ignored."""
    T, shape = mem.shape[0], mem.shape[1:]
    n = shape.numel()
    synaptic = alpha is not None
    dx = torch.empty(mem.shape, dtype=grad_spk.dtype, device=mem.device)
    dmem0, dsyn0 = (empty_like_or_none(t) for t in (mem0, syn0))
    # A small layer's scan splits into chunks of time (`backward_chunks`): pass 1 stores each
    # chunk's carry map, pass 2 scans every chunk from the carries the maps give.
    chunks = backward_chunks(n, T, mem.device)
    sums_shape = shape if chunks == 1 else (chunks, *shape)
    # Separate buffers: a per-neuron sum already in its parameter's shape is returned as it is.
    ddecay, dthr, dgsf = (per_neuron_sums(param_grad, sums_shape, grad_spk) for _ in range(3))
    dalpha = per_neuron_sums(alpha_grad, sums_shape, grad_spk)
    gs2, stride_gs_t, gs_bcast = incoming_grad(grad_spk)
    gm2, stride_gm_t, gm_bcast = incoming_grad(grad_mem)
    gi2, stride_gi_t = time_major(grad_syn) if grad_syn is not None else (None, 0)
    lens, m = per_sample(lengths, shape)
    common = dict(
        gs_ptr=gs2, gm_ptr=gm2, gi_ptr=gi2, mem_ptr=mem, h_ptr=None if reset_delay else h, mem0_ptr=flat(mem0),
        sg_ptr=sg_params, seed_ptr=sg_seed, len_ptr=lens,
        **parameters(shape, alpha=alpha, decay=decay, thr=threshold, gsf=gsf),
        T=T, N=n, M=m, stride_gs_t=stride_gs_t, stride_gm_t=stride_gm_t, stride_gi_t=stride_gi_t,
        RESET=reset, RESET_DELAY=reset_delay, RESET_INPUT=reset_input, SYNAPTIC=synaptic,
        GS_BCAST=gs_bcast, GM_BCAST=gm_bcast, **surrogate_constexprs(sg_id), FP64=grad_spk.dtype == torch.float64,
    )
    maps = None
    if chunks > 1:
        maps = torch.empty((5, chunks, n), dtype=acc_dtype(grad_spk.dtype), device=mem.device)
        launch(lif_bwd_map_kernel, mem.device, chunks=chunks - 1, maps_ptr=maps, **common)
    launch(
        lif_bwd_kernel, mem.device, chunks=chunks if chunks > 1 else 0, **common,
        syn_ptr=syn if alpha_grad else None, syn0_ptr=flat(syn0), dx_ptr=dx, dmem0_ptr=dmem0, dsyn0_ptr=dsyn0,
        dalpha_ptr=dalpha, ddecay_ptr=ddecay, dthr_ptr=dthr, dgsf_ptr=dgsf, maps_ptr=maps,
        PARAM_GRAD=param_grad, ALPHA_GRAD=alpha_grad,
    )
    if chunks > 1:
        ddecay, dthr, dgsf, dalpha = (None if g is None else g.sum(0) for g in (ddecay, dthr, dgsf, dalpha))
    return dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf
