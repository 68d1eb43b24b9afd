"""Surrogate gradients, under their snnTorch (and SpikingJelly) names, in one registry shared by
every backend.

The forward of every surrogate is the Heaviside step `S = (x > 0)`; only the backward differs. Each
gradient is written twice, once per backend: as a torch function here (used by the per-step
`autograd.Function` classes, the CPU path and the reference) and as a `@triton.jit` function in
`tritonsnn/kernels/surrogates.py` (inlined into the fused backward kernels). Both are looked up by
the same name, and the test suite checks the two against each other and against snnTorch 1.0.0.

Usage mirrors snnTorch::

    import tritonsnn as snn
    from tritonsnn import surrogate

    lif = snn.Leaky(beta=0.9, spike_grad=surrogate.fast_sigmoid(slope=25))
    spk = surrogate.ATan.apply(mem - 1.0, 2.0)      # one step, snnTorch style

    # The seed document's old style: a class's `.apply` and the module-level slope, read when the
    # backward runs.
    surrogate.slope = 10
    lif = snn.Leaky(beta=0.9, spike_grad=surrogate.FastSigmoid.apply)

A factory (`atan()`, `fast_sigmoid()`, ...) returns a :class:`Surrogate`: callable on a tensor like
snnTorch's closures, and recognised by the fused kernels by its name and parameters. snnTorch
1.0.0's own closures (`snntorch.surrogate.atan(alpha=3)`) are recognised and mapped to the same
surrogate. `custom_surrogate(fn)` takes snnTorch's contract for arbitrary Python gradients (a
slower path: see its docstring), and :func:`register` adds a surrogate whose Triton gradient is
fused like the built-in ones.
"""
from __future__ import annotations

import math
import re
import warnings
import weakref
from dataclasses import dataclass
from typing import Callable

import torch

from tritonsnn.kernels.surrogates import STOCHASTIC_IDS, SURROGATE_IDS, USER_ID

__all__ = [
    "ATan", "CustomSurrogate", "Erf", "FastSigmoid", "Heaviside", "LIFHeaviside",
    "LeakySpikeOperator", "LSO", "PiecewiseExp", "PiecewiseQuadratic", "SFS", "SSO", "Sigmoid",
    "SoftSign", "SparseFastSigmoid", "SpikeRateEscape", "StochasticSpikeOperator",
    "StraightThroughEstimator", "SuperSpike", "Surrogate", "Triangular", "atan", "custom_surrogate",
    "erf", "fast_sigmoid", "heaviside", "piecewise_exp", "piecewise_quadratic", "register",
    "registered", "resolve", "sigmoid", "slope", "soft_sign", "spike_rate_escape",
    "straight_through_estimator", "super_spike", "triangular",
]

slope = 25
"""Module-level slope of the seed document's API: `FastSigmoid.apply(x)`, `Sigmoid.apply(x)` and
`SpikeRateEscape.apply(x)` called without a slope use the value in force when their backward runs,
and so does a neuron given `spike_grad=FastSigmoid.apply` (or Sigmoid's, SpikeRateEscape's)."""

MODULE_SLOPE = float("nan")
"""Placeholder in a surrogate's parameters for "the module-level slope when the backward runs".
Users' surrogate parameters must be finite (a Surrogate refuses NaN and inf), so a NaN passes
unambiguously through the ops' parameter tensors; only `Surrogate(..., module_slope=True)` puts
it there."""


# Torch twins of kernels/surrogates.py. Each returns g * dS/dx (dS/dx itself when g is None),
# computed in place in `x`, which must be a scratch tensor the caller owns: the CPU path runs them
# over a whole [T, ...] sequence, where every avoided temporary is a pass over memory saved.

