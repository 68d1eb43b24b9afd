"""The oracle: snnTorch's equations as a plain PyTorch time loop, autograd through every step.

Slow on purpose and written to be read: one line per equation, no fusion, no hand-written
backward. Every fused implementation is tested against it (outputs, final state, every gradient).
The state and the math stay in fp32 (fp64 for fp64 inputs) across the loop; for low-precision
inputs the membrane is rounded to the input dtype where it is stored, and thresholds compare that
stored value: the documented semantics of the fused kernels (spikes always agree with the stored
membrane the backward reads back). For fp32 inputs this is snnTorch's computation exactly.
"""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn.surrogate import resolve


def _stored(u: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """u rounded to the storage dtype in the forward, with an identity gradient."""
    if u.dtype == dtype:
        return u
    return u + (u.to(dtype).to(u.dtype) - u).detach()


def leaky(x, beta, mem=None, threshold=1.0, spike_grad=None, reset_mechanism="subtract",
          reset_delay=True, graded_spikes_factor=1.0):
    """Same signature and results as :func:`tritonsnn.functional.leaky`, by a naive loop."""
    spike_fn = resolve(spike_grad)
    x, mem, beta, thr, gsf, mechanism = _checks.leaky_inputs(
        x, mem, beta, threshold, graded_spikes_factor, reset_mechanism)
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    b = beta.to(acc).clamp(0, 1)
    thr, gsf = thr.to(acc), gsf.to(acc)
    u = torch.zeros(x.shape[1:], dtype=acc, device=x.device) if mem is None else mem.to(acc)
    u_stored = u
    spikes, mems = [], []
    for x_t in x.to(acc):
        reset = spike_fn(u_stored - thr).detach()    # r_t = H(U_{t-1} - thr), no gradient
        if mechanism == 0:
            u = b * u + x_t - reset * thr
        elif mechanism == 1:
            u = b * ((1 - reset) * u) + x_t
        else:
            u = b * u + x_t
        spk = spike_fn(_stored(u, x.dtype) - thr) * gsf
        if not reset_delay:
            do_reset = spk / gsf - reset              # not detached, as in snnTorch
            if mechanism == 0:
                u = u - do_reset * thr
            elif mechanism == 1:
                u = u - do_reset * u
        u_stored = _stored(u, x.dtype)
        spikes.append(spk)
        mems.append(u_stored)
    if not spikes:
        empty = x.new_empty(x.shape)
        return empty, empty.clone()
    return torch.stack(spikes).to(x.dtype), torch.stack(mems).to(x.dtype)
