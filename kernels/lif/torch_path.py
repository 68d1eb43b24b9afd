"""The LIF family (Leaky, Synaptic, Lapicque) on any device without Triton: the fused kernels'
algorithm as vectorised torch code.

This is what CPU tensors run. It computes exactly what `kernels.py` computes, with no per-step
autograd graph and as few passes over memory as torch ops allow:

- forward: each step is two to four in-place ops on one `[*neurons]` slice while it is in cache
  (synaptic current, membrane update, reset, spike); the spikes of step t are the reset signal of
  step t + 1;
- backward: the surrogate gradient of every step is one fused in-place pass over the whole
  `[T, ...]` sequence inside the `dx` buffer itself, leaving one multiply-add per step and state
  for the reverse scans. Parameter gradients come back as per-neuron sums over time.

Large temporaries are avoided on purpose: on a CPU each fresh buffer of a sequence's size costs
page faults on top of the pass that fills it.
"""
from __future__ import annotations

import torch

from tritonsnn import _rounding
from tritonsnn._dtypes import acc_dtype, as_dtype
from tritonsnn._ends import Ends, past_end
from tritonsnn.backend import is_one
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO


def lif_forward(x, mem0, syn0, alpha, decay, threshold, gsf, reset: int, reset_delay: bool,
                reset_input: bool, spike_dtype: torch.dtype, save_dtype: torch.dtype, lengths=None):
    """Returns (spk, mem, h, syn): h is the pre-reset membrane when reset_delay=False and syn the
    synaptic current when alpha is given; each is an empty tensor otherwise. Spikes come in
    `spike_dtype`, the state sequences in `save_dtype`, each membrane rounded to the side of the
    threshold that the forward decided (`tritonsnn._rounding`). With `lengths` ([B], x's dim 1)
    every output past a sample's length is 0."""
    ends = Ends(lengths, x.shape)
    acc = acc_dtype(x.dtype)
    xa = as_dtype(x, acc)
    decay, thr = as_dtype(decay, acc), as_dtype(threshold, acc)
    sides = _rounding.neighbours(thr, save_dtype) if _rounding.directed(x.dtype, save_dtype) else None
    spk = torch.empty(x.shape, dtype=x.dtype, device=x.device)  # also the next step's reset signal
    mem = torch.empty(x.shape, dtype=save_dtype, device=x.device)
    syn = x.new_empty(0, dtype=save_dtype)
    if alpha is not None:  # the synaptic current is not reset and compares with nothing: one scan
        syn = torch.empty(x.shape, dtype=save_dtype, device=x.device)
        xa = _synaptic_current(xa, syn0, alpha.to(acc), syn, ends)
    if mem0 is None:
        state = xa.new_zeros(x.shape[1:])
    else:  # the delayed loop writes its states into `mem` itself when they share a dtype
        state = mem0.to(acc, copy=not (reset_delay and mem.dtype == acc))
    if reset_delay:
        h = x.new_empty(0, dtype=save_dtype)
        _delayed_loop(xa, decay, thr, state, spk, mem, reset, reset_input, ends.steps)
        if sides is not None:  # each stored U_t on the side of its spike
            _rounding.on_side_(mem, spk, thr, *sides)
    else:
        h = torch.empty(x.shape, dtype=save_dtype, device=x.device)
        _immediate_loop(xa, decay, thr, state, spk, mem, h, reset, reset_input, ends.steps, sides)
    ends.clear(spk, mem, *([] if reset_delay else [h]))
    if not spike_dtype.is_floating_point:  # binary spikes: the fire bits
        return spk.to(spike_dtype), mem, h, syn
    if not is_one(gsf):
        spk.mul_(gsf.to(acc))
    return spk, mem, h, syn


