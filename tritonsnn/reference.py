"""The oracle: snnTorch's equations as a plain PyTorch time loop, autograd through every step.

Slow on purpose and written to be read: one line per equation, no fusion, no hand-written
backward. Every fused implementation is tested against it (outputs, final state, every gradient).
The state and the math stay in fp32 (fp64 for fp64 inputs) across the loop; for low-precision
inputs the membrane is rounded to the input dtype where it is stored, and thresholds compare that
stored value: the documented semantics of the fused kernels (spikes always agree with the stored
membrane the backward reads back). For fp32 inputs this is snnTorch's computation exactly.
With per-sample `lengths`, a sample's state is literally frozen past its length and its outputs
there are zeros (`torch.where`, so no gradient flows from those steps).
"""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._lif_torch import acc_dtype
from tritonsnn.surrogate import resolve

__all__ = ["alpha", "lapicque", "leaky", "synaptic"]


def _live(lengths, t: int, like: torch.Tensor):
    """Which samples still run at step t, shaped to broadcast over a step's neurons (None: all)."""
    return None if lengths is None else (t < lengths).view(-1, *([1] * (like.dim() - 1)))


def _step(live, new: torch.Tensor, old) -> torch.Tensor:
    """`new` for the samples still running, `old` (a tensor or 0) for the others."""
    return new if live is None else torch.where(live, new, old)


