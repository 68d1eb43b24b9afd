"""`tritonsnn.Lapicque` and `tritonsnn.functional.lapicque`: snnTorch's RC-circuit LIF, fused."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._ends import past_end
from tritonsnn._neuron import LIF, constructor
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.kernels.lif import naive
from tritonsnn.surrogate import resolve


def _given(value) -> bool:
    return value is not None and value is not False


def lapicque(x: torch.Tensor, beta=None, mem: torch.Tensor | None = None, R=None, C=None, time_step=1.0,
             threshold=1.0, spike_grad=None, reset_mechanism: str = "subtract", graded_spikes_factor=1.0,
             spike_dtype: torch.dtype | None = None, save_dtype: torch.dtype | None = None,
             lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lapicque's RC neuron (snnTorch's `Lapicque`) over a whole sequence, fused into one kernel.

    Per step, with dt = time_step and r_t = H(U_{t-1} - threshold)::

        V_t = X_t dt / C + (1 - dt / (R C)) U_{t-1}
        subtract: U_t = V_t - r_t threshold;  zero: U_t = (1 - r_t) V_t;  none: U_t = V_t

    The circuit comes from `beta`, or `R` and `C`, or `beta` with one of them, as in snnTorch:
    with beta, R C = dt / ln(1/beta) (R = 1 unless given), so the decay is 1 - ln(1/beta). A
    beta (or R, C) that requires grad receives its gradient through these formulas. The other
    arguments are as for :func:`tritonsnn.functional.leaky`.

    Returns:
        `(spk, mem_seq)`, each `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> spk, mem = tritonsnn.functional.lapicque(torch.full((2, 1), 0.5), beta=0.9)
        >>> mem.flatten()
        tensor([0.0527, 0.0998])
    """
    surrogate = resolve(spike_grad)
    x = _checks.time_major_input(x)
    mem = _checks.state(mem, x, "mem")
    parameters = _parameters(x, beta, R, C, time_step, threshold, graded_spikes_factor)
    reset = _checks.reset_code(reset_mechanism)
    scale = parameters.pop("scale")
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, parameters["gsf"],
                                    (x, mem, scale, *parameters.values()))
    lengths = _checks.lengths(lengths, x)
    if lengths is not None and scale.requires_grad:
        # The scale's gradient sums the input times the step's gradient: zero past a length, but
        # whatever pads the input there (NaN, inf) must not enter it.
        x = x.masked_fill(past_end(lengths, x.shape), 0)
    spk, mem_seq, _ = lif_family.run(x=_scaled(x, scale), mem0=mem, syn0=None, alpha=None, **parameters, reset=reset,
                                     reset_delay=True, reset_input=True, dtypes=dtypes, surrogate=surrogate,
                                     lengths=lengths)
    return spk, mem_seq


def _parameters(x: torch.Tensor, beta, R, C, time_step, threshold, graded_spikes_factor) -> dict:
    """A Lapicque neuron's parameters, checked: the circuit's decay and input scale, the
    threshold and graded_spikes_factor."""
    threshold = _checks.parameter(threshold, x, "threshold")
    gsf = _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor")
    decay, scale = _checks.lapicque_circuit(beta, R, C, time_step, x)
    return dict(decay=decay, scale=scale, threshold=threshold, gsf=gsf)


