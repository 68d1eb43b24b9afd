"""`tritonsnn.Alpha` and `tritonsnn.functional.alpha`: snnTorch's alpha-membrane neuron (two synaptic
currents), fused."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._neuron import LIF, constructor
from tritonsnn.kernels.alpha import dispatch as alpha_family
from tritonsnn.kernels.alpha import naive
from tritonsnn.surrogate import resolve


def alpha(x: torch.Tensor, alpha, beta, syn_exc: torch.Tensor | None = None, syn_inh: torch.Tensor | None = None,
          mem: torch.Tensor | None = None, threshold=1.0, spike_grad=None, reset_mechanism: str = "zero",
          graded_spikes_factor=1.0, spike_dtype: torch.dtype | None = None, save_dtype: torch.dtype | None = None,
          lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """snnTorch's Alpha neuron over a whole sequence, fused into one kernel.

    Per step, with a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1),
    tau = ln a / (ln b - ln a) + 1 and r_t = H(U_{t-1} - threshold)::

        E_t = a E_{t-1} + X_t,   I_t = b I_{t-1} - X_t,   U_t = tau (E_t + I_t)
        zero (default): E, I and U are multiplied by (1 - r_t)
        subtract: E_t -= r_t threshold,  I_t *= (1 - r_t),  U_t += r_t I_{t-1}  (snnTorch's code)
        S_t = H(U_t - threshold) * graded_spikes_factor

    The membrane does not decay from its own past, so `mem` only sets the first reset. alpha must
    exceed beta, so beta < 1 (checked for numbers and CPU tensors; CUDA tensors are not inspected,
    which would stall the device). spike_dtype, save_dtype and lengths are as for
    :func:`tritonsnn.functional.leaky` (save_dtype and lengths apply to the three states).

    Returns:
        `(spk, syn_exc_seq, syn_inh_seq, mem_seq)`, each `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> spk, exc, inh, mem = tritonsnn.functional.alpha(torch.full((3, 1), 0.5), alpha=0.9, beta=0.8)
        >>> mem.flatten()
        tensor([0.0000, 0.0947, 0.2558])
    """
    surrogate = resolve(spike_grad)
    x = _checks.time_major_input(x)
    mem = _checks.state(mem, x, "mem")
    syn_exc = _checks.state(syn_exc, x, "syn_exc")
    syn_inh = _checks.state(syn_inh, x, "syn_inh")
    parameters = _parameters(x, alpha, beta, threshold, graded_spikes_factor)
    reset = _checks.reset_code(reset_mechanism)
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, parameters["gsf"],
                                    (x, syn_exc, syn_inh, *parameters.values()))
    return alpha_family.run(x=x, exc0=syn_exc, inh0=syn_inh, mem0=mem, **parameters, reset=reset, dtypes=dtypes,
                            surrogate=surrogate, lengths=_checks.lengths(lengths, x))


def _parameters(x: torch.Tensor, alpha, beta, threshold, graded_spikes_factor) -> dict:
    """An Alpha neuron's parameters, checked: the clamped decays a > b, the membrane scale tau,
    the threshold and graded_spikes_factor."""
    beta = _checks.parameter(beta, x, "beta")
    threshold = _checks.parameter(threshold, x, "threshold")
    gsf = _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor")
    a = _checks.parameter(alpha, x, "alpha").clamp(0, 1)
    _checks.alpha_decays(a, beta)
    b = beta.clamp(0, 1)
    return dict(a=a, b=b, tau=torch.log(a) / (torch.log(b) - torch.log(a)) + 1, threshold=threshold, gsf=gsf)


class Alpha(LIF):
    """snnTorch 1.0.0's `Alpha` neuron: an excitatory current decaying with alpha and an
    inhibitory one decaying with beta, whose scaled sum is the membrane.

    Per step, with a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1), tau = ln a / (ln b - ln a) + 1::

        E[t] = a E[t-1] + X[t],   I[t] = b I[t-1] - X[t],   U[t] = tau (E[t] + I[t])

    reset "zero" (the default) clears all three where the neuron fired at t - 1; "subtract" follows
    snnTorch's code (E loses the threshold, I is cleared, U gains the previous I). Requires
    alpha > beta (hence beta < 1); as in snnTorch, the stored ``alpha`` is the given one clamped
    to [0, 1]. Calls: ``spk, syn_exc, syn_inh, mem = lif(x_t, syn_exc, syn_inh,
    mem)`` per step, or whole sequences with ``step_mode="multi"``; state handling and per-sample
    ``lengths`` as for :class:`tritonsnn.Leaky`. ``learn_alpha`` works here (it raises in snnTorch 1.0.0);
    ``graded_spikes_factor`` is an addition to snnTorch's signature.

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.Alpha(alpha=0.9, beta=0.8, step_mode="multi")
        >>> spk, exc, inh, mem = lif(torch.full((3, 1), 0.5))
        >>> mem.flatten()
        tensor([0.0000, 0.0947, 0.2558])
    """

    takes_inhibition = True  # snnTorch's winner-take-all, run by the oracle's loop (`_fused_or_quantised`)

    state_names = ("syn_exc", "syn_inh", "mem")
    step_inputs = ("alpha", "beta", "threshold", "graded_spikes_factor")
    __signature__ = constructor("alpha", "beta", "threshold", "spike_grad", "surrogate_disable", "init_hidden",
                                "inhibition", "learn_alpha", "learn_beta", "learn_threshold", "reset_mechanism",
                                "state_quant", "output", "graded_spikes_factor", "learn_graded_spikes_factor",
                                reset_mechanism="zero")

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        # snnTorch stores the clamped alpha (a learnable one raises there; here it is a Parameter
        # holding the clamped value). A detached copy: a clamp that kept the given tensor's graph
        # would leave a buffer whose graph one backward frees.
        self._register("alpha", torch.as_tensor(o["alpha"]).detach().clamp(0, 1), o["learn_alpha"])
        alpha_values, beta_values = _checks.host_values(o["alpha"]), _checks.host_values(o["beta"])
        if alpha_values is not None and beta_values is not None:
            _checks.alpha_decays(alpha_values.clamp(0, 1), beta_values)
        self._register_states()

    def init_alpha(self):
        """snnTorch's name for :meth:`reset_mem`: returns the (empty) ``(syn_exc, syn_inh, mem)``."""
        return self.reset_mem()

    def forward(self, input_: torch.Tensor, syn_exc: torch.Tensor | None = None,
                syn_inh: torch.Tensor | None = None, mem: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None):
        return self._forward_states(input_, (syn_exc, syn_inh, mem), self._run, lengths)

    def _step_plan(self, x, dtypes):
        return alpha_family.step(x, self.state_names, _checks.reset_code(self.reset_mechanism), dtypes,
                                 self._surrogate())

    def _step_parameters(self, x):
        parameters = _parameters(x, self.alpha, self.beta, self.threshold, self.graded_spikes_factor)
        parameters["keep_currents"] = alpha_family.keep_currents(parameters["tau"])
        return parameters

    def _run(self, x, exc0, inh0, mem0, lengths):
        return self._fused_or_quantised(alpha, naive.alpha, x, self.alpha, self.beta, syn_exc=exc0, syn_inh=inh0,
                                        mem=mem0, threshold=self.threshold, spike_grad=self._surrogate(),
                                        reset_mechanism=self.reset_mechanism,
                                        graded_spikes_factor=self.graded_spikes_factor, lengths=lengths)
