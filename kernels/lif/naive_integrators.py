"""The oracles of snnTorch's two leaky integrators without a reset, StateLeaky and DeltaLeaky, as
plain PyTorch loops written from their definitions, autograd through every step
(`tritonsnn.reference.state_leaky`, `delta_leaky`). The fused forms run the LIF family's
membrane without reset (`dispatch.integrate`) and derive the rest elementwise."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._dtypes import acc_dtype
from tritonsnn.surrogate import resolve


def state_leaky(x, tau, threshold=1.0, spike_grad=None, graded_spikes_factor=1.0, kernel_truncation_steps=None):
    """Same signature and results as :func:`tritonsnn.functional.state_leaky`, by its definition
    (snnTorch's causal convolution): each step's membrane is the sum of the last K inputs (all of
    them without truncation) weighted by the kernel h[k] = exp(-k / tau).

    Example::

        >>> import torch
        >>> spk, mem = state_leaky(torch.tensor([[1.0], [0.0], [0.0]]), tau=1.0)
        >>> mem.flatten()
        tensor([1.0000, 0.3679, 0.1353])
    """
    spike_fn = resolve(spike_grad)
    x = _checks.time_major_input(x)
    acc = acc_dtype(x.dtype)
    tau = _checks.parameter(tau, x, "tau").to(acc)
    thr = _checks.parameter(threshold, x, "threshold").to(acc)
    gsf = _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor").to(acc)
    taps = x.shape[0] if kernel_truncation_steps is None else _checks.positive_int(
        kernel_truncation_steps, "kernel_truncation_steps")
    inputs = x.to(acc)
    mems = []
    for t in range(x.shape[0]):
        window = range(max(0, t - taps + 1), t + 1)
        mems.append(sum((torch.exp(-(t - s) / tau) * inputs[s] for s in window), torch.zeros_like(inputs[0])))
    if not mems:
        return x.new_empty(x.shape), x.new_empty(x.shape)
    mem = torch.stack(mems)
    return (spike_fn(mem - thr) * gsf).to(x.dtype), mem.to(x.dtype)


def delta_step(u, x_t, beta, delta_threshold, spike_fn):
    """One DeltaLeaky step from the membrane u: (spike, new membrane). The membrane integrates
    without a reset; the neuron fires where it changed by more than delta_threshold."""
    u_new = beta * u + x_t
    return spike_fn((u_new - u).abs() - delta_threshold), u_new


def delta_leaky(x, beta, mem=None, delta_threshold=1.0, spike_grad=None):
    """Same signature and results as :func:`tritonsnn.functional.delta_leaky`, by a naive loop.

    Example::

        >>> import torch
        >>> spk, mem = delta_leaky(torch.tensor([[1.0], [0.1], [2.0]]), beta=0.5, delta_threshold=0.2)
        >>> spk.flatten(), mem.flatten()
        (tensor([1., 1., 1.]), tensor([1.0000, 0.6000, 2.3000]))
    """
    spike_fn = resolve(spike_grad)
    x = _checks.time_major_input(x)
    mem = _checks.state(mem, x, "mem")
    acc = acc_dtype(x.dtype)
    b = _checks.parameter(beta, x, "beta").to(acc)
    dthr = _checks.parameter(delta_threshold, x, "delta_threshold").to(acc)
    u = torch.zeros(x.shape[1:], dtype=acc, device=x.device) if mem is None else mem.to(acc)
    spikes, mems = [], []
    for x_t in x.to(acc):
        spk, u = delta_step(u, x_t, b, dthr, spike_fn)
        spikes.append(spk)
        mems.append(u)
    if not spikes:
        return x.new_empty(x.shape), x.new_empty(x.shape)
    return torch.stack(spikes).to(x.dtype), torch.stack(mems).to(x.dtype)