def _stored(u: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """u rounded to the storage dtype in the forward, with an identity gradient."""
    if u.dtype == dtype:
        return u
    return u + (u.to(dtype).to(u.dtype) - u).detach()


def leaky(x, beta, mem=None, threshold=1.0, spike_grad=None, reset_mechanism="subtract",
          reset_delay=True, graded_spikes_factor=1.0, lengths=None):
    """Same signature and results as :func:`tritonsnn.functional.leaky`, by a naive loop.

    Example::

        >>> import torch
        >>> spk, mem = leaky(torch.full((3, 1), 0.5), beta=0.9)
        >>> spk.flatten(), mem.flatten()
        (tensor([0., 0., 1.]), tensor([0.5000, 0.9500, 1.3550]))
    """
    spike_fn = resolve(spike_grad)
    x, mem, beta, thr, gsf, mechanism = _checks.leaky_inputs(
        x, mem, beta, threshold, graded_spikes_factor, reset_mechanism)
    acc = acc_dtype(x.dtype)
    b = beta.to(acc).clamp(0, 1)

    def membrane(u, x_t, reset):
        if mechanism == 0:
            return b * u + x_t - reset * thr.to(acc)
        if mechanism == 1:
            return b * ((1 - reset) * u) + x_t           # Leaky's zero reset keeps the input
        return b * u + x_t

    spk, mems = _run(x.to(acc), mem, membrane, thr, gsf, mechanism, reset_delay, spike_fn, x.dtype,
                     _checks.lengths(lengths, x))
    return spk, mems


def synaptic(x, alpha, beta, syn=None, mem=None, threshold=1.0, spike_grad=None,
             reset_mechanism="subtract", reset_delay=True, graded_spikes_factor=1.0, lengths=None):
    """Same signature and results as :func:`tritonsnn.functional.synaptic`, by a naive loop.

    Example::

        >>> import torch
        >>> spk, syn, mem = synaptic(torch.full((2, 1), 0.5), alpha=0.8, beta=0.9)
        >>> syn.flatten(), mem.flatten()
        (tensor([0.5000, 0.9000]), tensor([0.5000, 1.3500]))
    """
    spike_fn = resolve(spike_grad)
    x, mem, beta, thr, gsf, mechanism = _checks.leaky_inputs(
        x, mem, beta, threshold, graded_spikes_factor, reset_mechanism)
    syn = _checks.state(syn, x, "syn")
    acc = acc_dtype(x.dtype)
    a = _checks.parameter(alpha, x, "alpha").to(acc).clamp(0, 1)
    b = beta.to(acc).clamp(0, 1)
    lengths = _checks.lengths(lengths, x)
    current = torch.zeros(x.shape[1:], dtype=acc, device=x.device) if syn is None else syn.to(acc)
    currents = []
    for t, x_t in enumerate(x.to(acc)):
        live = _live(lengths, t, x_t)
        current = _step(live, a * current + x_t, current)   # I_t = a I_{t-1} + X_t, never reset
        currents.append(_step(live, current, 0.0))

    def membrane(u, i_t, reset):
        base = b * u + i_t
        if mechanism == 0:
            return base - reset * thr.to(acc)
        if mechanism == 1:
            return base - base * reset                # the whole new membrane, input included
        return base

    inputs = torch.stack(currents) if currents else x.to(acc)
    spk, mems = _run(inputs, mem, membrane, thr, gsf, mechanism, reset_delay, spike_fn, x.dtype, lengths)
    return spk, inputs.to(x.dtype), mems


def lapicque(x, beta=None, mem=None, R=None, C=None, time_step=1.0, threshold=1.0, spike_grad=None,
             reset_mechanism="subtract", graded_spikes_factor=1.0, lengths=None):
    """Same signature and results as :func:`tritonsnn.functional.lapicque`, by a naive loop.

    Example::

        >>> import torch
        >>> lapicque(torch.full((2, 1), 0.5), beta=0.9)[1].flatten()
        tensor([0.0527, 0.0998])
    """
    spike_fn = resolve(spike_grad)
    x, mem, _, thr, gsf, mechanism = _checks.leaky_inputs(
        x, mem, 0.0, threshold, graded_spikes_factor, reset_mechanism)
    decay, scale = _checks.lapicque_circuit(beta, R, C, time_step, x)
    acc = acc_dtype(x.dtype)

    def membrane(u, scaled_x_t, reset):
        base = scaled_x_t + decay * u                # X dt / C + (1 - dt / (R C)) U
        if mechanism == 0:
            return base - reset * thr.to(acc)
        if mechanism == 1:
            return base - reset * base
        return base

    # X dt / C rounded to the input's dtype, as the fused neuron feeds it to its kernels.
    return _run((x * scale).to(x.dtype).to(acc), mem, membrane, thr, gsf, mechanism, True, spike_fn, x.dtype,
                _checks.lengths(lengths, x))


def alpha(x, alpha, beta, syn_exc=None, syn_inh=None, mem=None, threshold=1.0, spike_grad=None,
          reset_mechanism="zero", graded_spikes_factor=1.0, lengths=None):
    """Same signature and results as :func:`tritonsnn.functional.alpha`, by a naive loop that
    follows snnTorch 1.0.0's `Alpha` line by line.

    Example::

        >>> import torch
        >>> alpha(torch.full((3, 1), 0.5), alpha=0.9, beta=0.8)[3].flatten()
        tensor([0.0000, 0.0947, 0.2558])
    """
    spike_fn = resolve(spike_grad)
    x, mem, beta, thr, gsf, mechanism = _checks.leaky_inputs(
        x, mem, beta, threshold, graded_spikes_factor, reset_mechanism)
    acc = acc_dtype(x.dtype)
    a = _checks.parameter(alpha, x, "alpha").to(acc).clamp(0, 1)
    b = beta.to(acc).clamp(0, 1)
    thr, gsf = thr.to(acc), gsf.to(acc)
    tau = torch.log(a) / (torch.log(b) - torch.log(a)) + 1
    zeros = torch.zeros(x.shape[1:], dtype=acc, device=x.device)
    exc = zeros if syn_exc is None else syn_exc.to(acc)
    inh = zeros if syn_inh is None else syn_inh.to(acc)
    u_stored = zeros if mem is None else mem.to(acc)
    lengths = _checks.lengths(lengths, x)
    outs = [[], [], [], []]
    for t, x_t in enumerate(x.to(acc)):
        reset = spike_fn(u_stored - thr).detach()
        exc_base, inh_base = a * exc + x_t, b * inh - x_t
        u = tau * (exc_base + inh_base)
        if mechanism == 0:
            new_exc, new_inh, u = exc_base - thr * reset, inh_base - inh_base * reset, u + inh * reset
        elif mechanism == 1:
            new_exc, new_inh, u = exc_base - exc_base * reset, inh_base - inh_base * reset, u - u * reset
        else:
            new_exc, new_inh = exc_base, inh_base
        live = _live(lengths, t, x_t)
        exc, inh = _step(live, new_exc, exc), _step(live, new_inh, inh)
        u_stored = _step(live, _stored(u, x.dtype), u_stored)
        spk = spike_fn(u_stored - thr) * gsf
        for seq, value in zip(outs, (spk, exc, inh, u_stored)):
            seq.append(_step(live, value, 0.0))
    if not outs[0]:
        return tuple(x.new_empty(x.shape) for _ in range(4))
    return tuple(torch.stack(seq).to(x.dtype) for seq in outs)


def _run(inputs, mem, membrane, thr, gsf, mechanism, reset_delay, spike_fn, dtype, lengths):
    """The time loop every LIF shares: reset signal, membrane update, spike, optional same-step
    reset; a sample past its length keeps its state and outputs zeros. Returns (spikes, membrane
    sequence) in `dtype`."""
    acc = inputs.dtype
    thr, gsf = thr.to(acc), gsf.to(acc)
    u = torch.zeros(inputs.shape[1:], dtype=acc, device=inputs.device) if mem is None else mem.to(acc)
    u_stored = u
    spikes, mems = [], []
    for t, x_t in enumerate(inputs):
        reset = spike_fn(u_stored - thr).detach()    # r_t = H(U_{t-1} - thr), no gradient
        u_new = membrane(u, x_t, reset)
        spk = spike_fn(_stored(u_new, dtype) - thr) * gsf
        if not reset_delay:
            do_reset = spk / gsf - reset              # not detached, as in snnTorch
            if mechanism == 0:
                u_new = u_new - do_reset * thr
            elif mechanism == 1:
                u_new = u_new - do_reset * u_new
        live = _live(lengths, t, x_t)
        u = _step(live, u_new, u)
        u_stored = _step(live, _stored(u_new, dtype), u_stored)
        spikes.append(_step(live, spk, 0.0))
        mems.append(_step(live, u_stored, 0.0))
    if not spikes:
        empty = inputs.new_empty(inputs.shape, dtype=dtype)
        return empty, empty.clone()
    return torch.stack(spikes).to(dtype), torch.stack(mems).to(dtype)
