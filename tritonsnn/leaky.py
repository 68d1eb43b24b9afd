"""`tritonsnn.Leaky`: snnTorch's first-order leaky integrate-and-fire neuron, fused."""
from __future__ import annotations

import torch

from tritonsnn import functional
from tritonsnn._neuron import LIF, constructor


class Leaky(LIF):
    """First-order leaky integrate-and-fire neuron with snnTorch 1.0.0's constructor and results.

    Per step, with b = clamp(beta, 0, 1) and r = H(U[t-1] - threshold)::

        subtract: U[t] = b U[t-1] + X[t] - r threshold
        zero:     U[t] = b (1 - r) U[t-1] + X[t]
        none:     U[t] = b U[t-1] + X[t]
        S[t] = H(U[t] - threshold) * graded_spikes_factor

    Two calling conventions:

    - ``step_mode="single"`` (default), exactly as snnTorch: ``spk, mem = lif(x_t, mem)`` for one
      time step (one fused step).
    - ``step_mode="multi"``: ``spk_seq, mem_seq = lif(x_seq, mem0)`` with time-major
      ``x_seq: [T, *neurons]``, the whole sequence in one fused kernel; ``mem_seq`` holds U[1..T].

    Single-step calls keep snnTorch's state handling: the membrane is stored in ``self.mem``, and a
    call without ``mem`` continues from it. A multi-step call is stateless (``mem0=None`` means
    zeros) unless ``init_hidden=True``, where the final state carries over to the next call until
    :meth:`reset_mem`. With ``init_hidden=True`` the call returns only the spikes (``output=True``
    also returns the membrane). A multi-step call takes ``lengths`` (``[B]`` integers) for a padded
    batch ``x_seq: [T, B, ...]``: each sample stops at its own length (outputs past it are 0,
    no gradient flows from there; see :func:`tritonsnn.functional.leaky`), and the state carried
    with ``init_hidden=True`` is each sample's state after its own last step. Parameters given
    with ``learn_*=True`` are ``nn.Parameter``s and receive gradients; beta, threshold and
    graded_spikes_factor may be scalars or per-neuron tensors that broadcast to the neuron shape.
    ``inhibition`` and ``state_quant`` are not implemented yet (NotImplementedError).

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.Leaky(beta=0.9)
        >>> mem = lif.init_leaky()
        >>> for x_t in torch.full((3, 2), 0.5):
        ...     spk, mem = lif(x_t, mem)
        >>> spk, mem
        (tensor([1., 1.]), tensor([1.3550, 1.3550]))
        >>> seq = snn.Leaky(beta=0.9, step_mode="multi")
        >>> spk_seq, mem_seq = seq(torch.full((3, 2), 0.5))
        >>> mem_seq[:, 0]
        tensor([0.5000, 0.9500, 1.3550])
    """

    __signature__ = constructor("beta", "threshold", "spike_grad", "surrogate_disable", "init_hidden", "inhibition",
                                "learn_beta", "learn_threshold", "reset_mechanism", "state_quant", "output",
                                "graded_spikes_factor", "learn_graded_spikes_factor", "reset_delay")
    state_names = ("mem",)

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self.reset_delay = o["reset_delay"]
        self._register_states()

    def init_leaky(self) -> torch.Tensor:
        """snnTorch's name for :meth:`reset_mem`; pass its result as the first ``mem``."""
        return self.reset_mem()

    def forward(self, input_: torch.Tensor, mem: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        def run(x, mem0, lengths):
            return functional.leaky(
                x, self.beta, mem=mem0, threshold=self.threshold, spike_grad=self._surrogate(),
                reset_mechanism=self.reset_mechanism, reset_delay=self.reset_delay,
                graded_spikes_factor=self.graded_spikes_factor, **self._storage(), lengths=lengths)

        return self._forward_states(input_, (mem,), run, lengths)
