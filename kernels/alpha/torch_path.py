"""snnTorch's Alpha neuron on any device without Triton: `kernels.py`'s algorithm as vectorised
torch code, as `tritonsnn.kernels.lif.torch_path` does for the LIF family.

- forward: each step is a few in-place ops writing straight into the output sequences;
- backward: the surrogate of every step in one pass, then each current's gradient is a linear
  recurrence gX_t = A_t + C_t gX_{t+1} whose A and C are precomputed for all steps at once, leaving
  one multiply-add per step and current.
"""
from __future__ import annotations

import torch

from tritonsnn import _rounding
from tritonsnn._dtypes import acc_dtype
from tritonsnn._ends import Ends, past_end
from tritonsnn.backend import is_one
from tritonsnn.kernels.codes import RESET_NONE, RESET_SUBTRACT, RESET_ZERO


def _initial(t, shape, like):
    return like.new_zeros(shape) if t is None else t.to(like.dtype)


def keeps_currents(x_dtype: torch.dtype, save_dtype: torch.dtype) -> bool:
    """Whether the decays' gradients need the currents kept at the accumulation precision: when
    the states are stored below it. Near alpha = beta those gradients are differences of sums
    about 1 / (alpha - beta) times larger than themselves, so currents rounded to fp16 or bf16
    would turn them into noise (or flip their sign)."""
    return torch.finfo(save_dtype).eps > torch.finfo(acc_dtype(x_dtype)).eps


def step_update(x_t, e_prev, i_prev, fired, a, b, tau, thr, exc, inh, u, reset: int) -> None:
    """One step into `exc`, `inh`, `u` from the currents before it and r_t (`fired`)."""
    torch.addcmul(x_t, e_prev, a, out=exc)             # E* = a E + X
    torch.mul(i_prev, b, out=inh).sub_(x_t)            # I* = b I - X
    torch.add(exc, inh, out=u).mul_(tau)               # U = tau (E* + I*)
    # The resets as snnTorch writes them (x - x r), so that inf and NaN propagate alike.
    if reset == RESET_SUBTRACT:
        u.addcmul_(fired, i_prev)                      # snnTorch's: U gains r I_{t-1}
        exc.addcmul_(fired, thr, value=-1.0)
        inh.addcmul_(inh, fired, value=-1.0)
    elif reset == RESET_ZERO:
        for state in (exc, inh, u):
            state.addcmul_(state, fired, value=-1.0)


def alpha_forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset: int,
                  spike_dtype: torch.dtype, save_dtype: torch.dtype, keep_currents: bool, lengths=None):
    """Returns (spk, exc, inh, mem, exc_acc, inh_acc), each [T, *neurons]: spikes in
    `spike_dtype`, the states in `save_dtype` (the membrane on the side of the threshold the
    forward decided, `tritonsnn._rounding`), and, with `keep_currents` where `keeps_currents`
    holds, the two currents again in the accumulation dtype (empty otherwise); every output past
    a sample's length (`lengths`, [B]) is 0."""
    ends = Ends(lengths, x.shape)
    acc = acc_dtype(x.dtype)
    xa = x.to(acc)
    a, b, tau, thr = (p.to(acc) for p in (a, b, tau, threshold))
    thr_x = _rounding.comparable(thr, x.dtype)
    shape = x.shape[1:]
    exc, inh, u = (torch.empty(x.shape, dtype=acc, device=x.device) for _ in range(3))
    spk = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    mem = u if save_dtype == acc else torch.empty(x.shape, dtype=save_dtype, device=x.device)
    e_prev, i_prev = _initial(exc0, shape, xa), _initial(inh0, shape, xa)
    fired = (_initial(mem0, shape, xa) > thr).to(acc)
    for t in range(ends.steps):
        step_update(xa[t], e_prev, i_prev, fired, a, b, tau, thr, exc[t], inh[t], u[t], reset)
        if mem is not u:
            mem[t].copy_(u[t])
        # Thresholds compare the membrane at the input's precision, as the kernels do.
        torch.gt(u[t] if x.dtype == acc else u[t].to(x.dtype), thr_x, out=spk[t])
        fired = spk[t]
        e_prev, i_prev = exc[t], inh[t]
    if _rounding.directed(x.dtype, save_dtype):  # each stored U_t on the side of its spike
        _rounding.on_side_(mem, spk, thr, *_rounding.neighbours(thr, save_dtype))
    ends.clear(spk, exc, inh, u, *([] if mem is u else [mem]))
    if not spike_dtype.is_floating_point:  # binary spikes: the fire bits
        spk = spk.to(spike_dtype)
    elif not is_one(gsf):
        spk.mul_(gsf.to(acc))
    if keep_currents and keeps_currents(x.dtype, save_dtype):
        kept = (exc, inh)
    else:
        kept = (x.new_empty(0, dtype=acc), x.new_empty(0, dtype=acc))
    return spk, exc.to(save_dtype), inh.to(save_dtype), mem, *kept


