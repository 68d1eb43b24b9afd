"""The thin path of a single-step module call (`spk, mem = lif(x_t, mem)`), what the loops of
snnTorch's tutorials run once per time step.

The first call of a configuration takes the checked path (the functional neuron: every argument
validated). It leaves how such steps run from then on, with everything that call settled filled
in (reset, storage dtypes, surrogate, backend): on the torch path, where it applies
(:func:`one_step_applies`), the family's one-step autograd Function (`kernels/<family>/step.py`:
one node of a handful of ops on the step's own tensors; its arithmetic alone where nothing needs
a gradient, :func:`differentiable`), else a :class:`Step` of the fused neuron's Function. Later
calls with the same key (:func:`find`) run it directly. The parameters are read on each call (they
are learnt, or set by hand between calls): derived and checked again, unless every value they
come from is a number or a CPU scalar outside autograd, whose values identify what was derived
from them (:func:`parameters`). The states are checked for what the key does not cover (shape,
device), and nothing else runs but the Function itself. Anything the key does not decide — a
traced call, forward-mode AD, a state that broadcasts or comes from inference mode — takes the
checked path, which has the answer, or the error, for it.
"""
from __future__ import annotations

import math
import weakref

import torch
from torch.nn.modules import module as _nn_module

from tritonsnn import _forward_ad
from tritonsnn._dtypes import as_dtype
from tritonsnn._ops import tracing
from tritonsnn._registration import (Inputs, refuse_double_backward, surrogate_floats, surrogate_seed,
                                     with_module_slope)
from tritonsnn.backend import get_backend, is_one, uses_triton
from tritonsnn.surrogate import spec_for_kernel_id

_PLAIN = torch.Tensor
_PARAMETER_TYPES = (_PLAIN, torch.nn.Parameter)
_PLANS: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()
"""Each module's Steps by key; beside the module, not in it, so copies and pickles never carry
them."""
_MAX_PLANS = 16  # a module called in a few configurations; more is a sign of churn, not reuse


class Settled:
    """What runs one module's single steps of one key (`find`): it keeps the step parameters
    it last derived (`parameters`) as (the values they came from, the parameters, whether they
    were derived under inference mode), or None."""

    __slots__ = ("kept",)

    def __init__(self):
        self.kept = None


class Step(Settled):
    """A single-step call of one neuron family's fused Function with a settled configuration.

    `constants` fills the Function's inputs (`inputs`) that every call shares; `states` names the
    inputs the module's states go to and `outputs` the positions of their new values in the
    Function's outputs, both in the module's ``state_names`` order. A stochastic surrogate
    draws a fresh seed on every call, as the checked path does."""

    __slots__ = ("apply", "template", "slots", "x", "states", "outputs", "seed", "surrogate")

    def __init__(self, function: type[torch.autograd.Function], inputs: Inputs, constants: dict,
                 states: tuple[str, ...], outputs: tuple[int, ...], surrogate):
        super().__init__()
        self.apply = function.apply
        self.slots = {name: i for i, name in enumerate(inputs.names)}
        self.template = [constants.get(name) for name in inputs.names]
        self.x = self.slots["x"]
        self.states = tuple(self.slots[name] for name in states)
        self.outputs = outputs
        self.seed = self.slots["sg_seed"] if surrogate.spec.stochastic else None
        self.surrogate = surrogate

    def __call__(self, x_t: torch.Tensor, starts: list, parameters: dict) -> tuple:
        """(spk, *new states), each `[*neurons]`, for one step `x_t` from `starts` (None: zeros),
        with the call's `parameters` (inputs by name, derived from the module's current values;
        they may replace x itself, `[1, *neurons]` as the Function takes it)."""
        args = self.template.copy()
        args[self.x] = x_t.unsqueeze(0)
        for slot, start in zip(self.states, starts):
            args[slot] = start
        for name, value in parameters.items():
            args[self.slots[name]] = value
        if self.seed is not None:
            args[self.seed] = surrogate_seed(self.surrogate, x_t)
        outputs = self.apply(*args)
        # squeeze, not [0]: its backward is a view of the incoming gradient, where a select's
        # fills a new [1, ...] tensor with zeros and copies the gradient in.
        return (outputs[0].squeeze(0), *(outputs[i].squeeze(0) for i in self.outputs))


