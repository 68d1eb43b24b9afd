"""`tritonsnn.StateLeaky`, `tritonsnn.LinearLeaky` and `tritonsnn.functional.state_leaky`:
snnTorch's leaky integrator without a reset, whose membrane is the input filtered by a causal
exponential kernel (optionally truncated to its last K taps).

snnTorch computes the membrane as a depthwise causal convolution over the whole sequence, O(T)
work per step (O(K) truncated). The same filter is a recurrence, O(1) per step: with
d = exp(-1/tau),

    full kernel:      U_t = d U_{t-1} + X_t
    truncated to K:   U_t = d U_{t-1} + X_t - d^K X_{t-K}

(each step the oldest tap, d^K X_{t-K}, leaves the window). Both run as the LIF family's fused
time loop with reset "none", spikes included; the truncated one over the input
X_t - d^K X_{t-K}, formed in one elementwise pass before it. One tap (K = 1) is the loop with
d = 0: the membrane is the input itself."""
from __future__ import annotations

from warnings import warn

import torch
from torch import nn

from tritonsnn import _checks
from tritonsnn._dtypes import acc_dtype
from tritonsnn._neuron import LIF, constructor
from tritonsnn.kernels.codes import RESET_NONE
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.surrogate import resolve


def state_leaky(x: torch.Tensor, tau, threshold=1.0, spike_grad=None, graded_spikes_factor=1.0,
                kernel_truncation_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """snnTorch's StateLeaky over a whole sequence: the membrane is the input filtered by the
    causal kernel h[k] = exp(-k / tau), k = 0 .. K-1, and the neuron fires on it with no reset::

        U_t = sum_{k < min(K, t + 1)} h[k] X_{t-k}      (K = T without truncation)
        S_t = H(U_t - threshold) * graded_spikes_factor

    computed as the recurrence U_t = d U_{t-1} + X_t with d = exp(-1/tau) in one fused time loop
    (see the module docstring for the truncated kernel). The sequence starts from rest: there is
    no initial state.

    Args:
        x: input, `[T, *neurons]`, floating point.
        tau: the kernel's time constant (snnTorch's StateLeaky holds tau = 1 / (1 - beta + 1e-12)):
            a number, 0-d tensor, or tensor broadcastable to `x.shape[1:]`, such as one per channel.
        threshold, spike_grad, graded_spikes_factor: as for :func:`tritonsnn.functional.leaky`.
        kernel_truncation_steps: K, the number of taps kept (a positive integer), or None for all.

    Returns:
        `(spk, mem_seq)`, both `[T, *neurons]` in x's dtype.

    Example::

        >>> import torch, tritonsnn
        >>> spk, mem = tritonsnn.functional.state_leaky(torch.tensor([[1.0], [0.5], [0.0]]), tau=1.0,
        ...                                            threshold=0.3, kernel_truncation_steps=2)
        >>> mem.flatten(), spk.flatten()   # the third step holds only the last two inputs
        (tensor([1.0000, 0.8679, 0.1839]), tensor([1., 1., 0.]))
    """
    surrogate = resolve(spike_grad)
    x = _checks.time_major_input(x)
    threshold = _checks.parameter(threshold, x, "threshold")
    gsf = _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor")
    drive, decay = _recurrence(x, tau, kernel_truncation_steps)
    dtypes = _checks.storage_dtypes(drive, None, None, gsf, ())
    spk, mem, _ = lif_family.run(x=drive, mem0=None, syn0=None, alpha=None, decay=decay, threshold=threshold, gsf=gsf,
                                 reset=RESET_NONE, reset_delay=True, reset_input=False, dtypes=dtypes,
                                 surrogate=surrogate, lengths=None)
    return spk.to(x.dtype), mem.to(x.dtype)


def membrane(x: torch.Tensor, tau, kernel_truncation_steps: int | None = None) -> torch.Tensor:
    """The membrane of :func:`state_leaky` alone (no spikes), in x's dtype."""
    x = _checks.time_major_input(x)
    drive, decay = _recurrence(x, tau, kernel_truncation_steps)
    return lif_family.integrate(drive, None, decay).to(x.dtype)


def _recurrence(x: torch.Tensor, tau, kernel_truncation_steps) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, decay) of the recurrence that filters x with StateLeaky's kernel (the module
    docstring): x and d = exp(-1/tau); with K taps below T, the input X_t - d^K X_{t-K}, in the
    math dtype (a 2-byte x is not rounded again); with one tap, x and a decay of 0 (h = [1] does
    not depend on tau, so tau gets no gradient)."""
    decay = torch.exp(-1 / _checks.parameter(tau, x, "tau"))
    if kernel_truncation_steps is None:
        return x, decay
    taps = _checks.positive_int(kernel_truncation_steps, "kernel_truncation_steps")
    if taps >= x.shape[0]:
        return x, decay
    if taps == 1:
        return x, torch.zeros_like(decay)
    x = x.to(acc_dtype(x.dtype))
    return torch.cat([x[:taps], x[taps:] - decay.pow(taps) * x[:-taps]]), decay


class StateLeaky(LIF):
    """snnTorch 1.0.0's StateLeaky: a leaky integrator without a reset over a whole time-major
    sequence ``[T, B, channels]``, its membrane the input filtered by the causal kernel
    exp(-k / tau) (all taps, or the last ``kernel_truncation_steps``), fused as a recurrence
    (:func:`tritonsnn.functional.state_leaky`). ``tau = 1 / (1 - beta + 1e-12)`` is held as a
    buffer, or a parameter with ``learn_beta=True``; ``beta`` reads ``(tau - 1) / tau``; beta
    may be one value or one per channel. Calls return ``(spk, mem)`` with ``output=True``
    (the default), ``mem`` alone with ``output=False``; there is no state between calls.

    Constructor, defaults and state_dict are snnTorch's (``beta`` is also kept as registered, as
    snnTorch keeps it). Differences: spikes are scaled by ``graded_spikes_factor`` once (snnTorch
    1.0.0 multiplies by it twice, contrary to its documentation), and ``state_quant`` is applied
    to the membrane once before it fires (snnTorch applies it again inside ``fire``: the same
    for its idempotent quantisers).

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.StateLeaky(beta=0.5, channels=2)
        >>> spk, mem = lif(torch.full((3, 1, 2), 0.6))
        >>> mem[:, 0, 0], spk[:, 0, 0]
        (tensor([0.6000, 0.9639, 1.1846]), tensor([0., 0., 1.]))
    """

    __signature__ = constructor("beta", "channels", "threshold", "spike_grad", "surrogate_disable", "learn_beta",
                                "learn_threshold", "state_quant", "output", "graded_spikes_factor",
                                "learn_graded_spikes_factor", "kernel_truncation_steps", output=True,
                                kernel_truncation_steps=None, additions=())
    state_names = ()
    # What snnTorch's StateLeaky takes from its base classes' defaults, not from its constructor.
    FIXED = {"init_hidden": False, "inhibition": False, "reset_mechanism": "subtract", "step_mode": "multi",
             "spike_dtype": None, "save_dtype": None}

    def _bind(self, args, kwargs):
        return {**super()._bind(args, kwargs), **self.FIXED}

    def _setup(self, o: dict) -> None:
        if not o["output"]:
            _warn_inert_spike_settings(type(self).__name__, o)
        # Without spikes the surrogate is never used: whatever was given is kept unresolved (as
        # snnTorch accepts any function there), and resolved only if `output` is turned on.
        super()._setup({**o, "spike_grad": o["spike_grad"] if o["output"] else None})
        if not o["output"] and not o["surrogate_disable"]:
            self._spike_grad, self._resolved_surrogate = o["spike_grad"], None
        self.channels = _checks.positive_int(o["channels"], "channels")
        truncation = o["kernel_truncation_steps"]
        self.kernel_truncation_steps = (None if truncation is None
                                        else _checks.positive_int(truncation, "kernel_truncation_steps"))
        beta = torch.as_tensor(o["beta"])
        if beta.shape not in ((self.channels,), (), (1,)):
            raise ValueError(f"{type(self).__name__}: beta has shape {tuple(beta.shape)}; it must be one value "
                             f"(shape () or (1,)) or one per channel ({self.channels},)")
        self._register("tau", 1 / (1 - beta + 1e-12), o["learn_beta"])

    @classmethod
    def snntorch_arguments(cls, module: nn.Module) -> dict:
        """snnTorch's StateLeaky keeps no channel count (only a per-channel tau has one) and
        learns tau, not beta."""
        return {"channels": module.tau.numel() if module.tau.dim() == 1 else 1,
                "learn_beta": isinstance(module.tau, nn.Parameter)}

    @property
    def beta(self) -> torch.Tensor:
        """The decay rate the time constant stands for, (tau - 1) / tau (the kernel decays by
        exp(-1/tau) per step, as snnTorch's does)."""
        return (self.tau - 1) / self.tau

    def _surrogate(self):
        if self._resolved_surrogate is None:
            self.spike_grad = self._spike_grad  # resolving raises for what is not a surrogate
        return self._resolved_surrogate

    def forward(self, input_: torch.Tensor):
        """``(spk, mem)`` over ``input_: [T, B, channels]`` (``mem`` alone with ``output=False``)."""
        x = self._sequence(input_)
        truncation = self.kernel_truncation_steps
        if self.output and not self.state_quant:
            self.spk, mem = state_leaky(x, self.tau, threshold=self.threshold, spike_grad=self._surrogate(),
                                        graded_spikes_factor=self.graded_spikes_factor,
                                        kernel_truncation_steps=truncation)
            return self.spk, mem
        mem = membrane(x, self.tau, truncation)
        if self.state_quant:
            mem = self.state_quant(mem)
        if not self.output:
            return mem
        self.spk = self.fire(mem)
        return self.spk, mem

    def _sequence(self, input_) -> torch.Tensor:
        """The input, checked: time-major [T, B, C] with C = channels where tau is per channel."""
        name = type(self).__name__
        if not isinstance(input_, torch.Tensor) or input_.dim() != 3:
            shape = tuple(input_.shape) if isinstance(input_, torch.Tensor) else type(input_).__name__
            raise ValueError(f"{name} takes a time-major sequence [T, batch, channels]; got {shape}")
        if self.tau.numel() > 1 and input_.shape[2] != self.tau.numel():
            raise ValueError(f"{name} has {self.tau.numel()} channels but the input has {input_.shape[2]} "
                             "(its last dimension)")
        return input_

    def fire_inhibition(self, batch_size, mem):
        raise NotImplementedError(f"{type(self).__name__} has no inhibition (use Leaky)")

    def mem_reset(self, mem):
        raise NotImplementedError(f"{type(self).__name__} never resets its membrane, so it has no reset signal")

    def state_function(self, input_):
        raise NotImplementedError(f"{type(self).__name__} has no step-by-step state: call it on a whole sequence")

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_truncation_steps={self.kernel_truncation_steps}"


def _warn_inert_spike_settings(name: str, o: dict) -> None:
    """snnTorch's warning: with output=False no spikes are made, so spike settings do nothing."""
    factor = torch.as_tensor(o["graded_spikes_factor"])
    if (o["spike_grad"] is not None or o["surrogate_disable"] or o["learn_threshold"]
            or o["learn_graded_spikes_factor"] or bool((factor != 1).any())):
        warn(f"{name}: output=False makes no spikes, so spike_grad, surrogate_disable, learn_threshold and "
             "graded_spikes_factor have no effect", UserWarning, stacklevel=4)


class LinearLeaky(StateLeaky):
    """snnTorch 1.0.0's LinearLeaky: an ``nn.Linear(in_features, out_features)`` applied at every
    step (one GEMM over the whole sequence), then :class:`StateLeaky` over its ``out_features``
    channels. ``bias``, ``device`` and ``dtype`` go to the linear layer (``self.linear``, whose
    state_dict keys are snnTorch's).

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.LinearLeaky(beta=0.9, in_features=8, out_features=4)
        >>> spk, mem = lif(torch.rand(16, 2, 8))
        >>> spk.shape, mem.shape
        (torch.Size([16, 2, 4]), torch.Size([16, 2, 4]))
    """

    __signature__ = constructor("beta", "in_features", "out_features", "bias", "device", "dtype", "threshold",
                                "spike_grad", "surrogate_disable", "learn_beta", "learn_threshold", "state_quant",
                                "output", "graded_spikes_factor", "learn_graded_spikes_factor",
                                "kernel_truncation_steps", bias=True, device=None, dtype=None, output=True,
                                kernel_truncation_steps=None, additions=())
    snntorch_layers = ("linear",)

    def _bind(self, args, kwargs):
        o = super()._bind(args, kwargs)
        return {**o, "channels": o["out_features"]}

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self.linear = nn.Linear(in_features=o["in_features"], out_features=o["out_features"], bias=o["bias"],
                                device=o["device"], dtype=o["dtype"])

    def _sequence(self, input_) -> torch.Tensor:
        if not isinstance(input_, torch.Tensor) or input_.dim() != 3:
            shape = tuple(input_.shape) if isinstance(input_, torch.Tensor) else type(input_).__name__
            raise ValueError(f"LinearLeaky takes a time-major sequence [T, batch, in_features]; got {shape}")
        return super()._sequence(self.linear(input_))

    @classmethod
    def snntorch_arguments(cls, module: nn.Module) -> dict:
        """StateLeaky's, and the linear layer's shape and dtype (its weights are copied after)."""
        weight = module.linear.weight
        return {**super().snntorch_arguments(module), "in_features": module.linear.in_features,
                "out_features": module.linear.out_features, "bias": module.linear.bias is not None,
                "device": weight.device, "dtype": weight.dtype}