def _synaptic_current(xa, syn0, alpha, syn, ends):
    """I_t = alpha I_{t-1} + X_t into `syn`; returns the current in the accumulation dtype."""
    current = xa.clone() if syn.dtype != xa.dtype else syn
    prev = None if syn0 is None else as_dtype(syn0, xa.dtype)
    for t in range(ends.steps):
        prev = current_update(xa[t], prev, alpha, current[t])
    ends.clear(current)
    if current is not syn:
        syn.copy_(current)
    return current


def current_update(x_t, prev, alpha, out=None):
    """I_t = alpha I_{t-1} + X_t into `out` (I_{t-1} None: zero), or into a new tensor where
    `out` is None (one op fewer than allocating it first, which a single step notices); returns it."""
    if prev is None:
        return x_t.clone() if out is None else out.copy_(x_t)
    return torch.addcmul(x_t, prev, alpha, out=out)


def delayed_update(x_t, state, fired, decay, thr, out, reset, reset_input, keep):
    """U_t into `out` with the reset delayed: from U_{t-1} (`state`), the step's input and r_t
    (`fired`, did step t - 1 fire); `keep` is scratch for a zero reset of the membrane alone.
    Either may be None: a new tensor then (`current_update`). Returns U_t. Zero resets are
    written as snnTorch writes them, so that inf and NaN propagate alike."""
    if reset == RESET_ZERO and reset_input:
        out = torch.addcmul(x_t, state, decay, out=out)
        out.addcmul_(out, fired, value=-1.0)  # base - base r_t
    elif reset == RESET_ZERO:
        keep = torch.mul(fired, -decay, out=keep).add_(decay)  # decay (1 - r_t)
        out = torch.addcmul(x_t, state, keep, out=out)
    else:
        out = torch.addcmul(x_t, state, decay, out=out)
        if reset == RESET_SUBTRACT:
            out.addcmul_(fired, thr, value=-1.0)
    return out


def _at_input_precision(state, stored, x_dtype):
    """The membrane as thresholds compare it: rounded to the input's dtype (`stored` when the
    sequence is kept in that dtype), as the kernels' `_stored` does."""
    if stored.dtype == x_dtype:
        return stored
    return state if state.dtype == x_dtype else state.to(x_dtype)


def _delayed_loop(xa, decay, thr, state, spk, mem, reset, reset_input, steps):
    """reset_delay=True: the reset decided at step t - 1 is applied at step t. Thresholds compare
    the membrane at the input's precision (spk's dtype) with the threshold at the accumulation
    dtype's: for fp16/bf16 inputs that is what the backward reads back, so the forward's spikes
    and the backward's reconstruction agree."""
    stored_in_place = mem.dtype == xa.dtype
    thr_x = _rounding.comparable(thr, spk.dtype)
    # Each step's views, taken in one call per sequence rather than three indexings per step.
    xs, mems, spks = xa.unbind(0), mem.unbind(0), spk.unbind(0)
    # r_t, did step t - 1 fire, starts in spk[0]: read before step 0's spikes overwrite it (one
    # buffer fewer, which a single-step call notices).
    fired = torch.gt(state, thr, out=spks[0]) if steps else None
    keep = torch.empty_like(state) if reset == RESET_ZERO else None
    for t in range(steps):
        out = delayed_update(xs[t], state, fired, decay, thr, mems[t] if stored_in_place else state, reset,
                             reset_input, keep)
        if not stored_in_place:
            mems[t].copy_(out)
        torch.gt(_at_input_precision(out, mems[t], spk.dtype), thr_x, out=spks[t])
        state, fired = out, spks[t]


