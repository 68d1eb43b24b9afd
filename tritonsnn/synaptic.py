"""`tritonsnn.Synaptic` (and `Stein`, its old name) and `tritonsnn.functional.synaptic`: snnTorch's
synaptic-conductance LIF, fused."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._neuron import LIF, constructor
from tritonsnn.leaky import _parameters as leaky_parameters
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.kernels.lif import naive
from tritonsnn.kernels.lif import wta as lif_wta
from tritonsnn.surrogate import LIFHeaviside, resolve


def synaptic(x: torch.Tensor, alpha, beta, syn: torch.Tensor | None = None, mem: torch.Tensor | None = None,
             threshold=1.0, spike_grad=None, reset_mechanism: str = "subtract", reset_delay: bool = True,
             graded_spikes_factor=1.0, spike_dtype: torch.dtype | None = None,
             save_dtype: torch.dtype | None = None,
             lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synaptic-conductance LIF (snnTorch's `Synaptic`, the seed document's `Stein`) over a whole
    sequence, fused into one kernel.

    Per step, with a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1), r_t = H(U_{t-1} - threshold)::

        I_t = a I_{t-1} + X_t                       (the synaptic current is never reset)
        subtract: U_t = b U_{t-1} + I_t - r_t threshold
        zero:     U_t = (1 - r_t) (b U_{t-1} + I_t)  (the input is zeroed too, unlike Leaky)
        none:     U_t = b U_{t-1} + I_t
        S_t = H(U_t - threshold) * graded_spikes_factor

    Args:
        x: input current, `[T, *neurons]`.
        alpha, beta: decay rates of the current and the membrane (numbers, 0-d or per-neuron
            tensors broadcastable to `x.shape[1:]`).
        syn, mem: initial current and membrane of shape `x.shape[1:]` (zeros if None).
        threshold, spike_grad, reset_mechanism, reset_delay, graded_spikes_factor, spike_dtype,
            save_dtype, lengths: as for :func:`tritonsnn.functional.leaky` (save_dtype and
            lengths apply to both states).

    Returns:
        `(spk, syn_seq, mem_seq)`, each `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> x = torch.full((4, 1), 0.5)
        >>> spk, syn, mem = tritonsnn.functional.synaptic(x, alpha=0.8, beta=0.9)
        >>> spk.flatten(), syn.flatten(), mem.flatten()
        (tensor([0., 1., 1., 1.]), tensor([0.5000, 0.9000, 1.2200, 1.4760]), tensor([0.5000, 1.3500, 1.4350, 1.7675]))
    """
    surrogate = resolve(spike_grad)
    x = _checks.time_major_input(x)
    mem = _checks.state(mem, x, "mem")
    syn = _checks.state(syn, x, "syn")
    parameters = _parameters(x, alpha, beta, threshold, graded_spikes_factor)
    reset = _checks.reset_code(reset_mechanism)
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, parameters["gsf"],
                                    (x, mem, syn, *parameters.values()))
    spk, mem_seq, syn_seq = lif_family.run(x=x, mem0=mem, syn0=syn, **parameters, reset=reset,
                                           reset_delay=bool(reset_delay), reset_input=True, dtypes=dtypes,
                                           surrogate=surrogate, lengths=_checks.lengths(lengths, x))
    return spk, syn_seq, mem_seq


def _parameters(x: torch.Tensor, alpha, beta, threshold, graded_spikes_factor) -> dict:
    """A Synaptic neuron's parameters, checked, as the LIF family takes them (decays clamped)."""
    return dict(alpha=_checks.parameter(alpha, x, "alpha").clamp(0, 1),
                **leaky_parameters(x, beta, threshold, graded_spikes_factor))


