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


def stored(u: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """u rounded to the storage dtype in the forward, with an identity gradient."""
    if u.dtype == dtype:
        return u
    return u + (u.to(dtype).to(u.dtype) - u).detach()