def _times_g(d: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    return d if g is None else d.mul_(g)


def atan_grad_(x, g, alpha=2.0):
    """g * (alpha/2) / (1 + (pi/2 * alpha * x)^2), as g / ((2/alpha) (1 + (pi/2 alpha x)^2))."""
    c = math.pi / 2 * alpha
    torch.addcmul(x.new_full((), 2.0 / alpha), x, x, value=2.0 / alpha * c * c, out=x)
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def fast_sigmoid_grad_(x, g, slope=25.0):
    """g / (slope * |x| + 1)^2"""
    x.abs_().mul_(slope).add_(1.0).square_()
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def sigmoid_grad_(x, g, slope=25.0):
    """g * slope * s * (1 - s), s = sigmoid(slope * x), computed as slope * e / (1 + e)^2 with
    e = exp(-slope * |x|) <= 1, so it never overflows into inf/inf = NaN."""
    e = x.abs_().mul_(-slope).exp_()
    denominator = (e + 1.0).square_()
    return _times_g(e.div_(denominator).mul_(slope), g)


def heaviside_grad_(x, g):
    """g * H(x): the gradient passes where the neuron fired."""
    return _times_g(torch.gt(x, 0, out=x), g)


def straight_through_grad_(x, g):
    """g: the gradient passes unchanged."""
    return x.fill_(1.0) if g is None else x.copy_(g)


def triangular_grad_(x, g, threshold=1.0):
    """g * (+threshold where x < 0, -threshold where x >= 0): snnTorch 1.0.0's actual backward."""
    return _times_g(torch.ge(x, 0, out=x).mul_(-2.0 * threshold).add_(threshold), g)


def spike_rate_escape_grad_(x, g, beta=1.0, slope=25.0):
    """g * slope * exp(-beta * |x - 1|)"""
    return _times_g(x.sub_(1.0).abs_().mul_(-beta).exp_().mul_(slope), g)


def stochastic_spike_operator_grad_(x, g, mean=0.0, variance=0.2, generator=None):
    """g where the neuron fired, else g * (u - 0.5 + mean) * variance with fresh u ~ U[0, 1):
    from torch's global generator, or from `generator` (the fused CPU path seeds one per forward)."""
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    noise = u.sub_(0.5 - mean).mul_(variance)
    return _times_g(noise.masked_fill_(x > 0, 1.0), g)


def leaky_spike_operator_grad_(x, g, slope=0.1):
    """g where the neuron fired, slope * g elsewhere (a threshold-shifted leaky ReLU's gradient)."""
    return _times_g(torch.gt(x, 0, out=x).mul_(1.0 - slope).add_(slope), g)


def sparse_fast_sigmoid_grad_(x, g, slope=25.0, B=1.0):
    """g / (slope * |x| + 1)^2 where x > B, else 0."""
    above = x > B
    return _times_g(fast_sigmoid_grad_(x, None, slope).mul_(above), g)


def piecewise_quadratic_grad_(x, g, alpha=1.0):
    """g * (alpha - alpha^2 |x|) where |x| <= 1/alpha, else 0 (SpikingJelly)."""
    x.abs_()
    outside = x > 1.0 / alpha
    return _times_g(x.mul_(-alpha * alpha).add_(alpha).masked_fill_(outside, 0.0), g)


def piecewise_exp_grad_(x, g, alpha=1.0):
    """g * (alpha/2) exp(-alpha |x|) (SpikingJelly)."""
    return _times_g(x.abs_().mul_(-alpha).exp_().mul_(alpha / 2), g)


def soft_sign_grad_(x, g, alpha=2.0):
    """g / (2 alpha (1/alpha + |x|)^2) (SpikingJelly)."""
    x.abs_().add_(1.0 / alpha).square_().mul_(2.0 * alpha)
    return x.reciprocal_() if g is None else torch.div(g, x, out=x)


def super_spike_grad_(x, g, alpha=1.0):
    """g * alpha / (|x| + 1)^2 (SpikingJelly)."""
    x.abs_().add_(1.0).square_()
    return (x.reciprocal_() if g is None else torch.div(g, x, out=x)).mul_(alpha)


def erf_grad_(x, g, alpha=2.0):
    """g * (alpha / sqrt(pi)) exp(-(alpha x)^2) (SpikingJelly)."""
    return _times_g(x.square_().mul_(-alpha * alpha).exp_().mul_(alpha / math.sqrt(math.pi)), g)


def old_heaviside_grad_(x, g):
    """g where x >= 0: snnTorch 0.x's LIF.Heaviside (the forward still fires on x > 0)."""
    return _times_g(torch.ge(x, 0, out=x), g)


def disabled_grad_(x, g):
    """0: no gradient through the spike (a neuron built with surrogate_disable=True)."""
    return x.zero_()


@dataclass(frozen=True)
class SurrogateSpec:
    """One registry entry: a surrogate's name, parameters and both gradients."""

    name: str
    kernel_id: int | None  # None: not fused (custom_surrogate)
    params: tuple[str, ...]
    defaults: tuple[float, ...]
    grad_: Callable[..., torch.Tensor]
    function: type[torch.autograd.Function] | None = None
    factory: Callable[..., Surrogate] | None = None
    slope_param: int | None = None  # the parameter that `.apply(x)` reads from the module slope
    triton_fn: object = None  # the @triton.jit gradient of a surrogate registered at run time

    @property
    def stochastic(self) -> bool:
        return self.kernel_id in STOCHASTIC_IDS


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

    __slots__ = ("spec", "params", "fn", "late_slope", "p0", "p1", "_params_on")

    def __init__(self, spec: SurrogateSpec, params: tuple[float, ...], fn: Callable | None = None, *,
                 module_slope: bool = False):
        """`params` are the surrogate's parameters in `spec.params` order, each a finite float.
        With `module_slope` (the seed document's `FastSigmoid.apply` given as spike_grad) the
        parameter `spec.slope_param` is replaced by the MODULE_SLOPE placeholder: only this flag
        inserts it, so a user's NaN can never pass for the module-level slope."""
        _check_params(spec, params)
        if module_slope:
            params = tuple(MODULE_SLOPE if i == spec.slope_param else p for i, p in enumerate(params))
        self.spec = spec
        self.params = params
        self.fn = fn  # custom_surrogate's Python gradient
        self.late_slope = module_slope  # reads the module slope when the backward runs
        # The kernels' two parameters as plain float attributes: torch.compile treats these as
        # graph inputs once they change, where it would specialise on a tuple's values.
        self.p0, self.p1 = (*params, 0.0, 0.0)[:2]
        self._params_on: dict[torch.device, torch.Tensor] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fused(self) -> bool:
        """Whether the fused backward kernels compute this surrogate inline."""
        return self.spec.kernel_id is not None

    def resolved_params(self) -> tuple[float, ...]:
        """The parameters, with the module-level slope in force now in place of MODULE_SLOPE."""
        return tuple(float(slope) if p is MODULE_SLOPE else p for p in self.params)

    def grad(self, x: torch.Tensor, g: torch.Tensor | None = None, generator=None) -> torch.Tensor:
        """g * dS/dx at x (dS/dx without g), through the torch twin of the kernel's gradient."""
        if self.fn is not None:
            return custom_grad(self.fn)(x.clone(), g)
        extra = {"generator": generator} if self.spec.stochastic else {}
        return self.spec.grad_(x.clone(), g, *self.resolved_params(), **extra)

    @property
    def kernel_id(self) -> int | None:
        """The id the fused kernels dispatch on (None for a `custom_surrogate`)."""
        return self.spec.kernel_id

    def kernel_params(self, like: torch.Tensor) -> torch.Tensor:
        """The parameters as the fused ops take them: an fp64 tensor `[2]` (zero-padded) on
        `like`'s device; MODULE_SLOPE stays NaN, resolved when the backward runs.

        Eager calls reuse one tensor per device, so no call copies to the device. Under
        torch.compile the tensor is computed in the graph from the floats instead, so a new slope
        is a new input value rather than a recompile; the module-level slope is then read (and
        guarded on) when the graph is traced."""
        if torch.compiler.is_compiling():
            one = like.new_ones((), dtype=torch.float64)
            params = torch.stack([one * self.p0, one * self.p1])
            return params.nan_to_num(nan=float(slope)) if self.late_slope else params
        params = self._params_on.get(like.device)
        if params is None:
            # A normal tensor even when first made under torch.inference_mode(): the cache
            # outlives that call, and a later training call saves it for the backward.
            with torch.inference_mode(False):
                params = torch.tensor((self.p0, self.p1), dtype=torch.float64, device=like.device)
            self._params_on[like.device] = params
        return params

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.fn is not None:
            return CustomSurrogate.apply(x, self.fn)
        if self.spec.function is None:
            return (x > 0).to(x.dtype)
        bound = self.params[: self.params.index(MODULE_SLOPE)] if MODULE_SLOPE in self.params else self.params
        return self.spec.function.apply(x, *bound)

    def __reduce__(self):
        # Rebuilt through the registry and the constructor: the placeholder keeps its identity
        # (an unpickled NaN would not be MODULE_SLOPE), and no per-device cache travels.
        given = tuple(d if p is MODULE_SLOPE else p for p, d in zip(self.params, self.spec.defaults))
        return _rebuild_surrogate, (self.spec.name, given, self.fn, self.late_slope)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Surrogate)
                and (self.spec, self.params, self.fn) == (other.spec, other.params, other.fn))

    def __hash__(self) -> int:
        return hash((self.spec.name, self.params, self.fn))

    def __repr__(self) -> str:
        if self.fn is not None:
            return f"custom_surrogate({getattr(self.fn, '__name__', self.fn)!s})"
        factory = self.spec.factory.__name__ if self.spec.factory else self.spec.name + ".apply"
        args = ", ".join(f"{k}={'<surrogate.slope>' if v is MODULE_SLOPE else repr(v)}"
                         for k, v in zip(self.spec.params, self.params))
        return f"{factory}({args})"