def find(module, x: torch.Tensor, given: tuple):
    """(the Step kept for calls like this one, its starting states, its key), from the states
    `given` to this call or the module's own; None where the call needs the checked path. The
    Step is MISSING where this configuration has not been seen yet, and None where it always
    takes the checked path (`remember`). The key is what a Step depends on besides the
    parameters: the input's shape, dtype and device, each state's dtype (or its absence), the
    module's settings (`module.step_settings`) and the backend in force.

    The checked path it is, too, for an input that is not a plain tensor or a call that is
    traced or records forward-mode AD; for a state that is not a plain tensor of x's shape on
    x's device, or was made under inference mode outside it. A state that is None or empty
    (`init_leaky()`'s) starts from zeros (None in the states)."""
    if type(x) is not _PLAIN or tracing() or _forward_ad.recording():
        return None
    buffers = module._buffers
    starts = []
    key = [x.shape, x.dtype, x.device]
    for name, value in zip(module.state_names, given):
        state = buffers.get(name) if value is None else value
        if state is None or (type(state) is _PLAIN and state.numel() == 0 and state.dim() <= 1):
            starts.append(None)
            key.append(None)
        elif (type(state) is not _PLAIN or state.shape != x.shape or state.device != x.device
                or (state.is_inference() and not torch.is_inference_mode_enabled())):
            return None
        else:
            starts.append(state)
            key.append(state.dtype)
    key.extend(map(module.__dict__.__getitem__, module.step_settings))
    key.append(get_backend())
    key = tuple(key)
    plans = _PLANS.get(module)
    return MISSING if plans is None else plans.get(key, MISSING), starts, key


MISSING = object()


def remember(module, k: tuple, step: Settled | None) -> None:
    """Keep `step` (None: this configuration always takes the checked path) for calls with key `k`."""
    plans = _PLANS.setdefault(module, {})
    if len(plans) >= _MAX_PLANS:
        plans.clear()
    plans[k] = step


def parameters(module, step: Settled, x_t: torch.Tensor) -> dict:
    """`module._step_parameters` for a step `x_t` that `step` runs, derived again only when one
    of the values it reads (the attributes `module.step_inputs` names) has changed since the
    last call `step` ran (each key has its own: a loop's first step, from no state, does not
    undo what the others keep).
    That is decided by value, so it also sees a buffer changed behind autograd's back
    (``.data.fill_``), and only where reading the values costs nothing and the result carries no
    graph: numbers and CPU scalar tensors that do not require grad. Any other value (a learnt
    parameter, a per-neuron tensor, one on a GPU) has them derived on every call. Parameters
    derived under inference mode are inference tensors, kept for calls under it only."""
    values = _values(module)
    if values is None:
        return module._step_parameters(x_t.unsqueeze(0))
    inference = torch.is_inference_mode_enabled()
    kept = step.kept
    if kept is not None and kept[0] == values and (inference or not kept[2]):
        return kept[1]
    derived = module._step_parameters(x_t.unsqueeze(0))
    step.kept = (values, derived, inference)
    return derived


def _values(module) -> list | None:
    """What identifies the parameters derived from the attributes `module.step_inputs` names, or
    None where one cannot be read for free. A tensor counts by its dtype, dimensions and value,
    any other value by its type and value; a zero by its sign as well (0.0 == -0.0, yet
    1 / -0.0 is -inf). Each is read from the module's buffers where it is one (what getattr
    returns for it, without `nn.Module.__getattr__`'s Python call), else by getattr."""
    buffers = module._buffers
    out = []
    for name in module.step_inputs:
        v = buffers.get(name)
        if v is None:
            v = getattr(module, name)
        if type(v) in _PARAMETER_TYPES:
            if v.requires_grad or not v.is_cpu or v.numel() != 1 or v.is_inference():
                return None
            value = v.item()
            out += (v.dtype, v.dim(), value)
        elif isinstance(v, torch.Tensor):
            return None
        else:
            value = v
            out += (type(v), v)  # True == 1 == 1.0, but a bool is refused where a number is taken
        if value == 0 and isinstance(value, float):
            out.append(math.copysign(1.0, value))
    return out


def set_states(module, outputs: tuple) -> None:
    """Store a step's new states, `outputs` after its spikes, in the module's state buffers:
    what `setattr` does for an existing buffer, without its checks (the values are the
    Function's own tensors), unless a global buffer registration hook wants to see them."""
    if getattr(_nn_module, "_global_buffer_registration_hooks", None):
        for i, name in enumerate(module.state_names, 1):
            setattr(module, name, outputs[i])
        return
    buffers = module._buffers
    for i, name in enumerate(module.state_names, 1):
        buffers[name] = outputs[i]


