"""Forward-mode AD through the fused neurons: `torch.func.jvp`, `torch.func.jacfwd` and
`torch.autograd.forward_ad`.

The fused ops register a backward only, so on their own they hand forward mode no tangent at all
(PyTorch then treats their outputs as constants). When forward AD is active, each functional
neuron adds to its outputs a zero from `_LIFTangents` / `_AlphaTangents`: autograd Functions whose
value is zero and whose `jvp` is the tangent of the whole sequence, computed by a torch recurrence
from the stored states (`_lif_torch.lif_jvp`, `_alpha_torch.alpha_jvp`, on any backend). Reverse
mode is untouched: the zero's backward is empty, and the op's own backward still runs.
"""
from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwAD

from tritonsnn import _alpha_torch, _lif_torch
from tritonsnn import surrogate as surrogates
from tritonsnn.ops import surrogate_floats, torch_surrogate_grad


def active(*tensors) -> bool:
    """Whether forward AD is recording and any of `tensors` carries a tangent (cheap when it is
    not: one read of the forward-AD level)."""
    if getattr(fwAD, "_current_level", 0) < 0:
        return False
    return any(t is not None and fwAD.unpack_dual(t).tangent is not None for t in tensors)


def _surrogate_grad(surrogate, seed, device):
    """The surrogate's torch twin `grad_(x, g, *params)` and its parameters, as the torch
    backward uses them (a stochastic one seeded with the forward's seed)."""
    if not surrogate.fused:
        return surrogates.custom_grad(surrogate.fn), ()
    params = surrogate_floats(surrogate.kernel_id, surrogate.kernel_params(torch.empty(0)), float(surrogates.slope))
    return torch_surrogate_grad(surrogate.kernel_id, seed, device), params


def lif_tangents(tangents, x_dtype, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, config):
    """Tangents of the LIF op's (spk, mem, syn) in their dtypes, for the tangents of
    (x, mem0, syn0, alpha, decay, threshold, gsf); `config` = (reset, reset_delay, reset_input,
    surrogate, seed, lengths)."""
    reset, reset_delay, reset_input, surrogate, seed, lengths = config
    if mem.numel() == 0:
        return torch.zeros_like(mem, dtype=x_dtype), torch.zeros_like(mem), torch.zeros_like(syn)
    grad_, params = _surrogate_grad(surrogate, seed, mem.device)
    d_spk, d_mem, d_syn = _lif_torch.lif_jvp(tangents, x_dtype, mem, h, syn, mem0, syn0, alpha, decay, threshold,
                                             gsf, reset, reset_delay, reset_input, grad_, params, lengths)
    return d_spk.to(x_dtype), d_mem.to(mem.dtype), torch.zeros_like(syn) if d_syn is None else d_syn.to(syn.dtype)


def alpha_tangents(tangents, x_dtype, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf, config):
    """Tangents of the Alpha op's (spk, exc, inh, mem), in x's and mem's dtypes, for the tangents
    of (x, exc0, inh0, a, b, tau, threshold, gsf); `config` = (reset, surrogate, seed, lengths)."""
    reset, surrogate, seed, lengths = config
    dtypes = (x_dtype, mem.dtype, mem.dtype, mem.dtype)
    if mem.numel() == 0:
        return tuple(torch.zeros_like(mem, dtype=d) for d in dtypes)
    grad_, params = _surrogate_grad(surrogate, seed, mem.device)
    out = _alpha_torch.alpha_jvp(tangents, x_dtype, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf,
                                 reset, grad_, params, lengths)
    return tuple(t.to(d) for t, d in zip(out, dtypes))


class _LIFTangents(torch.autograd.Function):
    """Zero, shaped like (spk, mem, syn); its jvp is their tangent (`lif_tangents`)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, mem0, syn0, alpha, decay, threshold, gsf, mem, h, syn, config):
        return torch.zeros_like(x), torch.zeros_like(mem), torch.zeros_like(syn)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, mem0, syn0, alpha, decay, threshold, gsf, mem, h, syn, config = inputs
        ctx.save_for_forward(mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf)
        ctx.x_dtype, ctx.config = x.dtype, config

    @staticmethod
    def jvp(ctx, dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf, _dmem, _dh, _dsyn, _):
        return lif_tangents((dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf), ctx.x_dtype, *ctx.saved_tensors,
                            ctx.config)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) * 11


class _AlphaTangents(torch.autograd.Function):
    """Zero, shaped like (spk, exc, inh, mem); its jvp is their tangent (`alpha_tangents`)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, mem, exc, inh, config):
        return torch.zeros_like(x), torch.zeros_like(mem), torch.zeros_like(mem), torch.zeros_like(mem)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, exc0, inh0, mem0, a, b, tau, threshold, gsf, mem, exc, inh, config = inputs
        ctx.save_for_forward(mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf)
        ctx.x_dtype, ctx.config = x.dtype, config

    @staticmethod
    def jvp(ctx, dx, dexc0, dinh0, _dmem0, da, db, dtau, dthr, dgsf, _dmem, _dexc, _dinh, _):
        return alpha_tangents((dx, dexc0, dinh0, da, db, dtau, dthr, dgsf), ctx.x_dtype, *ctx.saved_tensors,
                              ctx.config)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) * 13


def with_lif_tangents(outputs, x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input,
                      surrogate, seed, lengths):
    """`outputs` = (spk, mem, h, syn) of the LIF op plus their forward-mode tangents. Binary spikes
    (bool, uint8) carry none."""
    spk, mem, h, syn = outputs
    config = (reset, reset_delay, reset_input, surrogate, seed, lengths)
    z_spk, z_mem, z_syn = _LIFTangents.apply(x, mem0, syn0, alpha, decay, threshold, gsf, mem.detach(), h.detach(),
                                             syn.detach(), config)
    return (spk + z_spk if spk.is_floating_point() else spk), mem + z_mem, h, syn + z_syn


def with_alpha_tangents(outputs, x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, surrogate, seed, lengths):
    """`outputs` = (spk, exc, inh, mem, exc_acc, inh_acc) of the Alpha op: (spk, exc, inh, mem)
    plus their forward-mode tangents (the currents kept at the accumulation precision, where
    present, feed the decays' tangents)."""
    spk, exc, inh, mem, exc_acc, inh_acc = outputs
    config = (reset, surrogate, seed, lengths)
    e, i = (exc_acc, inh_acc) if exc_acc.numel() else (exc, inh)
    zeros = _AlphaTangents.apply(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, mem.detach(), e.detach(),
                                 i.detach(), config)
    z_spk, z_exc, z_inh, z_mem = zeros
    spk = spk + z_spk if spk.is_floating_point() else spk
    return spk, exc + z_exc, inh + z_inh, mem + z_mem