def _scaled(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """X dt / C in the input's dtype: a per-neuron (fp32) scale would otherwise promote the input
    that the kernels' thresholds compare at the input's precision."""
    return (x * scale).to(x.dtype)


class Lapicque(LIF):
    """Lapicque's RC neuron with snnTorch 1.0.0's constructor and results.

    Per step, with dt = time_step and r = H(U[t-1] - threshold)::

        V[t] = X[t] dt / C + (1 - dt / (R C)) U[t-1]
        subtract: U[t] = V[t] - r threshold;  zero: U[t] = (1 - r) V[t];  none: U[t] = V[t]

    Give ``beta``, or ``R`` and ``C``, or ``beta`` with one of them: the rest follows as in snnTorch
    (with beta alone R = 1 and C = dt / ln(1/beta), so the decay is 1 - ln(1/beta)); beta must lie
    in (0, 1), R and C be positive and time_step finite and positive. R, C and time_step are
    buffers. ``learn_beta=True`` makes beta a parameter that sets the dynamics (through
    R C = dt / ln(1/beta)) and receives gradients; in snnTorch 1.0.0 it is registered but unused.
    Calls, state handling and per-sample ``lengths`` as for :class:`tritonsnn.Leaky`.

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.Lapicque(beta=0.9, step_mode="multi")
        >>> spk, mem = lif(torch.full((2, 1), 0.5))
        >>> mem.flatten()
        tensor([0.0527, 0.0998])
    """

    takes_inhibition = True  # snnTorch's winner-take-all, run by the oracle's loop (`_fused_or_quantised`)

    state_names = ("mem",)
    step_inputs = ("learn_beta", "beta", "R", "C", "time_step", "threshold", "graded_spikes_factor")
    derived_from_others = ("beta",)  # snnTorch keeps R, C and beta whichever were given

    __signature__ = constructor("beta", "R", "C", "time_step", "threshold", "spike_grad", "surrogate_disable",
                                "init_hidden", "inhibition", "learn_beta", "learn_threshold", "reset_mechanism",
                                "state_quant", "output", "graded_spikes_factor", "learn_graded_spikes_factor",
                                beta=False, R=False, C=False, time_step=1)

    def _setup(self, o: dict) -> None:
        dt = torch.as_tensor(o["time_step"])
        if dt.numel() != 1:
            raise ValueError(f"time_step must be a single number, got shape {tuple(dt.shape)}")
        dt_value = _checks.host_values(o["time_step"])
        if dt_value is not None:
            _checks.positive_time_step(float(dt_value))
        self._check_circuit(o["beta"], o["R"], o["C"])
        o["beta"], R, C = self._circuit(o["beta"], o["R"], o["C"], dt if dt_value is None else float(dt_value))
        super()._setup(o)
        self.learn_beta = o["learn_beta"]
        self.register_buffer("time_step", dt)
        self.register_buffer("R", torch.as_tensor(R))
        self.register_buffer("C", torch.as_tensor(C))
        self._register_states()

    @staticmethod
    def _check_circuit(beta, R, C) -> None:
        """Refuse, when the neuron is built, values that make no RC circuit (snnTorch builds them
        and fails or computes nonsense later). Values that cannot be read yet (meta tensors) are
        checked when the neuron runs."""
        for name, value in (("beta", beta), ("R", R), ("C", C)):
            host = _checks.host_values(value) if _given(value) else None
            if host is None:
                continue
            got = (f"{host.item()!r}" if host.numel() == 1
                   else f"values from {host.min().item()} to {host.max().item()}")
            if name == "beta" and not bool(((host > 0) & (host < 1)).all()):
                raise ValueError(
                    f"Lapicque's beta must lie in (0, 1), got {got}: the circuit's C = dt / ln(1/beta) "
                    "is infinite at beta = 1 (the neuron would ignore its input) and undefined for beta <= 0")
            if name != "beta" and not bool((host > 0).all()):
                raise ValueError(f"Lapicque's {name} must be positive, got {got}")

    @staticmethod
    def _circuit(beta, R, C, dt):
        """(beta, R, C) completed from what was given, by snnTorch's rules."""
        has_beta, has_r, has_c = _given(beta), _given(R), _given(C)
        if has_beta and has_r and has_c:
            raise ValueError("Lapicque takes beta, or R and C, or beta with one of them, not all three")
        if not has_beta and not (has_r and has_c):
            raise ValueError("Either beta or 2 of beta, R and C must be specified as an input argument.")
        if not has_beta:  # of shape [1] at least, as snnTorch's
            return torch.exp(torch.ones(1) * (-dt / (torch.as_tensor(R) * torch.as_tensor(C)))), R, C
        log_inv_beta = -torch.log(torch.as_tensor(beta, dtype=torch.float32))
        if has_c:
            return beta, dt / (torch.as_tensor(C) * log_inv_beta), C
        R = R if has_r else 1  # an integer, as snnTorch stores it
        return beta, R, dt / (torch.as_tensor(R) * log_inv_beta)

    def init_lapicque(self) -> torch.Tensor:
        """snnTorch's name for :meth:`reset_mem`; pass its result as the first ``mem``."""
        return self.reset_mem()

    def forward(self, input_: torch.Tensor, mem: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        return self._forward_states(input_, (mem,), self._run, lengths)

    def _circuit_given(self) -> dict:
        """With learn_beta the circuit follows beta (and R); otherwise R and C, as in snnTorch."""
        return dict(beta=self.beta, R=self.R) if self.learn_beta else dict(R=self.R, C=self.C)

    def _step_plan(self, x, dtypes):
        return lif_family.step(x, self.state_names, _checks.reset_code(self.reset_mechanism), True, True, dtypes,
                               self._surrogate())

    def _step_parameters(self, x):
        circuit = self._circuit_given()
        return _parameters(x, circuit.get("beta"), circuit["R"], circuit.get("C"), self.time_step, self.threshold,
                           self.graded_spikes_factor)

    def _step_arguments(self, x_t, parameters):
        arguments = {name: value for name, value in parameters.items() if name != "scale"}
        arguments["x"] = _scaled(x_t.unsqueeze(0), parameters["scale"])
        return arguments

    def _run(self, x, mem0, lengths):
        return self._fused_or_quantised(lapicque, naive.lapicque, x, mem=mem0, time_step=self.time_step,
                                        threshold=self.threshold, spike_grad=self._surrogate(),
                                        reset_mechanism=self.reset_mechanism,
                                        graded_spikes_factor=self.graded_spikes_factor, **self._circuit_given(),
                                        lengths=lengths)
