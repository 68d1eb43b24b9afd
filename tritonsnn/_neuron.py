"""What every fused neuron module shares with snnTorch's `SpikingNeuron`: thresholds, graded spikes,
reset mechanism, surrogate choice and the hidden-state conventions.

Parameters are registered exactly as snnTorch registers them (`nn.Parameter` when learnable, a
buffer otherwise, under the same names), so state_dicts line up. Deliberate differences from
snnTorch 1.0.0: there is no global list of instances (see `tritonsnn._snntorch_api`), and a
state of another shape is used as broadcast to the input's when it broadcasts (snnTorch replaces
it with zeros), an error otherwise (an *empty* state, as `reset_mem()` leaves it, still means
"start from zeros").
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from tritonsnn import _checks, _step
from tritonsnn._ends import last_steps
from tritonsnn._snntorch_api import SnnTorchStepAPI
from tritonsnn.kernels.codes import RESET_CODES
from tritonsnn.surrogate import DISABLED, LIFHeaviside, Surrogate, atan, resolve

STEP_MODES = ("single", "multi")

DEFAULTS = {"threshold": 1.0, "spike_grad": None, "surrogate_disable": False, "init_hidden": False,
            "inhibition": False, "learn_alpha": False, "learn_beta": False, "learn_threshold": False,
            "reset_mechanism": "subtract", "state_quant": False, "output": False, "graded_spikes_factor": 1.0,
            "learn_graded_spikes_factor": False, "reset_delay": True}
"""snnTorch 1.0.0's defaults of the options its neurons share (one table for every constructor)."""
ADDITIONS = {"step_mode": "single", "spike_dtype": None, "save_dtype": None}
"""tritonsnn's own constructor options, after snnTorch's parameters in every neuron."""


def constructor(*names: str, additions: tuple[str, ...] = tuple(ADDITIONS), **defaults) -> inspect.Signature:
    """A neuron constructor's signature: snnTorch's parameters `names`, in snnTorch's order (a
    name without a default in `defaults` or DEFAULTS is required), then the ADDITIONS named in
    `additions` (all of them unless the neuron lacks single steps or storage options). Each class
    declares its own, so positional calls bind as in snnTorch and `help()` shows the real list."""
    known = {**DEFAULTS, **defaults}
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(name, kind, default=known.get(name, inspect.Parameter.empty)) for name in names]
    parameters += [inspect.Parameter(name, kind, default=ADDITIONS[name]) for name in additions]
    return inspect.Signature(parameters)


def _as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)


