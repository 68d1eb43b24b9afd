"""The recurrent LIF family's oracle: snnTorch's RLeaky and RSynaptic as plain PyTorch time loops,
autograd through every step (`tritonsnn.reference.rleaky`, `rsynaptic`)."""
from __future__ import annotations

import torch

from tritonsnn import _checks, _naive
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO
from tritonsnn.surrogate import resolve


def rleaky(x, beta, recurrent, spk=None, mem=None, threshold=1.0, spike_grad=None, reset_mechanism="subtract",
           reset_delay=True, graded_spikes_factor=1.0, state_quant=None, inhibition=False):
    """`(spk, mem)` sequences of :class:`tritonsnn.RLeaky` over `x: [T, *neurons]` by a naive
    loop; `recurrent` is the recurrent term, a function of the previous spikes (the module's
    ``recurrent`` layer, or ``lambda s: s * V``); `state_quant` (snnTorch's option, a function of
    a state) is applied to each new membrane before it fires, as snnTorch's RLeaky applies it;
    `inhibition` (snnTorch's option) lets only each sample's largest membrane fire
    (`tritonsnn._naive.fire`).

    Example::

        >>> import torch
        >>> spk, mem = rleaky(torch.full((3, 1), 0.6), 0.9, lambda s: s * 0.5)
        >>> spk.flatten(), mem.flatten()
        (tensor([0., 1., 1.]), tensor([0.6000, 1.1400, 1.1260]))
    """
    fire = resolve(spike_grad)
    reset = _checks.reset_code(reset_mechanism)
    b = _checks.parameter(beta, x, "beta").clamp(0, 1)
    thr = _checks.parameter(threshold, x, "threshold")
    gsf = _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor")
    s = torch.zeros_like(x[0]) if spk is None else spk
    u = torch.zeros_like(x[0]) if mem is None else mem
    spikes, mems = [], []
    for x_t in x:
        r = fire(u - thr).detach()
        base = b * u + x_t + recurrent(s)
        u = base - r * thr if reset == RESET_SUBTRACT else base - r * base if reset == RESET_ZERO else base
        if state_quant is not None:
            u = state_quant(u)
        s = _naive.fire(fire, u, thr, gsf, inhibition)
        if not reset_delay:  # the step's own spike resets it at once, not twice
            again = s / gsf - r
            u = u - again * thr if reset == RESET_SUBTRACT else u - again * u if reset == RESET_ZERO else u
        spikes.append(s)
        mems.append(u)
    return torch.stack(spikes), torch.stack(mems)


def rsynaptic(x, alpha, beta, recurrent, spk=None, syn=None, mem=None, threshold=1.0, spike_grad=None,
              reset_mechanism="subtract", graded_spikes_factor=1.0, state_quant=None, inhibition=False):
    """`(spk, syn, mem)` sequences of :class:`tritonsnn.RSynaptic` over `x: [T, *neurons]` by a
    naive loop (`recurrent` as for :func:`rleaky`; snnTorch's reset_delay has no effect here);
    `state_quant` is applied to each new current and membrane after both are computed, as
    snnTorch's RSynaptic applies it; `inhibition` as for :func:`rleaky`.

    Example::

        >>> import torch
        >>> spk, syn, mem = rsynaptic(torch.full((3, 1), 0.4), 0.8, 0.9, lambda s: s * 0.5)
        >>> spk.flatten(), mem.flatten()
        (tensor([0., 1., 1.]), tensor([0.4000, 1.0800, 1.4480]))
    """
    fire = resolve(spike_grad)
    reset = _checks.reset_code(reset_mechanism)
    a = _checks.parameter(alpha, x, "alpha").clamp(0, 1)
    b = _checks.parameter(beta, x, "beta").clamp(0, 1)
    thr = _checks.parameter(threshold, x, "threshold")
    gsf = _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor")
    s = torch.zeros_like(x[0]) if spk is None else spk
    i = torch.zeros_like(x[0]) if syn is None else syn
    u = torch.zeros_like(x[0]) if mem is None else mem
    spikes, syns, mems = [], [], []
    for x_t in x:
        r = fire(u - thr).detach()
        i = a * i + x_t + recurrent(s)   # the current is never reset
        base = b * u + i
        u = base - r * thr if reset == RESET_SUBTRACT else base - r * base if reset == RESET_ZERO else base
        if state_quant is not None:
            i, u = state_quant(i), state_quant(u)
        s = _naive.fire(fire, u, thr, gsf, inhibition)
        spikes.append(s)
        syns.append(i)
        mems.append(u)
    return torch.stack(spikes), torch.stack(syns), torch.stack(mems)
