"""Pieces every naive reference loop shares (`tritonsnn.reference`): which samples still run at a
step, a state frozen past a sample's length, and a stored value rounded with an identity
gradient."""
from __future__ import annotations

import torch


def running(lengths, t: int, like: torch.Tensor):
    """Which samples still run at step t, shaped to broadcast over a step's neurons (None: all)."""
    return None if lengths is None else (t < lengths).view(-1, *([1] * (like.dim() - 1)))


def frozen(live, new: torch.Tensor, old) -> torch.Tensor:
    """`new` for the samples still running, `old` (a tensor or 0) for the others."""
    return new if live is None else torch.where(live, new, old)


def fire(spike_fn, u: torch.Tensor, thr, gsf, inhibition: bool) -> torch.Tensor:
    """A step's spikes from the membrane u: spike_fn(u - thr) * gsf; with `inhibition`,
    snnTorch's winner-take-all (`fire_inhibition`): in each sample (a row of u: [batch, neurons])
    only the neuron with the largest u - thr (the first of equals) may fire, its spike unscaled
    by gsf, as snnTorch's is."""
    shifted = u - thr
    if not inhibition:
        return spike_fn(shifted) * gsf
    if u.dim() != 2:
        raise ValueError(f"inhibition takes steps of shape [batch, neurons] (snnTorch's winner-take-all is "
                         f"defined for dense layers); got a step of shape {tuple(u.shape)}")
    winners = torch.zeros_like(shifted).scatter_(1, shifted.argmax(dim=1, keepdim=True), 1)
    return spike_fn(shifted) * winners


def stored(u: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """u rounded to the storage dtype in the forward, with an identity gradient."""
    if u.dtype == dtype:
        return u
    return u + (u.to(dtype).to(u.dtype) - u).detach()
