"""The accumulation dtype every implementation computes in: fused kernels, torch twins and the
naive reference alike (a neutral home, so the oracle imports nothing of the code it checks)."""
from __future__ import annotations

import torch


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype: fp64 stays fp64, every other float type computes in fp32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def as_dtype(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`t.to(dtype)`, without the call when `t` already has it (a no-op cast still costs a
    dispatch, which a single time step notices)."""
    return t if t.dtype == dtype else t.to(dtype)