def _immediate_loop(xa, decay, thr, state, spk, mem, h, reset, reset_input, steps, sides):
    """reset_delay=False: the step's own spike resets it at once (snnTorch's `do_reset`). With
    `sides` (`_rounding.neighbours`) the stored states keep the forward's decisions: h_t those of
    the spikes, U'_t those of the next step's reset."""
    thr_x = _rounding.comparable(thr, spk.dtype)
    fired = (state > thr).to(state.dtype)  # r_t
    v = torch.empty_like(state)
    for t in range(steps):
        if reset == RESET_ZERO and not reset_input:
            torch.addcmul(xa[t], state, decay * (1.0 - fired), out=v)   # decay (1 - r_t) U + X
        else:
            torch.addcmul(xa[t], state, decay, out=v)
            if reset == RESET_ZERO:
                v.addcmul_(v, fired, value=-1.0)                     # base - base r_t
            elif reset == RESET_SUBTRACT:
                v.addcmul_(fired, thr, value=-1.0)
        h[t].copy_(v)
        torch.gt(_at_input_precision(v, h[t], spk.dtype), thr_x, out=spk[t])
        do_reset = spk[t].to(v.dtype) - fired
        if reset == RESET_SUBTRACT:
            state = v - do_reset * thr
        elif reset == RESET_ZERO:
            state = v - do_reset * v
        else:
            state = v.clone()
        mem[t].copy_(state)
        torch.gt(_at_input_precision(state, mem[t], spk.dtype), thr_x, out=fired)  # r_{t+1}
        if sides is not None:
            _rounding.on_side_(h[t], spk[t], thr, *sides)
            _rounding.on_side_(mem[t], fired, thr, *sides)


def lif_backward(g_spk, g_mem, g_syn, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf,
                 reset: int, reset_delay: bool, reset_input: bool, grad_, sg_params,
                 param_grad: bool, alpha_grad: bool, lengths=None):
    """Returns (dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf); parameter gradients are per-neuron
    sums over time (shape x.shape[1:]), None where not asked for (or without that state); dx
    comes in g_spk's dtype (the input's). `grad_(x, g, *sg_params, plus=None)` is the surrogate's
    torch twin, returning g * dS/dx (dS/dx for g=None) plus `plus`, and free to overwrite x.
    Incoming gradients past a sample's length (`lengths`) are ignored: every gradient term there
    is cleared."""
    ends = Ends(lengths, mem.shape)
    acc = acc_dtype(g_spk.dtype)
    decay, thr = as_dtype(decay, acc), as_dtype(threshold, acc)
    gs = as_dtype(g_spk, acc)
    u = mem if reset_delay else h  # the pre-reset membrane, as stored
    # dL/dU through the spike, S = H(U - thr) * gsf, for every step at once, in the dx buffer;
    # with the reset delayed, the membrane's own gradient added in the same pass where nothing
    # reads the spikes' term alone (the threshold's gradient, a gsf scaling it first).
    x_sg = torch.sub(as_dtype(u, acc), thr)
    scaled = not is_one(gsf)
    plus = None if g_mem is None or not reset_delay or scaled or param_grad else as_dtype(g_mem, acc)
    if reset_delay:
        sg = None
        gu = grad_(x_sg, gs, *sg_params, plus=plus)
    else:  # the surrogate is needed twice (spike and same-step reset): evaluate it once
        sg = grad_(x_sg, None, *sg_params)
        gu = sg * gs
    if scaled:
        gu.mul_(as_dtype(gsf, acc))
    ends.clear(gu)
    dthr = -gu.sum(0) if param_grad else None
    prev0 = as_dtype(mem0, acc) if mem0 is not None else u.new_zeros(u.shape[1:], dtype=acc)
    zero_reset = reset == RESET_ZERO
    need_prev = param_grad or zero_reset or not reset_delay
    if need_prev:
        prev = torch.cat([prev0.unsqueeze(0), as_dtype(mem[:-1], acc)])  # the state before each step
        fired_before = (prev > thr).to(acc)
        carry = decay * (1.0 - fired_before) if zero_reset else decay.expand(prev.shape)
    if reset_delay:
        if g_mem is not None and plus is None:
            gu.add_(as_dtype(g_mem, acc))
            ends.clear(gu)
        for t in range(ends.steps - 2, -1, -1):  # zero from the longest length on
            gu[t].addcmul_(gu[t + 1], carry[t + 1] if zero_reset else decay)
    else:
        gu, dthr_reset = _immediate_scan(gu, g_mem, sg, as_dtype(u, acc), thr, fired_before, carry, reset, ends)
        if param_grad:
            dthr += dthr_reset
    dmem0 = None
    if mem0 is not None:
        first = decay * (1.0 - (prev0 > thr).to(acc)) if zero_reset else decay
        dmem0 = as_dtype(gu[0] * first, mem0.dtype)
    ddecay = dgsf = None
    if param_grad:
        if reset == RESET_SUBTRACT:
            dthr -= (gu * fired_before).sum(0)
        dgsf = ends.live_sum(gs * _rounding.above(u, thr))
        kept = gu * (1.0 - fired_before) if zero_reset else gu
        ddecay = ends.live_sum(kept * prev)
    gin = gu.mul_(1.0 - fired_before) if zero_reset and reset_input else gu  # dL/d(step's input)
    dsyn0 = dalpha = None
    if alpha is not None:
        gin, dsyn0, dalpha = _synaptic_scan(gin, g_syn, syn, syn0, as_dtype(alpha, acc), alpha_grad, ends)
    return as_dtype(gin, g_spk.dtype), dmem0, dsyn0, dalpha, ddecay, dthr, dgsf