def alpha_backward(g_spk, g_exc, g_inh, g_mem, mem, exc_seq, inh_seq, exc0, inh0, mem0, a, b, tau,
                   threshold, gsf, reset: int, grad_, sg_params, param_grad: bool, decay_grad: bool,
                   lengths=None):
    """Returns (dx, dexc0, dinh0, da, db, dtau, dthr, dgsf); parameter gradients are per-neuron
    sums over time, None where not asked for. Four sequence-sized buffers in all (on a CPU each
    fresh one costs page faults comparable to the arithmetic). Incoming gradients past a
    sample's length (`lengths`) are ignored."""
    ends = Ends(lengths, mem.shape)
    acc = acc_dtype(g_spk.dtype)
    a, b, tau, thr = (p.to(acc) for p in (a, b, tau, threshold))
    gs = g_spk.to(acc)
    u = mem.to(acc)
    shape = u.shape[1:]
    scaled = not is_one(gsf)
    # through the spikes, the membrane's own gradient added in the same pass where nothing reads
    # the spikes' term alone (the threshold's gradient, a gsf scaling it first)
    plus = None if g_mem is None or scaled or param_grad else g_mem.to(acc)
    g_u = grad_(u - thr, gs, *sg_params, plus=plus)
    if scaled:
        g_u.mul_(gsf.to(acc))
    ends.clear(g_u)
    dthr = -g_u.sum(0) if param_grad else None
    if g_mem is not None and plus is None:
        g_u.add_(g_mem.to(acc))
        ends.clear(g_u)
    fired = torch.empty_like(u)                                  # r_t = H(U_{t-1} - thr)
    torch.gt(_initial(mem0, shape, u), thr, out=fired[0])
    torch.gt(u[:-1], thr, out=fired[1:])
    if reset == RESET_SUBTRACT:
        dinh0_extra = fired[0] * g_u[0]                          # U_0 gained r_0 I_{-1}
    if reset == RESET_ZERO:
        g_u.addcmul_(g_u, fired, value=-1.0)                     # the base's gradient: (1 - r) gU
    # The two currents' gradients gE*_t = A_t + C_t gE*_{t+1} (likewise gI*), see kernels/alpha/README.md.
    g_e = g_u * tau
    g_i = g_e.clone()
    for g_out, g_cur in ((g_exc, g_e), (g_inh, g_i)):
        if g_out is not None:
            kept_by_reset = reset == RESET_ZERO or (reset == RESET_SUBTRACT and g_cur is g_i)
            g_cur.addcmul_(g_out.to(acc), 1.0 - fired) if kept_by_reset else g_cur.add_(g_out.to(acc))
            ends.clear(g_cur)
    if reset == RESET_SUBTRACT:                                  # U_{t+1} gained r_{t+1} I_t
        g_i[:-1].addcmul_(1.0 - fired[:-1], fired[1:] * g_u[1:])
    keeps = reset == RESET_ZERO
    for t in range(ends.steps - 2, -1, -1):  # zero from the longest length on
        keep_t = 1.0 - fired[t]
        g_e[t].addcmul_(g_e[t + 1], a * keep_t if keeps else a)
        g_i[t].addcmul_(g_i[t + 1], b * keep_t if reset != RESET_NONE else b)
    dexc0 = None if exc0 is None else (a * g_e[0]).to(exc0.dtype)
    dinh0 = None
    if inh0 is not None:
        carry = b * g_i[0] + (dinh0_extra if reset == RESET_SUBTRACT else 0.0)
        dinh0 = carry.to(inh0.dtype)
    da = db = dtau = dgsf = None
    if decay_grad:
        e_prev = torch.cat([_initial(exc0, shape, u).unsqueeze(0), exc_seq[:-1].to(acc)])
        i_prev = torch.cat([_initial(inh0, shape, u).unsqueeze(0), inh_seq[:-1].to(acc)])
        da = ends.live_sum(g_e * e_prev)
        db = ends.live_sum(g_i * i_prev)
        dtau = ends.live_sum(g_u * (a * e_prev + b * i_prev))  # E* + I*: the input cancels
    if param_grad:
        if reset == RESET_SUBTRACT:                              # E_t lost r_t thr
            dthr -= (fired * (g_e - tau * g_u)).sum(0)
        dgsf = ends.live_sum(gs * (u > thr))
    dx = g_e.sub_(g_i).to(g_spk.dtype)
    return dx, dexc0, dinh0, da, db, dtau, dthr, dgsf


