"""Which :class:`Surrogate` a neuron's `spike_grad` means: a factory result, a class's `.apply`
(the seed document's old API, the module-level slope read when the backward runs), a
`custom_surrogate(fn)`, or one of snnTorch 1.0.0's own closures, mapped to the same surrogate."""
from __future__ import annotations

import re

import torch

from tritonsnn.surrogate.builtins import atan
from tritonsnn.surrogate.custom import CustomSurrogate
from tritonsnn.surrogate import registry
from tritonsnn.surrogate.registry import Surrogate, custom_surrogate, registered


# snnTorch 1.0.0's factories, by the name of the closure they return ("atan.<locals>.inner").
_SNNTORCH_FACTORIES = {
    "atan": "ATan", "fast_sigmoid": "FastSigmoid", "sigmoid": "Sigmoid", "heaviside": "Heaviside",
    "straight_through_estimator": "StraightThroughEstimator", "triangular": "Triangular",
    "spike_rate_escape": "SpikeRateEscape", "SSO": "StochasticSpikeOperator",
    "LSO": "LeakySpikeOperator", "SFS": "SparseFastSigmoid",
}


def _from_snntorch(fn: object) -> Surrogate | None:
    """The surrogate behind one of snnTorch 1.0.0's factory closures, read from its captured
    parameters. Raises TypeError for snnTorch's classes, which cannot be mapped reliably."""
    if getattr(fn, "__module__", None) != "snntorch.surrogate":
        owner = getattr(fn, "__self__", None)
        if getattr(owner, "__module__", None) == "snntorch.surrogate":
            raise TypeError(
                f"spike_grad={fn!r} is snnTorch's {owner.__name__}.apply; use tritonsnn's class of the "
                f"same name (tritonsnn.surrogate.{owner.__name__}.apply) or its factory, which the "
                "fused kernels understand.")
        return None
    match = re.fullmatch(r"(\w+)\.<locals>\.inner", getattr(fn, "__qualname__", ""))
    if not match:
        return None
    cells = dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))
    if match.group(1) == "custom_surrogate":
        return custom_surrogate(cells["func"])
    name = _SNNTORCH_FACTORIES.get(match.group(1))
    if name is None:
        return None
    spec = registry._REGISTRY[name]
    return Surrogate(spec, tuple(float(cells[p]) for p in spec.params))


def _from_apply(fn: object) -> Surrogate | None:
    """`X.apply` of a registered class, as the seed document passes it: its defaults, with the
    slope left to the module-level value when the backward runs."""
    if getattr(fn, "__func__", None) is not torch.autograd.Function.apply.__func__:
        return None
    owner = getattr(fn, "__self__", None)
    for spec in registry._REGISTRY.values():
        if spec.function is not None and owner is spec.function:
            return Surrogate(spec, spec.defaults, module_slope=spec.slope_param is not None)
    if owner is CustomSurrogate:
        raise TypeError("CustomSurrogate.apply needs its function: pass custom_surrogate(fn) instead")
    return None


def resolve(spike_grad: object) -> Surrogate:
    """The :class:`Surrogate` a neuron uses for `spike_grad` (None means `atan()`).

    Accepts factory results, registered classes' `.apply`, `custom_surrogate(fn)`, and snnTorch
    1.0.0's factory closures (mapped to the same surrogate). Raises TypeError for anything else,
    naming the registered surrogates: an unknown surrogate is never replaced by a zero or default
    gradient.

    Example::

        >>> resolve(FastSigmoid.apply)  # the old API: the slope is read when the backward runs
        fast_sigmoid(slope=<surrogate.slope>)
        >>> resolve(None)
        atan(alpha=2.0)
    """
    if spike_grad is None:
        return atan()
    if isinstance(spike_grad, Surrogate):
        return spike_grad
    if torch.compiler.is_compiling():
        # Recognising `.apply` and snnTorch's closures inspects Python internals Dynamo cannot
        # trace; modules resolve their spike_grad when it is set, outside the graph.
        raise TypeError(
            f"spike_grad={spike_grad!r} cannot be resolved inside torch.compile: pass a tritonsnn "
            "Surrogate such as surrogate.fast_sigmoid(slope=25) (or surrogate.resolve(spike_grad), "
            "called outside the compiled function) to the functional API; neuron modules accept "
            "any spike_grad.")
    found = _from_apply(spike_grad) or _from_snntorch(spike_grad)
    if found is not None:
        return found
    raise TypeError(
        f"spike_grad={spike_grad!r} is not a tritonsnn surrogate. Pass a factory result such as "
        f"tritonsnn.surrogate.atan(alpha=2.0), a class's .apply (e.g. surrogate.FastSigmoid.apply), "
        f"or custom_surrogate(fn) for a Python gradient; registered surrogates: {', '.join(registered())}."
    )
