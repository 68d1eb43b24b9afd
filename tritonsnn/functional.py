"""Functional forms of the fused neurons: whole sequences in, whole sequences out.

Inputs are time-major, `x: [T, *neurons]`; every tensor argument that requires grad receives its
gradient. The backend (Triton kernels or the vectorised torch path) follows
:func:`tritonsnn.set_backend`. Each neuron's functional form is written beside its module
(`tritonsnn/leaky.py` holds `Leaky` and `leaky`); this module is their public face.
"""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._ends import last_steps
from tritonsnn.alpha import alpha
from tritonsnn.deltaleaky import delta_leaky
from tritonsnn.lapicque import lapicque
from tritonsnn.leaky import leaky
from tritonsnn.stateleaky import state_leaky
from tritonsnn.synaptic import synaptic

__all__ = ["alpha", "delta_leaky", "final_state", "lapicque", "leaky", "state_leaky", "synaptic"]


def final_state(
    seq: torch.Tensor,
    lengths: torch.Tensor | None = None,
    initial: torch.Tensor | None = None,
) -> torch.Tensor:
    """The state after each sample's last step, from a state sequence `seq: [T, B, *neurons]`
    (a membrane or current returned by a neuron called with `lengths`): `seq[lengths[b] - 1, b]`
    for every sample b, or `initial[b]` (zeros if None) where the length is 0; `seq[-1]` (or
    `initial`) without lengths. Differentiable in `seq` and `initial`: a loss on the final state
    trains through the last step of each sample. Multi-step modules with ``init_hidden=True``
    carry exactly this state to their next call.

    Example::

        >>> import torch, tritonsnn
        >>> lengths = torch.tensor([2, 4])
        >>> spk, mem = tritonsnn.functional.leaky(torch.full((4, 2, 1), 0.5), beta=0.9, lengths=lengths)
        >>> mem[..., 0].T
        tensor([[0.5000, 0.9500, 0.0000, 0.0000],
                [0.5000, 0.9500, 1.3550, 0.7195]])
        >>> tritonsnn.functional.final_state(mem, lengths).flatten()
        tensor([0.9500, 0.7195])
    """
    seq = _checks.time_major_input(seq, "seq")
    initial = _checks.state(initial, seq, "initial")
    return last_steps(seq, _checks.lengths(lengths, seq), initial)