_REGISTRY: dict[str, SurrogateSpec] = {}


def _check_params(spec: SurrogateSpec, params: tuple[float, ...]) -> None:
    """A surrogate's parameters must be finite real numbers: NaN is MODULE_SLOPE's placeholder
    (a NaN given by a user would silently become the module-level slope) and inf has no meaning."""
    for name, value in zip(spec.params, params):
        if not (isinstance(value, float) and math.isfinite(value)):
            owner = spec.factory.__name__ + "()" if spec.factory else spec.name
            raise ValueError(f"{owner}: the surrogate parameter {name} must be a finite real number, got {value!r}")


def _rebuild_surrogate(name: str, params: tuple[float, ...], fn: Callable | None, module_slope: bool) -> Surrogate:
    """A pickled :class:`Surrogate` again, found by its registry name."""
    if name == _CUSTOM_SPEC.name:
        return custom_surrogate(fn)
    if name not in _REGISTRY:
        raise ValueError(
            f"cannot unpickle the surrogate {name!r}: it is not registered in this process; call "
            "tritonsnn.surrogate.register() for it before loading")
    return Surrogate(_REGISTRY[name], params, module_slope=module_slope)


def _spike_function(spec_name: str, class_name: str, doc: str) -> type[torch.autograd.Function]:
    """The per-step autograd.Function of a registered surrogate, named after snnTorch's class.
    Parameters left out of `.apply(x, ...)` take the module slope (for the slope parameter) or
    their defaults, when the backward runs."""

    def forward(input_: torch.Tensor, *params: float) -> torch.Tensor:
        return (input_ > 0).to(input_.dtype)

    def setup_context(ctx, inputs, output) -> None:
        input_, *params = inputs
        ctx.save_for_backward(input_)
        ctx.params = tuple(params)

    def backward(ctx, grad_output: torch.Tensor):
        (input_,) = ctx.saved_tensors
        spec = _REGISTRY[spec_name]
        given = ctx.params
        params = list(given) + [
            float(slope) if i == spec.slope_param else spec.defaults[i]
            for i in range(len(given), len(spec.params))
        ]
        return (spec.grad_(input_.clone(), grad_output, *params),) + (None,) * len(given)

    example = f"""

    Example::

        >>> x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
        >>> spk = {class_name}.apply(x)  # forward: H(x) = [x > 0]
        >>> spk.detach()
        tensor([0., 0., 1.])
        >>> spk.sum().backward()  # backward: this surrogate's dS/dx
        >>> x.grad.shape
        torch.Size([3])
    """
    return type(
        class_name,
        (torch.autograd.Function,),
        {
            "__doc__": doc + example,
            "__module__": __name__,
            "forward": staticmethod(forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward),
        },
    )