def _synaptic_scan(gin, g_syn, syn, syn0, alpha, alpha_grad, ends):
    """dL/dI_t = dL/d(input of step t) + dL/dsyn_t + alpha dL/dI_{t+1}, in place; it is also
    dL/dX_t. Returns it with the initial current's and alpha's gradients."""
    if g_syn is not None:
        gin.add_(g_syn.to(gin.dtype))
        ends.clear(gin)
    for t in range(ends.steps - 2, -1, -1):
        gin[t].addcmul_(gin[t + 1], alpha)
    dsyn0 = None if syn0 is None else (gin[0] * alpha).to(syn0.dtype)
    dalpha = None
    if alpha_grad:
        first = syn0.to(gin.dtype) if syn0 is not None else gin.new_zeros(gin.shape[1:])
        previous = torch.cat([first.unsqueeze(0), syn[:-1].to(gin.dtype)])
        dalpha = ends.live_sum(gin * previous)
    return gin, dsyn0, dalpha


def _immediate_scan(gspk, g_mem, sg, u, thr, fired_before, carry, reset, ends):
    """Reverse scan for reset_delay=False, where U'_t = U_t - (H(U_t - thr) - r_t) * reset_term and
    the spike inside it is differentiable. Returns dL/dU_t and the threshold gradient of the reset."""
    d = (u > thr).to(u.dtype) - fired_before
    if reset == RESET_SUBTRACT:
        dpost_du = 1.0 - sg * thr
    elif reset == RESET_ZERO:
        dpost_du = 1.0 - d - u * sg
    else:
        dpost_du = torch.ones_like(u)
    gu = torch.empty_like(gspk)
    if g_mem is None:
        gpost = torch.zeros_like(gspk)
    else:
        gpost = g_mem.to(u.dtype, copy=True)
        ends.clear(gpost)
    for t in range(gu.shape[0] - 1, -1, -1):
        if t + 1 < gu.shape[0]:
            gpost[t].addcmul_(gu[t + 1], carry[t + 1])
        torch.addcmul(gspk[t], gpost[t], dpost_du[t], out=gu[t])
    if reset == RESET_SUBTRACT:
        dthr = (gpost * (sg * thr - d)).sum(0)
    elif reset == RESET_ZERO:
        dthr = (gpost * u * sg).sum(0)
    else:
        dthr = torch.zeros_like(gu[0])
    return gu, dthr



