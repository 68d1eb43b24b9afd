"""Forward-mode AD through the fused neurons: `torch.func.jvp`, `torch.func.jacfwd` and
`torch.autograd.forward_ad`; what the families' `dispatch.py` share.

The fused ops register a backward only, so on their own they hand forward mode no tangent at all
(PyTorch then treats their outputs as constants). While forward AD records, each family's `run`
adds to its outputs a zero from an autograd Function whose value is zero and whose `jvp` is the
tangent of the whole sequence, computed by a torch recurrence from the stored states (the torch
paths' `lif_jvp` / `alpha_jvp`, on any backend). Reverse mode is untouched: the zero's backward is
empty, and the op's own backward still runs.
"""
from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwAD

from tritonsnn import surrogate as surrogates
from tritonsnn._registration import surrogate_floats, torch_surrogate_grad, with_module_slope


def recording() -> bool:
    """Whether a `torch.autograd.forward_ad.dual_level` is open (one read of its level)."""
    return getattr(fwAD, "_current_level", 0) >= 0


def active(*tensors) -> bool:
    """Whether forward AD is recording and any of `tensors` carries a tangent (cheap when it is
    not: one read of the forward-AD level)."""
    if not recording():
        return False
    return any(t is not None and fwAD.unpack_dual(t).tangent is not None for t in tensors)


def surrogate_grad(surrogate, seed, device):
    """The surrogate's torch twin `grad_(x, g, *params)` and its parameters, as the torch
    backward uses them (a stochastic one seeded with the forward's seed)."""
    if not surrogate.fused:
        return surrogates.custom_grad(surrogate.fn), ()
    sg_params = with_module_slope(surrogate.kernel_id, surrogate.kernel_params(torch.empty(0)))
    params = surrogate_floats(surrogate.kernel_id, sg_params)
    return torch_surrogate_grad(surrogate.kernel_id, seed, device), params