def _register(name, grad_, defaults, factory_name, doc, *, kernel_id=None, slope_param=None,
              triton_fn=None, class_name=None):
    """Add a surrogate to the registry. Returns its (autograd.Function, factory)."""
    function = _spike_function(name, class_name or name, doc) if name != "Disabled" else None
    params = tuple(defaults)

    def factory(*args: float, **kwargs: float) -> Surrogate:
        if len(args) > len(params):
            raise TypeError(f"{factory_name}() takes at most {len(params)} arguments ({', '.join(params)})")
        values = dict(defaults)
        values.update(zip(params, args))
        unknown = set(kwargs) - set(params)
        if unknown:
            raise TypeError(f"{factory_name}() got unexpected arguments {sorted(unknown)}; it takes {list(params)}")
        values.update(kwargs)
        return Surrogate(_REGISTRY[name], tuple(float(values[p]) for p in params))

    if factory_name:
        factory.__name__ = factory.__qualname__ = factory_name
        defaults_text = ", ".join(f"{k}={v}" for k, v in defaults.items()) or "none"
        factory.__doc__ = (f"{name} surrogate with bound parameters ({defaults_text}).\n\n{doc}\n\n"
                           f"    Example::\n\n        >>> sg = {factory_name}()\n"
                           f"        >>> sg(torch.tensor([-0.5, 0.5]))  # the spikes; a neuron takes sg as spike_grad\n"
                           f"        tensor([0., 1.])\n")
    _REGISTRY[name] = SurrogateSpec(
        name=name,
        kernel_id=SURROGATE_IDS[name] if kernel_id is None else kernel_id,
        params=params,
        defaults=tuple(float(v) for v in defaults.values()),
        grad_=grad_,
        function=function,
        factory=factory if factory_name else None,
        slope_param=slope_param,
        triton_fn=triton_fn,
    )
    return function, (factory if factory_name else None)


# snnTorch 1.0.0's surrogates.
ATan, atan = _register(
    "ATan", atan_grad_, {"alpha": 2.0}, "atan",
    "Arc-tangent surrogate (snnTorch's default): dS/dx = (alpha/2) / (1 + (pi/2 alpha x)^2).")
FastSigmoid, fast_sigmoid = _register(
    "FastSigmoid", fast_sigmoid_grad_, {"slope": 25.0}, "fast_sigmoid",
    "Fast sigmoid surrogate: dS/dx = 1 / (slope |x| + 1)^2. `FastSigmoid.apply(x)` with no slope "
    "uses the module-level `tritonsnn.surrogate.slope`.", slope_param=0)
Sigmoid, sigmoid = _register(
    "Sigmoid", sigmoid_grad_, {"slope": 25.0}, "sigmoid",
    "Sigmoid surrogate: dS/dx = slope s (1 - s), s = sigmoid(slope x); never NaN. "
    "`Sigmoid.apply(x)` with no slope uses the module-level `tritonsnn.surrogate.slope`.", slope_param=0)
Heaviside, heaviside = _register(
    "Heaviside", heaviside_grad_, {}, "heaviside",
    "Heaviside surrogate: dS/dx = H(x), the gradient passes where the neuron fired.")
StraightThroughEstimator, straight_through_estimator = _register(
    "StraightThroughEstimator", straight_through_grad_, {}, "straight_through_estimator",
    "Straight-through estimator: dS/dx = 1.")
Triangular, triangular = _register(
    "Triangular", triangular_grad_, {"threshold": 1.0}, "triangular",
    "Triangular surrogate as snnTorch 1.0.0 computes it: dS/dx = +threshold where x < 0 and "
    "-threshold where x >= 0.")
SpikeRateEscape, spike_rate_escape = _register(
    "SpikeRateEscape", spike_rate_escape_grad_, {"beta": 1.0, "slope": 25.0}, "spike_rate_escape",
    "Spike rate escape (Boltzmann) surrogate: dS/dx = slope exp(-beta |x - 1|). "
    "`SpikeRateEscape.apply(x)` uses beta=1 and the module-level slope.", slope_param=1)
StochasticSpikeOperator, SSO = _register(
    "StochasticSpikeOperator", stochastic_spike_operator_grad_, {"mean": 0.0, "variance": 0.2}, "SSO",
    "Stochastic spike operator: dS/dx = 1 where the neuron fired, else (u - 0.5 + mean) variance "
    "with u ~ U[0, 1) drawn afresh for every backward (in the fused kernels: Philox, seeded from "
    "torch's generator at forward time, so torch.manual_seed makes runs reproducible).")
LeakySpikeOperator, LSO = _register(
    "LeakySpikeOperator", leaky_spike_operator_grad_, {"slope": 0.1}, "LSO",
    "Leaky spike operator: dS/dx = 1 where the neuron fired, slope elsewhere (snnTorch 1.0.0's "
    "LSO raises; this one works).")
SparseFastSigmoid, SFS = _register(
    "SparseFastSigmoid", sparse_fast_sigmoid_grad_, {"slope": 25.0, "B": 1.0}, "SFS",
    "Sparse fast sigmoid: dS/dx = 1 / (slope |x| + 1)^2 where x > B, else 0.")
# SpikingJelly 2.0's Triton surrogates, under its names; the parameter is alpha.
PiecewiseQuadratic, piecewise_quadratic = _register(
    "PiecewiseQuadratic", piecewise_quadratic_grad_, {"alpha": 1.0}, "piecewise_quadratic",
    "SpikingJelly's piecewise quadratic: dS/dx = alpha - alpha^2 |x| where |x| <= 1/alpha, else 0.")
PiecewiseExp, piecewise_exp = _register(
    "PiecewiseExp", piecewise_exp_grad_, {"alpha": 1.0}, "piecewise_exp",
    "SpikingJelly's piecewise exponential: dS/dx = (alpha/2) exp(-alpha |x|).")
SoftSign, soft_sign = _register(
    "SoftSign", soft_sign_grad_, {"alpha": 2.0}, "soft_sign",
    "SpikingJelly's soft sign: dS/dx = 1 / (2 alpha (1/alpha + |x|)^2).")
SuperSpike, super_spike = _register(
    "SuperSpike", super_spike_grad_, {"alpha": 1.0}, "super_spike",
    "SpikingJelly's SuperSpike: dS/dx = alpha / (|x| + 1)^2.")
Erf, erf = _register(
    "Erf", erf_grad_, {"alpha": 2.0}, "erf",
    "SpikingJelly's Gaussian-error surrogate: dS/dx = (alpha / sqrt(pi)) exp(-(alpha x)^2).")
# The seed document's default: snnTorch 0.x's LIF.Heaviside (also reachable as tritonsnn.LIF.Heaviside).
# Its class is named LIFHeaviside, the name it has here: pickle finds a class by module and name, and
# "Heaviside" is the other surrogate's.
LIFHeaviside, _ = _register(
    "LIF.Heaviside", old_heaviside_grad_, {}, None,
    "snnTorch 0.x's default spiking function LIF.Heaviside: forward H(x) (x > 0), backward passes "
    "the gradient where x >= 0.", class_name="LIFHeaviside")
_register("Disabled", disabled_grad_, {}, None, "No gradient through the spike (surrogate_disable=True).")

DISABLED = Surrogate(_REGISTRY["Disabled"], ())
"""The surrogate of a neuron built with `surrogate_disable=True`: spikes carry no gradient."""


def registered() -> list[str]:
    """The names of every surrogate the fused kernels know (built-in and registered).

    Example::

        >>> registered()[:3]
        ['ATan', 'FastSigmoid', 'Sigmoid']
    """
    return [name for name, spec in _REGISTRY.items() if spec.function is not None]


def spec_for_kernel_id(kernel_id: int) -> SurrogateSpec:
    """The registry entry behind a kernel id (how the ops' schemas carry a surrogate)."""
    for spec in _REGISTRY.values():
        if spec.kernel_id == kernel_id:
            return spec
    raise ValueError(f"no surrogate has kernel id {kernel_id}; registered: {', '.join(registered())}")


def register(name: str, grad_triton, grad_torch: Callable[..., torch.Tensor], **defaults: float):
    """Add a surrogate whose `@triton.jit` gradient is inlined into the fused kernels.

    Args:
        name: a new registry name.
        grad_triton: ``@triton.jit def grad(x, p0, p1)`` returning dS/dx for the block `x`
            (fp32, or fp64 for fp64 inputs); p0/p1 are the parameters in the order of `defaults`
            (unused ones are 0).
        grad_torch: ``grad(x, *params) -> dS/dx``, its torch twin (CPU path, per-step use).
        defaults: at most two float parameters and their defaults.

    Returns:
        ``(Function, factory)``: the per-step `autograd.Function` (``Function.apply(x, *params)``)
        and the factory whose result a neuron takes as ``spike_grad``.

    Example::

        @triton.jit
        def box_grad(x, width, p1):
            return tl.where(tl.abs(x) < width, 0.5 / width, 0.0)

        Box, box = surrogate.register("Box", box_grad, lambda x, width: (x.abs() < width) * (0.5 / width), width=0.5)
        lif = tritonsnn.Leaky(beta=0.9, spike_grad=box(width=0.25))
    """
    if name in _REGISTRY:
        raise ValueError(f"a surrogate named {name!r} is already registered")
    if len(defaults) > 2:
        raise ValueError(f"a fused surrogate takes at most two parameters, got {list(defaults)}")
    if not callable(grad_triton) or not hasattr(grad_triton, "fn"):
        raise TypeError("grad_triton must be a @triton.jit function grad(x, p0, p1)")
    kernel_id = USER_ID + sum(spec.triton_fn is not None for spec in _REGISTRY.values())

    def grad_(x, g, *params):
        return _times_g(grad_torch(x, *params).to(x.dtype), g)

    return _register(name, grad_, defaults, name, f"User-registered surrogate {name!r}.",
                     kernel_id=kernel_id, triton_fn=grad_triton)


class CustomSurrogate(torch.autograd.Function):
    """snnTorch's contract for a gradient written in Python: forward H(x); backward
    ``fn(input_, grad_input, out)`` with `out` the forward's spikes.

    Example::

        >>> x = torch.tensor([-0.5, 0.5], requires_grad=True)
        >>> CustomSurrogate.apply(x, lambda input_, grad_input, out: 2 * grad_input).sum().backward()
        >>> x.grad
        tensor([2., 2.])
    """

    @staticmethod
    def forward(input_: torch.Tensor, fn) -> torch.Tensor:
        return (input_ > 0).to(input_.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        input_, fn = inputs
        ctx.save_for_backward(input_, output)
        ctx.fn = fn

    @staticmethod
    def backward(ctx, grad_output):
        input_, out = ctx.saved_tensors
        return _custom_result(ctx.fn, ctx.fn(input_, grad_output.clone(), out), input_), None


def _custom_result(fn: Callable, grad: object, input_: torch.Tensor) -> torch.Tensor:
    """A custom surrogate's gradient, checked against snnTorch's contract before anything uses
    it: a wrong result would otherwise fail far away (or broadcast into wrong numbers)."""
    contract = (f"custom_surrogate({getattr(fn, '__name__', fn)!s}): fn(input_, grad_input, out) must "
                f"return a floating-point tensor of input_'s shape {tuple(input_.shape)}")
    if not isinstance(grad, torch.Tensor):
        raise TypeError(f"{contract}, got {'None' if grad is None else type(grad).__name__}")
    if not grad.is_floating_point():
        raise TypeError(f"{contract}, got a tensor of dtype {grad.dtype}")
    if grad.shape != input_.shape:
        raise ValueError(f"{contract}, got a tensor of shape {tuple(grad.shape)}")
    return grad


_CUSTOM_SPEC = SurrogateSpec(name="CustomSurrogate", kernel_id=None, params=(), defaults=(), grad_=None,
                             function=CustomSurrogate)
_warned_custom: weakref.WeakSet = weakref.WeakSet()  # functions already announced


def custom_surrogate(custom_surrogate_function: Callable) -> Surrogate:
    """A surrogate whose gradient is arbitrary Python, with snnTorch's contract
    ``fn(input_, grad_input, out) -> grad`` (input_ = U - threshold, out = the spikes).

    Python cannot run inside a kernel, so neurons using it take a slower path: the forward stays
    fused, and the backward runs the time loop with torch ops, calling `fn` on the saved membrane
    (once for the whole sequence; per step with reset_delay=False, where `fn` is assumed linear in
    grad_input, as every surrogate gradient is). A warning says so once per function.

    Example::

        def my_grad(input_, grad_input, out):
            return grad_input / (25 * input_.abs() + 1) ** 2

        lif = tritonsnn.Leaky(beta=0.9, spike_grad=surrogate.custom_surrogate(my_grad))
    """
    if not callable(custom_surrogate_function):
        raise TypeError(f"custom_surrogate needs a callable fn(input_, grad_input, out), got {custom_surrogate_function!r}")
    return Surrogate(_CUSTOM_SPEC, (), fn=custom_surrogate_function)


def warn_unfused(sg: Surrogate) -> None:
    """Say once per function that a custom surrogate's backward is not fused (in eager mode:
    torch.compile cannot trace a warning, and a compiled model has run eagerly first, or will)."""
    if torch.compiler.is_compiling():
        return
    try:
        if sg.fn in _warned_custom:
            return
        _warned_custom.add(sg.fn)
    except TypeError:  # a callable that cannot be weakly referenced: warn every time instead
        pass
    warnings.warn(
        f"{sg!r}: a Python surrogate gradient cannot run inside the fused backward kernel; "
        "the forward stays fused and the backward runs with torch ops (slower). Register a "
        "Triton gradient with tritonsnn.surrogate.register() to fuse it.",
        UserWarning, stacklevel=3,
    )


def custom_grad(fn: Callable) -> Callable:
    """snnTorch's fn(input_, grad_input, out) as a twin: (x, g) -> g * dS/dx."""

    def grad_(x, g):
        out = (x > 0).to(x.dtype)
        grad_input = torch.ones_like(x) if g is None else g.expand_as(x).clone()
        return _custom_result(fn, fn(x, grad_input, out), x)

    return grad_


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
    spec = _REGISTRY[name]
    return Surrogate(spec, tuple(float(cells[p]) for p in spec.params))


def _from_apply(fn: object) -> Surrogate | None:
    """`X.apply` of a registered class, as the seed document passes it: its defaults, with the
    slope left to the module-level value when the backward runs."""
    if getattr(fn, "__func__", None) is not torch.autograd.Function.apply.__func__:
        return None
    owner = getattr(fn, "__self__", None)
    for spec in _REGISTRY.values():
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