def lif_jvp(tangents, x_dtype, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, reset: int,
            reset_delay: bool, reset_input: bool, grad_, sg_params, lengths=None):
    """Forward-mode derivative of `lif_forward`: the tangents of (spk, mem, syn) for the tangents
    `(dx, dmem0, dsyn0, dalpha, ddecay, dthreshold, dgsf)` of its inputs (None: zero), from the
    stored states, as the backward reads them. It is the forward's recurrence run on tangents:
    the resets are constants (detached), the spike's derivative is the surrogate
    (`grad_(x, None, *sg_params)`), and with reset_delay=False the same-step reset is
    differentiated as in the backward. Out-of-place ops only, so that `torch.func.jacfwd` can
    vmap it over a batch of tangents; zero past each sample's length (syn's tangent is None
    without a synaptic current)."""
    acc = acc_dtype(x_dtype)
    u = (mem if reset_delay else h).to(acc)  # the pre-reset membrane, as stored
    shape = u.shape[1:]
    params = (alpha, decay, threshold, gsf)
    likes = (u, u[0], u[0], *(u.new_zeros(()) if p is None else p for p in params))
    dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf = (
        torch.zeros_like(like, dtype=acc) if t is None else t.to(acc) for t, like in zip(tangents, likes))
    decay, thr, gsf = decay.to(acc), threshold.to(acc), gsf.to(acc)
    prev = torch.cat([(u.new_zeros(shape) if mem0 is None else mem0.to(acc)).unsqueeze(0), mem[:-1].to(acc)])
    fired_before = (prev > thr).to(acc)
    fire = (u > thr).to(acc)
    sg = grad_(u - thr, None, *sg_params)
    d_syn = None
    if alpha is not None:
        d_syn = _current_tangents(dx, dsyn0, dalpha, syn, syn0, alpha.to(acc), acc)
    d_in = dx if d_syn is None else d_syn
    d_post = dmem0  # tangent of the state before the step
    d_spk, d_mem = [], []
    for t in range(u.shape[0]):
        r = fired_before[t]
        base = decay * d_post + ddecay * prev[t]
        if reset == RESET_SUBTRACT:
            d_v = base + d_in[t] - r * dthr
        elif reset == RESET_ZERO and not reset_input:
            d_v = (1.0 - r) * base + d_in[t]
        elif reset == RESET_ZERO:
            d_v = (1.0 - r) * (base + d_in[t])
        else:
            d_v = base + d_in[t]
        d_spk.append(gsf * sg[t] * (d_v - dthr) + dgsf * fire[t])
        d_post = d_v if reset_delay else _immediate_post_tangent(d_v, dthr, u[t], sg[t], fire[t] - r, thr, reset)
        d_mem.append(d_post)
    live = None if lengths is None else ~past_end(lengths, u.shape)
    out = [torch.stack(d_spk), torch.stack(d_mem), d_syn]
    return tuple(t if t is None or live is None else torch.where(live, t, 0.0) for t in out)


def _current_tangents(dx, dsyn0, dalpha, syn, syn0, alpha, acc):
    """Tangents of the synaptic current I_t = alpha I_{t-1} + X_t, for every step."""
    prev = torch.cat([(syn.new_zeros(syn.shape[1:], dtype=acc) if syn0 is None else syn0.to(acc)).unsqueeze(0),
                      syn[:-1].to(acc)])
    d_i, out = dsyn0, []
    for t in range(dx.shape[0]):
        d_i = alpha * d_i + dalpha * prev[t] + dx[t]
        out.append(d_i)
    return torch.stack(out)


def _immediate_post_tangent(d_v, dthr, u, sg, d, thr, reset):
    """Tangent of the state after a same-step reset (reset_delay=False), U' = U - d (thr or U),
    with d = H(U - thr) - r differentiated through the surrogate (as `_immediate_scan` does)."""
    if reset == RESET_SUBTRACT:
        return (1.0 - thr * sg) * d_v + (thr * sg - d) * dthr
    if reset == RESET_ZERO:
        return (1.0 - d - u * sg) * d_v + u * sg * dthr
    return d_v
