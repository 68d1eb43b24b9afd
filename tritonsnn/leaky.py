"""`tritonsnn.Leaky` and `tritonsnn.functional.leaky`: snnTorch's first-order leaky integrate-and-fire
neuron, fused."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._neuron import LIF, constructor
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.kernels.lif import naive
from tritonsnn.kernels.lif import wta as lif_wta
from tritonsnn.surrogate import resolve


def leaky(x: torch.Tensor, beta, mem: torch.Tensor | None = None,
          threshold=1.0, spike_grad=None, reset_mechanism: str = "subtract", reset_delay: bool = True,
          graded_spikes_factor=1.0, spike_dtype: torch.dtype | None = None, save_dtype: torch.dtype | None = None,
          lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky integrate-and-fire over a whole sequence, fused into one kernel.

    Per step (snnTorch 1.0.0's `Leaky`), with b = clamp(beta, 0, 1) and r_t = H(U_{t-1} - threshold)::

        subtract: U_t = b U_{t-1} + X_t - r_t threshold
        zero:     U_t = b (1 - r_t) U_{t-1} + X_t
        none:     U_t = b U_{t-1} + X_t
        S_t = H(U_t - threshold) * graded_spikes_factor

    With `reset_delay=False` the spike resets the membrane in the same step, as in snnTorch.

    Args:
        x: input current, `[T, *neurons]`, floating point.
        beta: decay rate: a number, 0-d tensor, or tensor broadcastable to `x.shape[1:]`.
        mem: initial membrane `U_0` of shape `x.shape[1:]` (zeros if None).
        threshold: firing threshold, same forms as beta.
        spike_grad: surrogate gradient (a `tritonsnn.surrogate` factory result or class `.apply`);
            None means `atan()`.
        reset_mechanism: "subtract", "zero" or "none".
        reset_delay: snnTorch's flag; True applies the reset at the next step.
        graded_spikes_factor: spikes are scaled by it; same forms as beta.
        spike_dtype: None (x's dtype), or torch.bool / torch.uint8 for binary spikes in one
            byte (inference only: they carry no gradient; graded_spikes_factor must be 1).
        save_dtype: dtype of the state sequences returned and saved for the backward (default
            x's dtype). torch.bfloat16 under fp32 input halves the membrane's memory and traffic;
            the math and the spikes stay fp32's, and each stored membrane is rounded on the side
            of the threshold the forward decided, so the backward sees the forward's spikes.
        lengths: per-sample sequence lengths for a padded batch `x: [T, B, ...]`: an integer
            tensor `[B]` with values in [0, T] (on x's device or the CPU). Sample b runs steps
            0 .. lengths[b] - 1; past them its spikes and states are returned as 0 and no
            gradient flows from there (the gradients equal running each sample alone at its own
            length). :func:`tritonsnn.functional.final_state` picks the state after each
            sample's last step.

    Returns:
        `(spk, mem_seq)`: spikes (in x's dtype unless `spike_dtype`) and the membrane `U_1..U_T`
        (in `save_dtype`), both `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> x = torch.full((5, 1), 0.5)
        >>> spk, mem = tritonsnn.functional.leaky(x, beta=0.9)
        >>> mem.flatten()
        tensor([0.5000, 0.9500, 1.3550, 0.7195, 1.1475])
        >>> spk.flatten()
        tensor([0., 0., 1., 0., 1.])
    """
    surrogate = resolve(spike_grad)
    x = _checks.time_major_input(x)
    mem = _checks.state(mem, x, "mem")
    parameters = _parameters(x, beta, threshold, graded_spikes_factor)
    reset = _checks.reset_code(reset_mechanism)
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, parameters["gsf"], (x, mem, *parameters.values()))
    spk, mem_seq, _ = lif_family.run(x=x, mem0=mem, syn0=None, alpha=None, **parameters, reset=reset,
                                     reset_delay=bool(reset_delay), reset_input=False, dtypes=dtypes,
                                     surrogate=surrogate, lengths=_checks.lengths(lengths, x))
    return spk, mem_seq


def _parameters(x: torch.Tensor, beta, threshold, graded_spikes_factor) -> dict:
    """A Leaky neuron's parameters, checked, as the LIF family takes them (`decay` clamped)."""
    return dict(decay=_checks.parameter(beta, x, "beta").clamp(0, 1),
                threshold=_checks.parameter(threshold, x, "threshold"),
                gsf=_checks.parameter(graded_spikes_factor, x, "graded_spikes_factor"))


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
    ``state_quant`` (snnTorch's: a function applied to the membrane every step, e.g.
    ``snntorch.functional.quant.state_quant(num_bits=8)``; every neuron takes it) runs the plain
    torch loop of :func:`tritonsnn.reference.leaky` instead of the fused neuron: a Python function
    cannot enter a kernel. ``inhibition`` (snnTorch's winner-take-all for dense layers, steps
    ``[batch, neurons]``: in each sample only the largest membrane may fire, its spike not scaled
    by graded_spikes_factor; every neuron above threshold still resets) runs that loop too, except
    a whole fp32 sequence on the Triton backend, which the winner-take-all kernels run.

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

    takes_inhibition = True  # snnTorch's winner-take-all: the fused kernels where they apply, else the oracle's loop

    __signature__ = constructor("beta", "threshold", "spike_grad", "surrogate_disable", "init_hidden", "inhibition",
                                "learn_beta", "learn_threshold", "reset_mechanism", "state_quant", "output",
                                "graded_spikes_factor", "learn_graded_spikes_factor", "reset_delay")
    state_names = ("mem",)
    step_settings = LIF.step_settings + ("reset_delay",)
    step_inputs = ("beta", "threshold", "graded_spikes_factor")

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self.reset_delay = o["reset_delay"]
        self._register_states()

    def init_leaky(self) -> torch.Tensor:
        """snnTorch's name for :meth:`reset_mem`; pass its result as the first ``mem``."""
        return self.reset_mem()

    def forward(self, input_: torch.Tensor, mem: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        return self._forward_states(input_, (mem,), self._run, lengths)

    def _run(self, x, mem0, lengths):
        return self._fused_or_quantised(leaky, naive.leaky, x, self.beta, mem=mem0, threshold=self.threshold,
                                        spike_grad=self._surrogate(), reset_mechanism=self.reset_mechanism,
                                        reset_delay=self.reset_delay, graded_spikes_factor=self.graded_spikes_factor,
                                        lengths=lengths)

    def _winner_take_all(self, x, beta, mem=None, threshold=1.0, spike_grad=None, reset_mechanism="subtract",
                         reset_delay=True, graded_spikes_factor=1.0, lengths=None):
        p = _parameters(x, beta, threshold, graded_spikes_factor)
        if not lif_wta.applies(x, (p["decay"], p["threshold"]), lengths, reset_delay, spike_grad):
            return None
        spk, mem_seq, _ = lif_wta.run(x, _checks.state(mem, x, "mem"), None, None, p["decay"], p["threshold"],
                                      _checks.reset_code(reset_mechanism), spike_grad)
        return spk, mem_seq

    def _step_plan(self, x, dtypes):
        return lif_family.step(x, self.state_names, _checks.reset_code(self.reset_mechanism), bool(self.reset_delay),
                               False, dtypes, self._surrogate())

    def _step_parameters(self, x):
        return _parameters(x, self.beta, self.threshold, self.graded_spikes_factor)
