"""`tritonsnn.DeltaLeaky` and `tritonsnn.functional.delta_leaky`: snnTorch's delta neuron, a leaky
integrator without a reset that fires where its membrane changed by more than a threshold.

Over a sequence the membrane is the LIF family's fused time loop with reset "none"
(`dispatch.integrate`); each step's change and spike are elementwise functions of that sequence
and its shift by one step, computed after it."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._dtypes import acc_dtype
from tritonsnn._neuron import constructor
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.kernels.lif.naive_integrators import delta_step
from tritonsnn.leaky import Leaky
from tritonsnn.surrogate import resolve


def delta_leaky(x: torch.Tensor, beta, mem: torch.Tensor | None = None, delta_threshold=1.0,
                spike_grad=None) -> tuple[torch.Tensor, torch.Tensor]:
    """snnTorch's DeltaLeaky over a whole sequence::

        U_t = beta U_{t-1} + X_t                     (beta as given: DeltaLeaky does not clamp it)
        S_t = H(|U_t - U_{t-1}| - delta_threshold)   (no reset, no graded spikes)

    Args:
        x: input, `[T, *neurons]`, floating point.
        beta: decay rate: a number, 0-d tensor, or tensor broadcastable to `x.shape[1:]`.
        mem: initial membrane `U_0` of shape `x.shape[1:]` (zeros if None).
        delta_threshold: the change that fires, same forms as beta.
        spike_grad: surrogate gradient of the spike in the shifted change (None means `atan()`).

    Returns:
        `(spk, mem_seq)`, both `[T, *neurons]` in x's dtype (`mem_seq` holds U_1..U_T).

    Example::

        >>> import torch, tritonsnn
        >>> spk, mem = tritonsnn.functional.delta_leaky(torch.tensor([[1.0], [0.1], [0.3]]), beta=0.5,
        ...                                            delta_threshold=0.2)
        >>> spk.flatten(), mem.flatten()
        (tensor([1., 1., 0.]), tensor([1.0000, 0.6000, 0.6000]))
    """
    spk, mem_seq, _ = sequences(x, beta, mem, delta_threshold, resolve(spike_grad))
    return spk, mem_seq


def sequences(x, beta, mem, delta_threshold, surrogate):
    """(spikes, membrane, previous membrane) sequences of :func:`delta_leaky`, in x's dtype;
    the previous membrane at step t is U_{t-1} (U_0 at the first step)."""
    x = _checks.time_major_input(x)
    mem = _checks.state(mem, x, "mem")
    beta = _checks.parameter(beta, x, "beta")
    delta_threshold = _checks.parameter(delta_threshold, x, "delta_threshold")
    acc = acc_dtype(x.dtype)
    start = torch.zeros(x.shape[1:], dtype=acc, device=x.device) if mem is None else mem.to(acc)
    mem_seq = lif_family.integrate(x, mem, beta)
    prev_seq = torch.cat([start.unsqueeze(0), mem_seq])[:-1]
    spk = surrogate((mem_seq - prev_seq).abs() - delta_threshold)
    return spk.to(x.dtype), mem_seq.to(x.dtype), prev_seq.to(x.dtype)


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()
"""beta's place in DeltaLeaky's signature: snnTorch puts delta_threshold (with a default) first."""


class DeltaLeaky(Leaky):
    """snnTorch 1.0.0's DeltaLeaky: a leaky integrator without a reset that fires where its
    membrane changed by more than ``delta_threshold`` (see :func:`tritonsnn.functional.delta_leaky`).

    As in snnTorch, ``delta_threshold`` is the first parameter (``DeltaLeaky(0.2, 0.9)`` is a
    delta threshold of 0.2 and beta 0.9) and the others are Leaky's; of those only ``beta`` (not
    clamped), ``spike_grad``/``surrogate_disable`` and ``init_hidden`` act, the rest (threshold,
    graded_spikes_factor, reset_mechanism, reset_delay, output) are registered as snnTorch
    registers them and do nothing. The state is the pair ``(mem, mem_prev)``:
    ``spk, (mem, mem_prev) = delta(x_t, (mem, mem_prev))``, which must be passed when
    ``init_hidden=False`` (``delta.init_leaky()`` gives ``(None, None)``: zeros); with
    ``init_hidden=True`` it is kept on the neuron and the call still returns it.
    ``step_mode="multi"`` (an addition) takes a whole ``[T, *neurons]`` sequence,
    ``spk_seq, (mem_seq, prev_seq) = delta(x_seq, (mem0, mem_prev0))``, the membrane's time loop
    fused; stateless unless ``init_hidden=True``. ``state_quant``, which snnTorch's DeltaLeaky
    ignores, is refused.

    Example::

        >>> import torch, tritonsnn as snn
        >>> delta = snn.DeltaLeaky(beta=0.5, delta_threshold=0.2)
        >>> state = delta.init_leaky()
        >>> for x_t in torch.tensor([[1.0], [0.1], [0.3]]):
        ...     spk, state = delta(x_t, state)
        >>> spk, state
        (tensor([0.]), (tensor([0.6000]), tensor([0.6000])))
    """

    __signature__ = constructor("delta_threshold", "beta", "threshold", "spike_grad", "surrogate_disable",
                                "init_hidden", "inhibition", "learn_beta", "learn_threshold", "reset_mechanism",
                                "state_quant", "output", "graded_spikes_factor", "learn_graded_spikes_factor",
                                "reset_delay", delta_threshold=1.0, beta=REQUIRED, additions=("step_mode",))
    state_names = ("mem", "mem_prev")
    takes_inhibition = False  # snnTorch's DeltaLeaky ignores it

    def _bind(self, args, kwargs):
        return {**super()._bind(args, kwargs), "spike_dtype": None, "save_dtype": None}

    def _setup(self, o: dict) -> None:
        if o["beta"] is REQUIRED:
            raise TypeError("DeltaLeaky(): missing the required argument 'beta' (snnTorch's DeltaLeaky takes "
                            "delta_threshold first: pass beta by name)")
        if o["state_quant"]:
            raise ValueError("DeltaLeaky takes no state_quant: snnTorch 1.0.0's DeltaLeaky ignores it, and "
                             "tritonsnn does not silently drop an option")
        super()._setup(o)
        self.delta_threshold = o["delta_threshold"]
        self.mem = None
        self.mem_prev = None

    def forward(self, input_: torch.Tensor, mem: tuple | None = None):
        if not isinstance(input_, torch.Tensor):
            raise TypeError(f"input_ must be a torch.Tensor, got {type(input_).__name__}")
        multi = self.step_mode == "multi"
        if multi and input_.dim() == 0:
            raise ValueError("step_mode='multi' needs a time-major input [T, *neurons]; got a 0-d tensor")
        x = input_ if multi else input_.unsqueeze(0)
        start, _ = self._starts(mem, x.shape[1:])  # (the previous mem_prev feeds nothing, as in snnTorch)
        if not multi:
            self.mem_prev = start if start is not None else torch.zeros_like(input_)
            spk, self.mem = delta_step(self.mem_prev, input_, self.beta, self.delta_threshold, self._surrogate())
            return spk, (self.mem, self.mem_prev)
        spk, mem_seq, prev_seq = sequences(x, self.beta, start, self.delta_threshold, self._surrogate())
        if self.init_hidden and x.shape[0]:
            self.mem, self.mem_prev = mem_seq[-1].clone(), prev_seq[-1].clone()
        return spk, (mem_seq, prev_seq)

    def _starts(self, given, neurons: torch.Size):
        """The (mem, mem_prev) this call starts from: the neuron's own with init_hidden, else the
        pair given (required, as in snnTorch); None (or an empty tensor) in either means zeros."""
        if self.init_hidden:
            if given is not None:
                raise TypeError("(mem, mem_prev) should not be passed as arguments while `init_hidden=True`")
            pair = (self.mem, self.mem_prev)
        else:
            if given is None:
                raise TypeError("DeltaLeaky needs its state when init_hidden=False: pass (mem, mem_prev), "
                                "e.g. the (None, None) of delta.init_leaky()")
            if not (isinstance(given, (tuple, list)) and len(given) == 2):
                raise TypeError(f"DeltaLeaky's state is the pair (mem, mem_prev), got {type(given).__name__}")
            pair = tuple(given)
        return tuple(None if value is None else self._state_or_none(value, neurons, name)
                     for name, value in zip(self.state_names, pair))

    def state_function(self, input_: torch.Tensor) -> torch.Tensor:
        """The membrane after one step of `input_` from the stored one (zeros where there is
        none), not stored: DeltaLeaky never resets, so this is beta mem + input_."""
        start = None if self.mem is None else self._state_or_none(self.mem, input_.shape, "mem")
        return input_ if start is None else self.beta * start + input_

    def reset_mem(self):
        """Forget the states, as snnTorch's DeltaLeaky does: returns ``(None, None)``."""
        self.mem, self.mem_prev = None, None
        return self.mem, self.mem_prev

    def extra_repr(self) -> str:
        return f"delta_threshold={self.delta_threshold!r}, step_mode={self.step_mode!r}"
