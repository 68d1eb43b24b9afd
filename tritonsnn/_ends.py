"""Per-sample sequence ends: which steps of a `[T, B, ...]` sequence lie past each sample's
length on the torch paths (the kernels do the same per neuron, in registers: `live` and
`step_mask` in `kernels/common.py`), and the state after each sample's last step.

A sample that has ended stays ended, so its state may run on unobserved (it feeds nothing but
its own later, cleared, steps): outputs past the end are zeroed, and so are the gradients that
would flow from there.
"""
from __future__ import annotations

import torch


def past_end(lengths: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A bool mask that broadcasts to `shape` (`[T, B, *rest]`): True at the steps past each
    sample's length."""
    t = torch.arange(shape[0], device=lengths.device)
    return (t[:, None] >= lengths[None, :]).view(shape[0], -1, *([1] * (len(shape) - 2)))


class Ends:
    """Where each sample of a `[T, B, *rest]` sequence ends, from `lengths` (`[B]`, values in
    [0, T]) or None (every sample runs all T steps; `clear` does nothing).

    - `steps`: the steps some sample still runs (the longest length): forward loops stop there,
      and backward scans start there;
    - `clear(*seqs)`: zero, in place, the steps of whole sequences that lie past their sample's
      end. Only those elements are written (an indexed fill: no pass over the live part, and
      whatever they held, NaN included, is gone);
    - `live_sum(terms)`: the sum over time of the steps within each sample's length."""

    def __init__(self, lengths: torch.Tensor | None, shape: torch.Size):
        T = shape[0]
        self.steps = T
        self._past = None
        if lengths is None or lengths.numel() == 0:
            return
        self.steps = int(lengths.max().clamp(0, T))
        steps, samples = past_end(lengths, shape[:2]).nonzero(as_tuple=True)
        if steps.numel():
            self._past = (steps, samples)

    def clear(self, *seqs: torch.Tensor) -> None:
        if self._past is not None:
            for s in seqs:
                s.index_put_(self._past, s.new_zeros(()))

    def live_sum(self, terms: torch.Tensor) -> torch.Tensor:
        """Sum over time of per-step gradient terms, those past a sample's end cleared first (a
        zero gradient times an inf state there would otherwise be NaN). Clears `terms` in place."""
        self.clear(terms)
        return terms.sum(0)


def last_steps(seq: torch.Tensor, lengths: torch.Tensor | None, initial: torch.Tensor | None) -> torch.Tensor:
    """`tritonsnn.functional.final_state` for checked arguments (lengths as
    `tritonsnn._checks.lengths` returns them). A gather of one step per sample, no pass over the
    sequence; always a new tensor, so a carried state never keeps the sequence's storage alive."""
    start = seq.new_zeros(seq.shape[1:]) if initial is None else initial.to(seq.dtype)
    T = seq.shape[0]
    if T == 0:
        return start
    if lengths is None:
        return seq[-1].clone()
    per_sample = (-1, *([1] * (seq.dim() - 2)))
    index = (lengths.clamp(1, T) - 1).view(1, *per_sample).expand(1, *seq.shape[1:])
    return torch.where((lengths > 0).view(per_sample), seq.gather(0, index)[0], start)