def one_step_applies(x: torch.Tensor, dtypes: tuple, surrogate) -> bool:
    """Whether a family's one-step torch Function (`kernels/<family>/step.py`) may run steps like
    `x`: the torch path, states stored in the input's dtype (fp32 or fp64, the accumulation
    dtype), a deterministic surrogate."""
    return (x.dtype in (torch.float32, torch.float64) and dtypes == (x.dtype, x.dtype)
            and not surrogate.spec.stochastic and not uses_triton(x.device, get_backend()))


def surrogate_config(surrogate, x: torch.Tensor) -> tuple:
    """(sg_id, sg_params, its parameters as floats): the floats now, or None where the
    module-level slope is to be read when each backward runs (`surrogate_now`)."""
    sg_params = surrogate.kernel_params(x)
    floats = None if surrogate.late_slope else surrogate_floats(surrogate.kernel_id, sg_params)
    return surrogate.kernel_id, sg_params, floats


def surrogate_now(sg_id: int, sg_params: torch.Tensor, floats) -> tuple:
    return surrogate_floats(sg_id, with_module_slope(sg_id, sg_params)) if floats is None else floats


class GradedFactor:
    """A torch-path step's graded_spikes_factor: the parameter, or None where it is one and takes
    no gradient (its pass over the spikes and its backward terms are then left out, as the
    sequence path leaves them out). Reading its value costs microseconds, a step's budget, so it
    is decided once per derivation of the step's parameters: `parameters` hands back the same
    dictionary for as long as the values behind it stay the same."""

    __slots__ = ("_derived", "_value")

    def __init__(self):
        self._derived = self._value = None

    def __call__(self, parameters: dict) -> torch.Tensor | None:
        if parameters is not self._derived:
            gsf = parameters["gsf"]
            self._value = None if not gsf.requires_grad and is_one(gsf) else gsf
            self._derived = parameters
        return self._value


def membrane_gradient(u, thr, gs, g_mem, gsf, surrogate: tuple, threshold_grad: bool) -> tuple:
    """A one-step backward's dL/dU_t: the spikes' term through the surrogate (`surrogate` =
    (sg_id, sg_params, floats), as `surrogate_config` gives them), scaled by gsf (None: one),
    plus the membrane's own gradient `g_mem`. Returns (it, whether it is this backward's own
    tensor to write in place, the spikes' term negated for the threshold's gradient or None).
    Without a spike gradient `gs` (a loss on the membrane alone) the surrogate's term is zero and
    is not computed, as snnTorch's graph does not reach its surrogate either; dL/dU_t is then the
    incoming gradient itself, which is not to be written."""
    if gs is None:
        owned = g_mem is None
        return (u.new_zeros(u.shape) if owned else as_dtype(g_mem, u.dtype), owned,
                torch.zeros_like(u) if threshold_grad else None)
    sg_id, sg_params, floats = surrogate
    fused = gsf is None and g_mem is not None and not threshold_grad  # both terms in the twin's pass
    gu = spec_for_kernel_id(sg_id).grad_(torch.sub(u, thr), gs, *surrogate_now(sg_id, sg_params, floats),
                                         plus=as_dtype(g_mem, u.dtype) if fused else None)
    if gsf is not None:
        gu.mul_(as_dtype(gsf, u.dtype))
    dthr = -gu if threshold_grad else None
    if g_mem is not None and not fused:
        gu.add_(as_dtype(g_mem, u.dtype))
    return gu, True, dthr


def differentiable(inputs: tuple) -> bool:
    """Whether a torch-path step of these inputs (tensors or None) needs its autograd node: grad
    mode on and one of them requiring grad. Otherwise the step runs its arithmetic alone (an
    evaluation loop, `torch.no_grad()`), the same tensors without the Function's cost."""
    if torch.is_grad_enabled():
        for t in inputs:
            if t is not None and t.requires_grad:
                return True
    return False


def keep_for_backward(ctx, config, *tensors) -> None:
    """What a torch-path or scan Function's forward keeps: `tensors` saved, `config` (its
    constants) on ctx, and incoming gradients left None where absent (`one_step_backward`)."""
    ctx.save_for_backward(*tensors)
    ctx.config = config
    ctx.set_materialize_grads(False)


def one_step_backward(gradients, ctx, *incoming) -> tuple:
    """`gradients(ctx, *incoming)` as a torch-path Function's backward (its grads materialised
    as None): no gradient for any input when nothing comes in; under create_graph=True computed
    without a graph and marked as having no derivative of their own."""
    for g in incoming:
        if g is not None:
            break
    else:
        return (None,) * len(ctx.needs_input_grad)
    if not torch.is_grad_enabled():
        return gradients(ctx, *incoming)
    with torch.no_grad():
        grads = gradients(ctx, *incoming)
    return refuse_double_backward(grads, incoming)
