"""Launchers of the LIF family's kernels: allocate outputs and lay tensors out as `[T, N]` (the
layout helpers, grid and block size: `tritonsnn._launch`)."""
from __future__ import annotations

import torch

from tritonsnn._launch import (empty_like_or_none, flat, incoming_grad, launch, per_neuron, per_neuron_sums, per_sample,
                               time_major)
from tritonsnn._rounding import directed
from tritonsnn.kernels.lif.kernels import lif_bwd_kernel, lif_fwd_kernel
from tritonsnn.surrogate import spec_for_kernel_id


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
    alpha1, stride_alpha = per_neuron(alpha, shape) if synaptic else (None, 0)
    decay1, stride_decay = per_neuron(decay, shape)
    thr1, stride_thr = per_neuron(threshold, shape)
    gsf1, stride_gsf = per_neuron(gsf, shape)
    lens, m = per_sample(lengths, shape)
    launch(
        lif_fwd_kernel, n, x.device,
        x2, flat(mem0), flat(syn0), alpha1, decay1, thr1, gsf1, lens,
        spk, mem, None if reset_delay else h, syn if synaptic else None,
        T, n, m, stride_x_t, stride_alpha, stride_decay, stride_thr, stride_gsf,
        RESET=reset, RESET_DELAY=reset_delay, RESET_INPUT=reset_input, SYNAPTIC=synaptic,
        HAS_MEM0=mem0 is not None, HAS_SYN0=syn0 is not None, HAS_LEN=lengths is not None,
        DIRECTED=directed(x.dtype, save_dtype), FP64=x.dtype == torch.float64,
    )
    return spk, mem, h, syn


def lif_backward(g_spk, g_mem, g_syn, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf,
                 reset: int, reset_delay: bool, reset_input: bool, sg_id: int, sg_params, sg_seed,
                 module_slope: float, param_grad: bool, alpha_grad: bool, lengths=None):
    """Returns (dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf) as `torch_path.lif_backward`
    does: parameter gradients are per-neuron sums over time; None where not asked for. dx comes in
    g_spk's dtype (the input's), which also sets the accumulation dtype. Incoming gradients past a
    sample's length (`lengths`) are ignored."""
    T, shape = mem.shape[0], mem.shape[1:]
    n = shape.numel()
    synaptic = alpha is not None
    dx = torch.empty(mem.shape, dtype=g_spk.dtype, device=mem.device)
    dmem0, dsyn0 = (empty_like_or_none(t) for t in (mem0, syn0))
    # Separate buffers: a per-neuron sum already in its parameter's shape is returned as it is.
    ddecay, dthr, dgsf = (per_neuron_sums(param_grad, shape, g_spk) for _ in range(3))
    dalpha = per_neuron_sums(alpha_grad, shape, g_spk)
    gs2, stride_gs_t, gs_bcast = incoming_grad(g_spk)
    gm2, stride_gm_t, gm_bcast = incoming_grad(g_mem)
    gi2, stride_gi_t = time_major(g_syn) if g_syn is not None else (None, 0)
    alpha1, stride_alpha = per_neuron(alpha, shape) if synaptic else (None, 0)
    decay1, stride_decay = per_neuron(decay, shape)
    thr1, stride_thr = per_neuron(threshold, shape)
    gsf1, stride_gsf = per_neuron(gsf, shape)
    lens, m = per_sample(lengths, shape)
    launch(
        lif_bwd_kernel, n, mem.device,
        gs2, gm2, gi2, mem, None if reset_delay else h, syn if alpha_grad else None,
        flat(mem0), flat(syn0), alpha1, decay1, thr1, gsf1, sg_params, sg_seed, lens,
        dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf,
        T, n, m, stride_gs_t, stride_gm_t, stride_gi_t, stride_alpha, stride_decay, stride_thr,
        stride_gsf, module_slope,
        RESET=reset, RESET_DELAY=reset_delay, RESET_INPUT=reset_input, SYNAPTIC=synaptic,
        HAS_MEM0=mem0 is not None, HAS_SYN0=syn0 is not None, HAS_GM=g_mem is not None,
        HAS_GI=g_syn is not None, PARAM_GRAD=param_grad, ALPHA_GRAD=alpha_grad,
        GS_BCAST=gs_bcast, GM_BCAST=gm_bcast, HAS_LEN=lengths is not None, SURROGATE=sg_id,
        SG_FN=spec_for_kernel_id(sg_id).triton_fn, FP64=g_spk.dtype == torch.float64,
    )
    return dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf
