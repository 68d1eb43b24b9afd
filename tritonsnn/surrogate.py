"""Surrogate gradients, under their snnTorch names, in one registry shared by every backend.

The forward of every surrogate is the Heaviside step `S = (x > 0)`; only the backward differs. Each
gradient is written twice, once per backend: as a torch function here (used by the per-step
`autograd.Function` classes, the CPU path and the reference) and as a `@triton.jit` function in
`tritonsnn/kernels/surrogates.py` (inlined into the fused backward kernels). Both are looked up by
the same snnTorch name, and the test suite checks the two against each other and against
snnTorch 1.0.0.

Usage mirrors snnTorch::

    import tritonsnn as snn
    from tritonsnn import surrogate

    lif = snn.Leaky(beta=0.9, spike_grad=surrogate.fast_sigmoid(slope=25))
    spk = surrogate.ATan.apply(mem - 1.0, 2.0)      # one step, snnTorch style

    # The seed document's old style: a class's `.apply` and the module-level slope.
    surrogate.slope = 10
    lif = snn.Leaky(beta=0.9, spike_grad=surrogate.FastSigmoid.apply)

A factory (`atan()`, `fast_sigmoid()`, ...) returns a :class:`Surrogate`: callable on a tensor like
snnTorch's closures, and recognised by the fused kernels by its name and parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from tritonsnn.kernels.surrogates import SURROGATE_IDS

__all__ = [
    "ATan",
    "FastSigmoid",
    "Heaviside",
    "Sigmoid",
    "StraightThroughEstimator",
    "Surrogate",
    "Triangular",
    "atan",
    "fast_sigmoid",
    "heaviside",
    "registered",
    "resolve",
    "sigmoid",
    "slope",
    "straight_through_estimator",
    "triangular",
]

slope = 25
"""Module-level slope of the seed document's API: `FastSigmoid.apply(x)` and `Sigmoid.apply(x)`,
called with no slope, use the value in force when their backward runs; a neuron given
`spike_grad=FastSigmoid.apply` uses the value in force when it runs."""


# Torch twins of kernels/surrogates.py. Each returns g * dS/dx (dS/dx itself when g is None),
# computed in place in `x`, which must be a scratch tensor the caller owns: the CPU path runs them
# over a whole [T, ...] sequence, where every avoided temporary is a pass over memory saved.

def _times_g(d: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    return d if g is None else d.mul_(g)


def atan_grad_(x: torch.Tensor, g: torch.Tensor | None, alpha: float = 2.0) -> torch.Tensor:
    """g * (alpha/2) / (1 + (pi/2 * alpha * x)^2), as g / ((2/alpha) (1 + (pi/2 alpha x)^2))."""
    c = math.pi / 2 * alpha
    torch.addcmul(x.new_full((), 2.0 / alpha), x, x, value=2.0 / alpha * c * c, out=x)
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def fast_sigmoid_grad_(x: torch.Tensor, g: torch.Tensor | None, slope: float = 25.0) -> torch.Tensor:
    """g / (slope * |x| + 1)^2"""
    x.abs_().mul_(slope).add_(1.0).square_()
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def sigmoid_grad_(x: torch.Tensor, g: torch.Tensor | None, slope: float = 25.0) -> torch.Tensor:
    """g * slope * s * (1 - s), s = sigmoid(slope * x), computed as slope * e / (1 + e)^2 with
    e = exp(-slope * |x|) <= 1, so it never overflows into inf/inf = NaN."""
    e = x.abs_().mul_(-slope).exp_()
    denominator = (e + 1.0).square_()
    return _times_g(e.div_(denominator).mul_(slope), g)


def heaviside_grad_(x: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    """g * H(x): the gradient passes where the neuron fired."""
    return _times_g(torch.gt(x, 0, out=x), g)


def straight_through_grad_(x: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    """g: the gradient passes unchanged."""
    return x.fill_(1.0) if g is None else x.copy_(g)


def triangular_grad_(x: torch.Tensor, g: torch.Tensor | None, threshold: float = 1.0) -> torch.Tensor:
    """g * (+threshold where x < 0, -threshold where x >= 0): snnTorch 1.0.0's actual backward."""
    return _times_g(torch.ge(x, 0, out=x).mul_(-2.0 * threshold).add_(threshold), g)


def disabled_grad_(x: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    """0: no gradient through the spike (a neuron built with surrogate_disable=True)."""
    return x.zero_()


@dataclass(frozen=True)
class SurrogateSpec:
    """One registry entry: a surrogate's snnTorch name, parameters and both gradients."""

    name: str
    kernel_id: int
    params: tuple[str, ...]
    defaults: tuple[float, ...]
    grad_: Callable[..., torch.Tensor]
    function: type[torch.autograd.Function] | None = None
    factory: Callable[..., Surrogate] | None = None
    slope_from_module: bool = False


class Surrogate:
    """A surrogate with its parameters bound: what a factory such as :func:`atan` returns.

    Calling it on a tensor applies the per-step autograd function (forward: spikes `x > 0` in
    x's dtype; backward: the surrogate gradient). The fused kernels read :attr:`name` and
    :attr:`params` instead of calling it.

    Example::

        >>> sg = fast_sigmoid(slope=10)
        >>> sg
        fast_sigmoid(slope=10.0)
        >>> sg(torch.tensor([-0.5, 0.5]))
        tensor([0., 1.])
    """

    __slots__ = ("spec", "params")

    def __init__(self, spec: SurrogateSpec, params: tuple[float, ...]):
        self.spec = spec
        self.params = params

    @property
    def name(self) -> str:
        return self.spec.name

    def grad(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """g * dS/dx at x (dS/dx without g), through the torch twin of the kernel's gradient."""
        return self.spec.grad_(x.clone(), g, *self.params)

    def kernel_args(self) -> tuple[int, float, float]:
        """(kernel id, p0, p1): how a fused kernel receives this surrogate."""
        padded = tuple(float(p) for p in self.params) + (0.0, 0.0)
        return self.spec.kernel_id, padded[0], padded[1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.function is None:
            return (x > 0).to(x.dtype)
        return self.spec.function.apply(x, *self.params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Surrogate) and (self.spec, self.params) == (other.spec, other.params)

    def __hash__(self) -> int:
        return hash((self.spec.name, self.params))

    def __repr__(self) -> str:
        factory = self.spec.factory.__name__ if self.spec.factory else self.spec.name
        args = ", ".join(f"{k}={v!r}" for k, v in zip(self.spec.params, self.params))
        return f"{factory}({args})"


_REGISTRY: dict[str, SurrogateSpec] = {}


def _spike_function(spec_name: str, doc: str) -> type[torch.autograd.Function]:
    """The per-step autograd.Function of a registered surrogate, named after snnTorch's class."""

    def forward(input_: torch.Tensor, *params: float) -> torch.Tensor:
        return (input_ > 0).to(input_.dtype)

    def setup_context(ctx, inputs, output) -> None:
        input_, *params = inputs
        ctx.save_for_backward(input_)
        ctx.params = tuple(params)

    def backward(ctx, grad_output: torch.Tensor):
        (input_,) = ctx.saved_tensors
        spec = _REGISTRY[spec_name]
        params = ctx.params
        if not params and spec.slope_from_module:
            params = (float(slope),)
        return (spec.grad_(input_.clone(), grad_output, *params),) + (None,) * len(ctx.params)

    return type(
        spec_name,
        (torch.autograd.Function,),
        {
            "__doc__": doc,
            "__module__": __name__,
            "forward": staticmethod(forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward),
        },
    )


def _register(
    name: str,
    grad_: Callable[..., torch.Tensor],
    defaults: dict[str, float],
    factory_name: str | None,
    doc: str,
    slope_from_module: bool = False,
) -> tuple[type[torch.autograd.Function] | None, Callable[..., Surrogate] | None]:
    function = _spike_function(name, doc) if factory_name else None
    params = tuple(defaults)

    def factory(*args: float, **kwargs: float) -> Surrogate:
        values = dict(defaults)
        if len(args) > len(params):
            raise TypeError(f"{factory_name}() takes at most {len(params)} arguments ({', '.join(params)})")
        values.update(zip(params, args))
        unknown = set(kwargs) - set(params)
        if unknown:
            raise TypeError(f"{factory_name}() got unexpected arguments {sorted(unknown)}; it takes {list(params)}")
        values.update(kwargs)
        return Surrogate(_REGISTRY[name], tuple(float(values[p]) for p in params))

    if factory_name:
        factory.__name__ = factory.__qualname__ = factory_name
        factory.__doc__ = f"{name} surrogate with bound parameters ({', '.join(f'{k}={v}' for k, v in defaults.items()) or 'none'}).\n\n{doc}"
    _REGISTRY[name] = SurrogateSpec(
        name=name,
        kernel_id=SURROGATE_IDS[name],
        params=params,
        defaults=tuple(float(v) for v in defaults.values()),
        grad_=grad_,
        function=function,
        factory=factory if factory_name else None,
        slope_from_module=slope_from_module,
    )
    return function, (factory if factory_name else None)


ATan, atan = _register(
    "ATan", atan_grad_, {"alpha": 2.0}, "atan",
    "Arc-tangent surrogate (snnTorch's default): dS/dx = (alpha/2) / (1 + (pi/2 alpha x)^2).",
)
FastSigmoid, fast_sigmoid = _register(
    "FastSigmoid", fast_sigmoid_grad_, {"slope": 25.0}, "fast_sigmoid",
    "Fast sigmoid surrogate: dS/dx = 1 / (slope |x| + 1)^2. `FastSigmoid.apply(x)` with no "
    "slope uses the module-level `tritonsnn.surrogate.slope`.",
    slope_from_module=True,
)
Sigmoid, sigmoid = _register(
    "Sigmoid", sigmoid_grad_, {"slope": 25.0}, "sigmoid",
    "Sigmoid surrogate: dS/dx = slope s (1 - s), s = sigmoid(slope x); never NaN. "
    "`Sigmoid.apply(x)` with no slope uses the module-level `tritonsnn.surrogate.slope`.",
    slope_from_module=True,
)
Heaviside, heaviside = _register(
    "Heaviside", heaviside_grad_, {}, "heaviside",
    "Heaviside surrogate: dS/dx = H(x), the gradient passes where the neuron fired.",
)
StraightThroughEstimator, straight_through_estimator = _register(
    "StraightThroughEstimator", straight_through_grad_, {}, "straight_through_estimator",
    "Straight-through estimator: dS/dx = 1.",
)
Triangular, triangular = _register(
    "Triangular", triangular_grad_, {"threshold": 1.0}, "triangular",
    "Triangular surrogate as snnTorch 1.0.0 computes it: dS/dx = +threshold where x < 0 and "
    "-threshold where x >= 0.",
)
_register("Disabled", disabled_grad_, {}, None, "No gradient through the spike (surrogate_disable=True).")

DISABLED = Surrogate(_REGISTRY["Disabled"], ())
"""The surrogate of a neuron built with `surrogate_disable=True`: spikes carry no gradient."""


def registered() -> list[str]:
    """The snnTorch names of every surrogate the fused kernels know."""
    return [name for name, spec in _REGISTRY.items() if spec.factory is not None]


def spec_for_kernel_id(kernel_id: int) -> SurrogateSpec:
    """The registry entry behind a kernel id (how the ops' schemas carry a surrogate)."""
    for spec in _REGISTRY.values():
        if spec.kernel_id == kernel_id:
            return spec
    raise ValueError(f"no surrogate has kernel id {kernel_id}; registered: {', '.join(registered())}")


def _from_apply(fn: object) -> Surrogate | None:
    """`X.apply` of a registered class, as the seed document passes it, bound to its defaults
    (or, for FastSigmoid and Sigmoid, to the module-level slope now in force)."""
    owner = getattr(fn, "__self__", None)
    if getattr(fn, "__func__", None) is not torch.autograd.Function.apply.__func__:
        return None
    for spec in _REGISTRY.values():
        if spec.function is not None and owner is spec.function:
            params = (float(slope),) if spec.slope_from_module else spec.defaults
            return Surrogate(spec, params)
    return None


def resolve(spike_grad: object) -> Surrogate:
    """The :class:`Surrogate` a neuron uses for `spike_grad` (None means `atan()`).

    Raises TypeError for anything the fused kernels do not know, naming the registered surrogates:
    an unknown surrogate is never replaced by a zero or default gradient.
    """
    if spike_grad is None:
        return atan()
    if isinstance(spike_grad, Surrogate):
        return spike_grad
    from_apply = _from_apply(spike_grad)
    if from_apply is not None:
        return from_apply
    raise TypeError(
        f"spike_grad={spike_grad!r} is not a tritonsnn surrogate. Pass a factory result such as "
        f"tritonsnn.surrogate.atan(alpha=2.0), or a class's .apply (e.g. surrogate.FastSigmoid.apply); "
        f"registered surrogates: {', '.join(registered())}."
    )
