"""Thresholds against rounded states, on the torch paths: the twin of `stored`, `neighbours`
and `on_side` in `kernels/common.py`.

The forward decides every spike and reset on the membrane rounded to the input's dtype, compared
with the threshold in the accumulation dtype; the backward rebuilds those decisions from the
stored state sequences. Two things keep the two in agreement:

- comparisons are exact whatever the dtypes (`above`): a 0-d fp32 threshold does not promote an
  fp16 or bf16 tensor, so a plain `mem > thr` would round the threshold to the tensor's dtype;
- a state stored in a dtype other than the input's (`save_dtype`) is rounded to the nearest
  value on the side of the threshold the forward decided (`on_side_`): where the nearest value
  would cross the threshold, the neighbour on the other side of it is stored instead, at most
  one unit in the last place from the exact state.
"""
from __future__ import annotations

import torch

_INF = float("inf")


def directed(x_dtype: torch.dtype, save_dtype: torch.dtype) -> bool:
    """Whether states stored in `save_dtype` need `on_side_`: a dtype other than the input's
    (whose rounding the thresholds compare), except fp64, which holds any fp32 state exactly."""
    return save_dtype not in (x_dtype, torch.float64)


def neighbours(thr: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(the largest `dtype` value <= thr, the smallest > thr), in thr's dtype."""
    c = thr.to(dtype)
    ca = c.to(thr.dtype)
    down = torch.where(ca <= thr, ca, torch.nextafter(c, c.new_full((), -_INF)).to(thr.dtype))
    up = torch.where(ca > thr, ca, torch.nextafter(c, c.new_full((), _INF)).to(thr.dtype))
    return down, up


def comparable(thr: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A threshold that `dtype` values compare with as they would with `thr` itself: thr, or,
    for a narrower dtype, the largest `dtype` value <= thr (s > thr exactly when s > it)."""
    if dtype == thr.dtype or dtype == torch.float64:
        return thr
    return neighbours(thr, dtype)[0].to(dtype)


def above(stored: torch.Tensor, thr: torch.Tensor) -> torch.Tensor:
    """`stored > thr`, exactly, for any dtypes of the two."""
    return stored > comparable(thr, stored.dtype)


def on_side_(stored: torch.Tensor, fired: torch.Tensor, thr: torch.Tensor, down: torch.Tensor,
             up: torch.Tensor) -> None:
    """Move, in place, each stored state that its rounding put on the other side of the threshold
    than the forward's decision `fired` (nonzero: fired) to `up` or `down` (`neighbours`)."""
    fired = fired > 0
    wrong = above(stored, thr) != fired
    stored.copy_(torch.where(wrong, torch.where(fired, up, down).to(stored.dtype), stored))