class Synaptic(LIF):
    """Two-state LIF neuron with snnTorch 1.0.0's constructor and results: a synaptic current that
    decays with alpha feeds a membrane that decays with beta.

    Per step, with a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1), r = H(U[t-1] - threshold)::

        I[t] = a I[t-1] + X[t]                          (never reset)
        subtract: U[t] = b U[t-1] + I[t] - r threshold
        zero:     U[t] = (1 - r) (b U[t-1] + I[t])
        none:     U[t] = b U[t-1] + I[t]
        S[t] = H(U[t] - threshold) * graded_spikes_factor

    Calls: ``spk, syn, mem = lif(x_t, syn, mem)`` one step at a time (``step_mode="single"``), or
    ``spk_seq, syn_seq, mem_seq = lif(x_seq, syn0, mem0)`` over a time-major sequence
    (``step_mode="multi"``); state handling and per-sample ``lengths`` as for
    :class:`tritonsnn.Leaky`. ``learn_alpha``, ``learn_beta``, ``learn_threshold`` and
    ``learn_graded_spikes_factor`` make those parameters (scalar or per-neuron) learnable;
    ``graded_spikes_factor`` is an addition to snnTorch's signature, which fixes it at 1.

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.Synaptic(alpha=0.8, beta=0.9)
        >>> syn, mem = lif.init_synaptic()
        >>> for x_t in torch.full((2, 1), 0.5):
        ...     spk, syn, mem = lif(x_t, syn, mem)
        >>> spk, syn, mem
        (tensor([1.]), tensor([0.9000]), tensor([1.3500]))
    """

    takes_inhibition = True  # snnTorch's winner-take-all: the fused kernels where they apply, else the oracle's loop

    state_names = ("syn", "mem")
    step_settings = LIF.step_settings + ("reset_delay",)
    step_inputs = ("alpha", "beta", "threshold", "graded_spikes_factor")

    __signature__ = constructor("alpha", "beta", "threshold", "spike_grad", "surrogate_disable", "init_hidden",
                                "inhibition", "learn_alpha", "learn_beta", "learn_threshold", "reset_mechanism",
                                "state_quant", "output", "reset_delay", "graded_spikes_factor",
                                "learn_graded_spikes_factor")

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self._register("alpha", o["alpha"], o["learn_alpha"])
        self.reset_delay = o["reset_delay"]
        self._register_states()

    def init_synaptic(self):
        """snnTorch's name for :meth:`reset_mem`: returns the (empty) ``(syn, mem)``."""
        return self.reset_mem()

    def forward(self, input_: torch.Tensor, syn: torch.Tensor | None = None, mem: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None):
        return self._forward_states(input_, (syn, mem), self._run, lengths)

    def _step_plan(self, x, dtypes):
        return lif_family.step(x, self.state_names, _checks.reset_code(self.reset_mechanism), bool(self.reset_delay),
                               True, dtypes, self._surrogate())

    def _step_parameters(self, x):
        return _parameters(x, self.alpha, self.beta, self.threshold, self.graded_spikes_factor)

    def _winner_take_all(self, x, alpha, beta, syn=None, mem=None, threshold=1.0, spike_grad=None,
                         reset_mechanism="subtract", reset_delay=True, graded_spikes_factor=1.0, lengths=None):
        p = _parameters(x, alpha, beta, threshold, graded_spikes_factor)
        if not lif_wta.applies(x, (p["alpha"], p["decay"], p["threshold"]), lengths, reset_delay, spike_grad):
            return None
        spk, mem_seq, syn_seq = lif_wta.run(x, _checks.state(mem, x, "mem"), _checks.state(syn, x, "syn"), p["alpha"],
                                            p["decay"], p["threshold"], _checks.reset_code(reset_mechanism), spike_grad)
        return spk, syn_seq, mem_seq

    def _run(self, x, syn0, mem0, lengths):
        return self._fused_or_quantised(synaptic, naive.synaptic, x, self.alpha, self.beta, syn=syn0, mem=mem0,
                                        threshold=self.threshold, spike_grad=self._surrogate(),
                                        reset_mechanism=self.reset_mechanism, reset_delay=self.reset_delay,
                                        graded_spikes_factor=self.graded_spikes_factor, lengths=lengths)


class Stein(Synaptic):
    """The seed document's name for :class:`Synaptic` (snnTorch 0.x), with its default surrogate
    ``LIF.Heaviside`` (forward x > 0, gradient passed where x >= 0). It follows today's Synaptic
    timing: a spike is emitted in the step the membrane crosses the threshold.

    Example::

        >>> import torch, tritonsnn
        >>> lif = tritonsnn.Stein(alpha=0.8, beta=0.9)
        >>> syn, mem = lif.init_synaptic()
        >>> for x_t in torch.full((3, 1), 0.5):
        ...     spk, syn, mem = lif(x_t, syn, mem)
        >>> spk, mem
        (tensor([1.]), tensor([1.4350]))
    """

    __signature__ = Synaptic.__signature__.replace(parameters=[
        p.replace(default=LIFHeaviside.apply) if p.name == "spike_grad" else p
        for p in Synaptic.__signature__.parameters.values()])
