"""The Alpha neuron's oracle: snnTorch's Alpha as a plain PyTorch time loop, autograd through
every step (`tritonsnn.reference.alpha`)."""
from __future__ import annotations

import torch

from tritonsnn import _checks, _naive
from tritonsnn._dtypes import acc_dtype
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO
from tritonsnn.surrogate import resolve


def alpha(x, alpha, beta, syn_exc=None, syn_inh=None, mem=None, threshold=1.0, spike_grad=None,
          reset_mechanism="zero", graded_spikes_factor=1.0, lengths=None, state_quant=None, inhibition=False):
    """Same signature and results as :func:`tritonsnn.functional.alpha`, by a naive loop that
    follows snnTorch 1.0.0's `Alpha` line by line; `state_quant` (snnTorch's option, a function
    of a state) is applied to the two currents and the membrane after each step's update and
    reset, before the spike, as snnTorch's Alpha applies it; `inhibition` (snnTorch's option)
    lets only each sample's largest membrane fire (`tritonsnn._naive.fire`).

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
        if mechanism == RESET_SUBTRACT:
            new_exc, new_inh, u = exc_base - thr * reset, inh_base - inh_base * reset, u + inh * reset
        elif mechanism == RESET_ZERO:
            new_exc, new_inh, u = exc_base - exc_base * reset, inh_base - inh_base * reset, u - u * reset
        else:
            new_exc, new_inh = exc_base, inh_base
        if state_quant is not None:
            new_exc, new_inh, u = state_quant(new_exc), state_quant(new_inh), state_quant(u)
        live = _naive.running(lengths, t, x_t)
        exc, inh = _naive.frozen(live, new_exc, exc), _naive.frozen(live, new_inh, inh)
        u_stored = _naive.frozen(live, _naive.stored(u, x.dtype), u_stored)
        spk = _naive.fire(spike_fn, u_stored, thr, gsf, inhibition)
        for seq, value in zip(outs, (spk, exc, inh, u_stored)):
            seq.append(_naive.frozen(live, value, 0.0))
    if not outs[0]:
        return tuple(x.new_empty(x.shape) for _ in range(4))
    return tuple(torch.stack(seq).to(x.dtype) for seq in outs)
