"""The LIF family's oracle: snnTorch's Leaky, Synaptic and Lapicque as plain PyTorch time loops,
autograd through every step (`tritonsnn.reference.leaky`, `synaptic`, `lapicque`; the common
conventions are in `tritonsnn.reference`)."""
from __future__ import annotations

import torch

from tritonsnn import _checks, _naive
from tritonsnn._dtypes import acc_dtype
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO
from tritonsnn.surrogate import resolve


def leaky(x, beta, mem=None, threshold=1.0, spike_grad=None, reset_mechanism="subtract",
          reset_delay=True, graded_spikes_factor=1.0, lengths=None, state_quant=None, inhibition=False):
    """Same signature and results as :func:`tritonsnn.functional.leaky`, by a naive loop;
    `state_quant` (snnTorch's option: a function of the membrane, e.g.
    ``snntorch.functional.quant.state_quant(num_bits=4)``) is applied to each new membrane
    before it fires and is carried, as snnTorch's Leaky applies it; `inhibition` (snnTorch's
    option) lets only each sample's largest membrane fire (`tritonsnn._naive.fire`).

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
        if mechanism == RESET_SUBTRACT:
            return b * u + x_t - reset * thr.to(acc)
        if mechanism == RESET_ZERO:
            return b * ((1 - reset) * u) + x_t           # Leaky's zero reset keeps the input
        return b * u + x_t

    spk, mems = _run(x.to(acc), mem, membrane, thr, gsf, mechanism, reset_delay, spike_fn, x.dtype,
                     _checks.lengths(lengths, x), state_quant, inhibition)
    return spk, mems


def synaptic(x, alpha, beta, syn=None, mem=None, threshold=1.0, spike_grad=None,
             reset_mechanism="subtract", reset_delay=True, graded_spikes_factor=1.0, lengths=None,
             state_quant=None, inhibition=False):
    """Same signature and results as :func:`tritonsnn.functional.synaptic`, by a naive loop;
    `state_quant` (as for :func:`leaky`) is applied to each new current and membrane after both
    are computed, as snnTorch's Synaptic applies it: the step's membrane takes the current before
    it is quantised, the next step the quantised one; `inhibition` as for :func:`leaky`.

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
    currents, kept = [], []  # each step's current as the membrane takes it, and as it is carried
    for t, x_t in enumerate(x.to(acc)):
        live = _naive.running(lengths, t, x_t)
        new = a * current + x_t                                     # I_t = a I_{t-1} + X_t, never reset
        currents.append(_naive.frozen(live, new, 0.0))
        current = _naive.frozen(live, new if state_quant is None else state_quant(new), current)
        kept.append(_naive.frozen(live, current, 0.0))

    def membrane(u, i_t, reset):
        base = b * u + i_t
        if mechanism == RESET_SUBTRACT:
            return base - reset * thr.to(acc)
        if mechanism == RESET_ZERO:
            return base - base * reset                # the whole new membrane, input included
        return base

    inputs = torch.stack(currents) if currents else x.to(acc)
    spk, mems = _run(inputs, mem, membrane, thr, gsf, mechanism, reset_delay, spike_fn, x.dtype, lengths,
                     state_quant, inhibition)
    return spk, (torch.stack(kept) if kept else inputs).to(x.dtype), mems


def lapicque(x, beta=None, mem=None, R=None, C=None, time_step=1.0, threshold=1.0, spike_grad=None,
             reset_mechanism="subtract", graded_spikes_factor=1.0, lengths=None, state_quant=None, inhibition=False):
    """Same signature and results as :func:`tritonsnn.functional.lapicque`, by a naive loop;
    `state_quant` and `inhibition` as for :func:`leaky`.

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
        if mechanism == RESET_SUBTRACT:
            return base - reset * thr.to(acc)
        if mechanism == RESET_ZERO:
            return base - reset * base
        return base

    # X dt / C rounded to the input's dtype, as the fused neuron feeds it to its kernels.
    return _run((x * scale).to(x.dtype).to(acc), mem, membrane, thr, gsf, mechanism, True, spike_fn, x.dtype,
                _checks.lengths(lengths, x), state_quant, inhibition)


def _run(inputs, mem, membrane, thr, gsf, mechanism, reset_delay, spike_fn, dtype, lengths, state_quant=None,
         inhibition=False):
    """The time loop every LIF shares: reset signal, membrane update (quantised by `state_quant`
    where given), spike (winner-take-all with `inhibition`), optional same-step reset; a sample
    past its length keeps its state and outputs zeros. Returns (spikes, membrane sequence) in
    `dtype`."""
    acc = inputs.dtype
    thr, gsf = thr.to(acc), gsf.to(acc)
    u = torch.zeros(inputs.shape[1:], dtype=acc, device=inputs.device) if mem is None else mem.to(acc)
    u_stored = u
    spikes, mems = [], []
    for t, x_t in enumerate(inputs):
        reset = spike_fn(u_stored - thr).detach()    # r_t = H(U_{t-1} - thr), no gradient
        u_new = membrane(u, x_t, reset)
        if state_quant is not None:
            u_new = state_quant(u_new)
        spk = _naive.fire(spike_fn, _naive.stored(u_new, dtype), thr, gsf, inhibition)
        if not reset_delay:
            do_reset = spk / gsf - reset              # not detached, as in snnTorch
            if mechanism == RESET_SUBTRACT:
                u_new = u_new - do_reset * thr
            elif mechanism == RESET_ZERO:
                u_new = u_new - do_reset * u_new
        live = _naive.running(lengths, t, x_t)
        u = _naive.frozen(live, u_new, u)
        u_stored = _naive.frozen(live, _naive.stored(u_new, dtype), u_stored)
        spikes.append(_naive.frozen(live, spk, 0.0))
        mems.append(_naive.frozen(live, u_stored, 0.0))
    if not spikes:
        empty = inputs.new_empty(inputs.shape, dtype=dtype)
        return empty, empty.clone()
    return torch.stack(spikes).to(dtype), torch.stack(mems).to(dtype)