class SpikingNeuron(SnnTorchStepAPI, nn.Module):
    """Base of the fused neuron modules (snnTorch's constructor arguments and attributes). It is
    not a neuron itself: use :class:`tritonsnn.Leaky` and its kin, or subclass it.

    Example::

        >>> import tritonsnn
        >>> isinstance(tritonsnn.Leaky(beta=0.9), tritonsnn.SpikingNeuron)
        True
        >>> tritonsnn.SpikingNeuron.reset_dict
        {'subtract': 0, 'zero': 1, 'none': 2}
    """

    reset_dict = dict(RESET_CODES)  # snnTorch's public name -> code table
    # Constructor parameters `tritonsnn.from_snntorch` leaves out when it rebuilds the neuron from
    # an snnTorch one, because the others determine them (it copies their exact values in after).
    derived_from_others: tuple[str, ...] = ()
    # The neuron's layers (submodules) whose weights `tritonsnn.from_snntorch` copies from snnTorch's.
    snntorch_layers: tuple[str, ...] = ()
    # Whether the neuron takes snnTorch's inhibition (winner-take-all, `tritonsnn._naive.fire`).
    takes_inhibition = False

    __signature__ = constructor("threshold", "spike_grad", "surrogate_disable", "init_hidden", "inhibition",
                                "learn_threshold", "reset_mechanism", "state_quant", "output", "graded_spikes_factor",
                                "learn_graded_spikes_factor")

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._setup(self._bind(args, kwargs))

    def _bind(self, args: tuple, kwargs: dict) -> dict:
        """The constructor's arguments by name, defaults filled in, as the class declares them
        (`__signature__`: snnTorch's parameters in snnTorch's order, then tritonsnn's)."""
        try:
            bound = type(self).__signature__.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}(): {e}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def _setup(self, o: dict) -> None:
        """Build the neuron from its named arguments `o`; each subclass adds what it declares."""
        if o["inhibition"] and not self.takes_inhibition:
            raise ValueError(f"{type(self).__name__} takes no inhibition (snnTorch 1.0.0's ignores the option, and "
                             "tritonsnn does not silently drop one)")
        if o["state_quant"] or o["inhibition"]:
            self._check_unfused(o)
        if o["step_mode"] not in STEP_MODES:
            raise ValueError(f"step_mode must be 'single' or 'multi', got {o['step_mode']!r}")
        # As in snnTorch: None means atan(). FastSigmoid.apply and its kin read the module-level
        # slope when the backward runs (the seed document's API).
        spike_grad = o["spike_grad"]
        self.spike_grad = DISABLED if o["surrogate_disable"] else (atan() if spike_grad is None else spike_grad)
        for name in ("surrogate_disable", "init_hidden", "inhibition", "state_quant", "output", "step_mode"):
            setattr(self, name, o[name])
        _checks.storage_options(o["spike_dtype"], o["save_dtype"])
        if o["spike_dtype"] not in (None, *_checks.BINARY_SPIKE_DTYPES):  # a module has no input dtype yet
            raise ValueError(f"spike_dtype must be None, torch.bool or torch.uint8, got {o['spike_dtype']}")
        self.spike_dtype = o["spike_dtype"]
        self.save_dtype = o["save_dtype"]
        self._register("threshold", o["threshold"], o["learn_threshold"])
        self._register("graded_spikes_factor", o["graded_spikes_factor"], o["learn_graded_spikes_factor"])
        self.reset_mechanism = o["reset_mechanism"]

    @classmethod
    def snntorch_arguments(cls, module: nn.Module) -> dict:
        """Constructor arguments `tritonsnn.from_snntorch` reads from snnTorch's neuron `module`
        otherwise than as the attribute of the same name (see `interop._arguments`); none here."""
        return {}

    def _register(self, name: str, value, learnable: bool) -> None:
        value = _as_tensor(value)
        if learnable:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    @property
    def spike_grad(self):
        """The surrogate gradient as given (a factory result, a class's `.apply`, ...). Setting
        it resolves it at once, so an unknown surrogate fails here, and each call (compiled or
        not) reads the resolved :class:`~tritonsnn.surrogate.Surrogate`."""
        return self._spike_grad

    @spike_grad.setter
    def spike_grad(self, value) -> None:
        self._resolved_surrogate = resolve(value)
        self._spike_grad = value

    def _surrogate(self) -> Surrogate:
        return self._resolved_surrogate

    def _fused_or_quantised(self, functional, reference, *args, **arguments):
        """The neuron over a sequence: `functional(*args, **arguments)` with its storage options
        (the fused neuron), or, given a state_quant function or inhibition, the oracle's loop
        `reference` with them (`_check_unfused`); with inhibition alone, the winner-take-all
        kernels where they apply (`_winner_take_all`)."""
        if self.inhibition and not self.state_quant:
            fused = self._winner_take_all(*args, **arguments)
            if fused is not None:
                return fused
        if self.state_quant or self.inhibition:
            return reference(*args, **arguments, state_quant=self.state_quant or None, inhibition=self.inhibition)
        return functional(*args, **arguments, **self._storage())

    def _winner_take_all(self, *args, **arguments):
        """The neuron with inhibition over a sequence by the fused winner-take-all kernels
        (`kernels/lif/wta.py`), from the arguments of its functional form, or None where they do
        not run it; a neuron without such kernels has None."""
        return None

    def _storage(self) -> dict:
        """The dtypes of the spikes and of the stored states (see `tritonsnn.functional.leaky`)."""
        return {"spike_dtype": self.spike_dtype, "save_dtype": self.save_dtype}

    @property
    def reset_mechanism(self) -> str:
        """"subtract", "zero" or "none"; setting it updates the `reset_mechanism_val` buffer."""
        return self._reset_mechanism

    @reset_mechanism.setter
    def reset_mechanism(self, name: str) -> None:
        code = _checks.reset_code(name)
        self._reset_mechanism = name
        if "reset_mechanism_val" in self._buffers:
            self.reset_mechanism_val = torch.as_tensor(code, device=self.reset_mechanism_val.device)
        else:
            self.register_buffer("reset_mechanism_val", torch.as_tensor(code))

    def _check_unfused(self, o: dict) -> None:
        """snnTorch's state_quant, a function applied to the states every step, and its
        inhibition (winner-take-all): a Python function cannot enter a kernel, so a neuron given
        one runs its plain torch loop (the oracle's, autograd through every step, `_run`), which
        keeps the states in the input's dtype; so does inhibition, except where the winner-take-all
        kernels run it (Leaky and Synaptic, `_winner_take_all`)."""
        name = type(self).__name__
        if o["state_quant"] and not callable(o["state_quant"]):
            raise TypeError(f"{name}: state_quant must be a function of a state tensor, such as "
                            f"snntorch.functional.quant.state_quant(num_bits=8); got {o['state_quant']!r}")
        option = "state_quant" if o["state_quant"] else "inhibition"
        if o["spike_dtype"] is not None or o["save_dtype"] is not None:
            raise ValueError(f"{name}: {option} runs the neuron's plain torch loop, which takes no spike_dtype "
                             "or save_dtype")

    # The instance attributes a single-step call's `_step.Step` bakes in (see `_step.find`).
    step_settings: tuple[str, ...] = ("_reset_mechanism", "_resolved_surrogate", "spike_dtype", "save_dtype")
    # The attributes `_step_parameters` derives the step's parameters from (`_step.parameters`).
    step_inputs: tuple[str, ...] = ()

    def _forward_states(self, input_: torch.Tensor, given: tuple, run, lengths=None):
        """The calling conventions every neuron shares (see :class:`tritonsnn.Leaky`).

        `given` holds the states passed to this call, in the order of ``self.state_names``;
        ``run(x, *initial_states, lengths=lengths)`` runs the functional neuron over a time-major
        `x` and returns ``(spk, *state_sequences)`` in the same order. With `lengths` (multi-step
        only) the carried states are each sample's state after its own last step. A single
        step runs the `_step.Step` an earlier checked call of its configuration left."""
        if (lengths is None and self.step_mode == "single"
                and not (self.init_hidden and any(g is not None for g in given))):
            found = _step.find(self, input_, given)
            if found is not None:
                step, starts, key = found
                if step is _step.MISSING:
                    result = self._checked_forward(input_, given, run, lengths)
                    _step.remember(self, key, self._settled_step(input_.unsqueeze(0)))
                    return result
                if step is not None:
                    outputs = step(input_, starts, self._step_arguments(input_, _step.parameters(self, step, input_)))
                    _step.set_states(self, outputs)
                    return outputs[0] if self.init_hidden and not self.output else outputs
        return self._checked_forward(input_, given, run, lengths)

    def _settled_step(self, x: torch.Tensor):
        """How single steps like `x: [1, *neurons]` run once settled (`_step_plan`), or None
        where they always take the checked path: binary spikes, whose checks read the call's
        values, and a state_quant function or inhibition (the naive loop, `_run`)."""
        if self.spike_dtype in _checks.BINARY_SPIKE_DTYPES or self.state_quant or self.inhibition:
            return None
        return self._step_plan(x, _checks.storage_dtypes(x, None, self.save_dtype, None, ()))

    def _step_plan(self, x: torch.Tensor, dtypes: tuple):
        """The family's settled step (`dispatch.step`) for steps like `x` with the (spike, save)
        `dtypes`, or None; each neuron defines it."""
        return None

    def _step_parameters(self, x: torch.Tensor) -> dict:
        """The fused Function's parameter inputs for steps like `x: [1, *neurons]`, by name,
        checked and derived from the module's current values (the attributes `step_inputs`
        names) as the functional neuron derives them; what they are does not depend on x's
        values (`_step.parameters` may keep them for the next steps)."""
        raise NotImplementedError

    def _step_arguments(self, x_t: torch.Tensor, parameters: dict) -> dict:
        """The inputs by name one step `x_t: [*neurons]` passes to its Step: the `parameters`,
        and whatever the neuron derives from x_t itself."""
        return parameters

    def _checked_forward(self, input_: torch.Tensor, given: tuple, run, lengths):
        if self.init_hidden and any(g is not None for g in given):
            raise TypeError(
                f"{', '.join(self.state_names)} should not be passed as arguments while `init_hidden=True`")
        if not isinstance(input_, torch.Tensor):
            raise TypeError(f"input_ must be a torch.Tensor, got {type(input_).__name__}")
        multi = self.step_mode == "multi"
        if lengths is not None and not multi:
            raise ValueError(
                "lengths ends each sample's sequence within a whole [T, B, ...] input: it needs "
                "step_mode='multi' (a single-step call has no time dimension); in a single-step "
                "loop, stop feeding a sample instead")
        if multi and input_.dim() == 0:
            raise ValueError("step_mode='multi' needs a time-major input [T, *neurons]; got a 0-d tensor")
        x = input_ if multi else input_.unsqueeze(0)
        lengths = _checks.lengths(lengths, x)
        # A multi-step call without init_hidden is stateless: it starts from the given states.
        stateful = self.init_hidden or not multi
        starts = []
        for name, value in zip(self.state_names, given):
            if stateful and value is not None:
                setattr(self, name, value)
            start = getattr(self, name) if stateful else value
            if start is not None:
                start = self._state_or_none(start, self._state_shape(x.shape[1:]), name)
            starts.append(start)
        spk, *sequences = run(x, *starts, lengths=lengths)
        if multi:
            outputs = sequences
            if stateful and spk.shape[0]:
                # A new tensor, not a view: a view would keep the whole sequence's storage alive
                # for as long as the state is carried (every chunk of a truncated BPTT loop).
                for name, seq, start in zip(self.state_names, sequences, starts):
                    setattr(self, name, last_steps(seq, lengths, start))
        else:
            # squeeze, not [0]: its backward is a view of the incoming gradient, where a select's
            # fills a new [1, ...] tensor with zeros and copies the gradient in.
            spk, outputs = spk.squeeze(0), [seq.squeeze(0) for seq in sequences]
            for name, value in zip(self.state_names, outputs):
                setattr(self, name, value)
        if self.init_hidden and not self.output:
            return spk
        return (spk, *outputs)

    def _state_shape(self, x_t_shape: torch.Size) -> torch.Size:
        """The shape of the states for one step's input of shape `x_t_shape`: the same here."""
        return x_t_shape

    def _register_states(self) -> None:
        for name in self.state_names:
            self.register_buffer(name, torch.zeros(0), persistent=False)

    def reset_mem(self):
        """Forget the states: the next call starts from zeros. Returns the (empty) states."""
        for name in self.state_names:
            old = getattr(self, name)
            setattr(self, name, torch.zeros(0, dtype=old.dtype, device=old.device))
        states = tuple(getattr(self, name) for name in self.state_names)
        return states[0] if len(states) == 1 else states

    def _state_or_none(self, state: torch.Tensor, x_t_shape: torch.Size, name: str):
        """The stored state to start from: None (zeros) when empty, else it must match or broadcast
        (`_checks.broadcast_state`; the broadcast copy is what the call starts from). A state
        carried from a call under torch.inference_mode() is used by value in a later training
        call (see `_checks.usable`)."""
        if not isinstance(state, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor or None, got {type(state).__name__}")
        if state.numel() == 0 and state.dim() <= 1:
            return None
        broadcast = _checks.broadcast_state(state, x_t_shape)
        if broadcast is None:
            raise ValueError(
                f"{name} has shape {tuple(state.shape)} but this input needs {tuple(x_t_shape)} (or a shape "
                f"that broadcasts to it): pass a matching {name}, or call reset_mem() to start again from zeros "
                "(snnTorch 1.0.0 silently zero-fills here; tritonsnn does not)"
            )
        return _checks.usable(broadcast)

    def extra_repr(self) -> str:
        return f"reset_mechanism={self.reset_mechanism!r}, step_mode={self.step_mode!r}"


class LIF(SpikingNeuron):
    """Base of the leaky integrate-and-fire neurons: snnTorch's `LIF`, with the decay rate beta
    (a buffer, or a parameter with `learn_beta=True`).

    ``LIF.Heaviside`` is snnTorch 0.x's spiking function from the seed document (forward fires on
    x > 0, backward passes the gradient where x >= 0); ``spike_grad=LIF.Heaviside.apply`` is fused.

    Example::

        >>> import torch, tritonsnn
        >>> lif = tritonsnn.Leaky(beta=0.9, spike_grad=tritonsnn.LIF.Heaviside.apply)
        >>> isinstance(lif, tritonsnn.LIF), lif.beta
        (True, tensor(0.9000))
    """

    Heaviside = LIFHeaviside
    __signature__ = constructor("beta", "threshold", "spike_grad", "surrogate_disable", "init_hidden", "inhibition",
                                "learn_beta", "learn_threshold", "reset_mechanism", "state_quant", "output",
                                "graded_spikes_factor", "learn_graded_spikes_factor")

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self._register("beta", o["beta"], o["learn_beta"])