def alpha_jvp(tangents, x_dtype, mem, exc_seq, inh_seq, exc0, inh0, mem0, a, b, tau, threshold, gsf,
              reset: int, grad_, sg_params, lengths=None):
    """Forward-mode derivative of `alpha_forward`: the tangents of (spk, exc, inh, mem) for the
    tangents `(dx, dexc0, dinh0, da, db, dtau, dthreshold, dgsf)` of its inputs (None: zero), from
    the stored states (the currents at the accumulation precision where they were kept), as the
    LIF family's `lif_jvp` does: resets detached, the surrogate as the spike's derivative,
    out-of-place ops only, zero past each sample's length."""
    acc = acc_dtype(x_dtype)
    u = mem.to(acc)
    shape = u.shape[1:]
    likes = (u, u[0], u[0], a, b, tau, threshold, gsf)
    dx, dexc0, dinh0, da, db, dtau, dthr, dgsf = (
        torch.zeros_like(like, dtype=acc) if t is None else t.to(acc) for t, like in zip(tangents, likes))
    a, b, tau, thr, gsf = (p.to(acc) for p in (a, b, tau, threshold, gsf))
    e_prev = torch.cat([_initial(exc0, shape, u).unsqueeze(0), exc_seq[:-1].to(acc)])
    i_prev = torch.cat([_initial(inh0, shape, u).unsqueeze(0), inh_seq[:-1].to(acc)])
    fired = torch.cat([(_initial(mem0, shape, u) > thr).unsqueeze(0), u[:-1] > thr]).to(acc)
    fire = (u > thr).to(acc)
    sg = grad_(u - thr, None, *sg_params)
    d_e, d_i = dexc0, dinh0
    outs = ([], [], [], [])
    for t in range(u.shape[0]):
        r = fired[t]
        d_e_base = a * d_e + da * e_prev[t] + dx[t]
        d_i_base = b * d_i + db * i_prev[t] - dx[t]
        d_u = dtau * (a * e_prev[t] + b * i_prev[t]) + tau * (d_e_base + d_i_base)
        if reset == RESET_SUBTRACT:
            d_u = d_u + r * d_i
            d_e, d_i = d_e_base - r * dthr, (1.0 - r) * d_i_base
        elif reset == RESET_ZERO:
            d_u = (1.0 - r) * d_u
            d_e, d_i = (1.0 - r) * d_e_base, (1.0 - r) * d_i_base
        else:
            d_e, d_i = d_e_base, d_i_base
        for seq, value in zip(outs, (gsf * sg[t] * (d_u - dthr) + dgsf * fire[t], d_e, d_i, d_u)):
            seq.append(value)
    live = None if lengths is None else ~past_end(lengths, u.shape)
    stacked = [torch.stack(seq) for seq in outs]
    return tuple(t if live is None else torch.where(live, t, 0.0) for t in stacked)
