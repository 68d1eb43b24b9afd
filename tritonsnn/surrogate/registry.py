"""The surrogate registry every backend shares: one entry per name, with its parameters, its torch
twin, its Triton gradient and its kernel id (the integer the ops' schemas carry), and the
:class:`Surrogate` objects that bind parameters to an entry."""
from __future__ import annotations

import math
import warnings
import weakref
from dataclasses import dataclass
from typing import Callable

import torch

import tritonsnn.surrogate as public
from tritonsnn.backend import triton_installed
from tritonsnn.surrogate.custom import CustomSurrogate, custom_grad
from tritonsnn.surrogate.twins import times_g

MODULE_SLOPE = float("nan")
"""Placeholder in a surrogate's parameters for "the module-level slope when the backward runs".
Users' surrogate parameters must be finite (a Surrogate refuses NaN and inf), so a NaN passes
unambiguously through the ops' parameter tensors; only `Surrogate(..., module_slope=True)` puts
it there."""


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
    # Its @triton.jit gradient dS/dx, inlined into the fused kernels: for a built-in, the name of
    # the function in tritonsnn/kernels/surrogates.py (Triton is imported when a kernel needs it).
    triton_fn: object = None
    stochastic: bool = False  # its gradient draws noise (the kernels pass it a uniform block)

    @property
    def jit_grad(self):
        """The @triton.jit gradient the kernels inline as SG_FN (None if not fused)."""
        if isinstance(self.triton_fn, str):
            from tritonsnn.kernels import surrogates

            return getattr(surrogates, self.triton_fn)
        return self.triton_fn


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
        return tuple(float(public.slope) if p is MODULE_SLOPE else p for p in self.params)

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
        `like`'s device (on the CPU for an MPS tensor: MPS has no fp64, and the torch path reads
        the parameters as Python floats); MODULE_SLOPE stays NaN, resolved when the backward runs.

        Eager calls reuse one tensor per device, so no call copies to the device. Under
        torch.compile the tensor is computed in the graph from the floats instead, so a new slope
        is a new input value rather than a recompile; the module-level slope is then read (and
        guarded on) when the graph is traced."""
        device = torch.device("cpu") if like.device.type == "mps" else like.device
        if torch.compiler.is_compiling():
            one = torch.ones((), dtype=torch.float64, device=device)
            params = torch.stack([one * self.p0, one * self.p1])
            return params.nan_to_num(nan=float(public.slope)) if self.late_slope else params
        params = self._params_on.get(device)
        if params is None:
            # A normal tensor even when first made under torch.inference_mode(): the cache
            # outlives that call, and a later training call saves it for the backward.
            with torch.inference_mode(False):
                params = torch.tensor((self.p0, self.p1), dtype=torch.float64, device=device)
            self._params_on[device] = params
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
_BY_KERNEL_ID: dict[int, SurrogateSpec] = {}  # the same entries by kernel id: looked up by every backward


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
            float(public.slope) if i == spec.slope_param else spec.defaults[i]
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
            "__module__": "tritonsnn.surrogate",  # where users (and pickle) find it
            "forward": staticmethod(forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward),
        },
    )


def add(name, grad_, defaults, factory_name, doc, *, triton_fn, slope_param=None, stochastic=False,
        class_name=None):
    """Add a surrogate to the registry, under the next kernel id. Returns its (autograd.Function,
    factory)."""
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
        factory.__module__ = "tritonsnn.surrogate"
        defaults_text = ", ".join(f"{k}={v}" for k, v in defaults.items()) or "none"
        factory.__doc__ = (f"{name} surrogate with bound parameters ({defaults_text}).\n\n{doc}\n\n"
                           f"    Example::\n\n        >>> sg = {factory_name}()\n"
                           f"        >>> sg(torch.tensor([-0.5, 0.5]))  # the spikes; a neuron takes sg as spike_grad\n"
                           f"        tensor([0., 1.])\n")
    spec = _REGISTRY[name] = SurrogateSpec(
        name=name,
        kernel_id=sum(s.kernel_id is not None for s in _REGISTRY.values()),
        params=params,
        defaults=tuple(float(v) for v in defaults.values()),
        grad_=grad_,
        function=function,
        factory=factory if factory_name else None,
        slope_param=slope_param,
        triton_fn=triton_fn,
        stochastic=stochastic,
    )
    _BY_KERNEL_ID[spec.kernel_id] = spec
    return function, (factory if factory_name else None)


def registered() -> list[str]:
    """The names of every surrogate the fused kernels know (built-in and registered).

    Example::

        >>> registered()[:3]
        ['ATan', 'FastSigmoid', 'Sigmoid']
    """
    return [name for name, spec in _REGISTRY.items() if spec.function is not None]


def spec_for_kernel_id(kernel_id: int) -> SurrogateSpec:
    """The registry entry behind a kernel id (how the ops' schemas carry a surrogate)."""
    spec = _BY_KERNEL_ID.get(kernel_id)
    if spec is not None:
        return spec
    raise ValueError(f"no surrogate has kernel id {kernel_id}; registered: {', '.join(registered())}")


def register(name: str, grad_triton, grad_torch: Callable[..., torch.Tensor], **defaults: float):
    """Add a surrogate whose `@triton.jit` gradient is inlined into the fused kernels.

    Args:
        name: a new registry name.
        grad_triton: ``@triton.jit def grad(x, p0, p1)`` returning dS/dx for the block `x`
            (fp32, or fp64 for fp64 inputs); p0/p1 are the parameters in the order of `defaults`
            (unused ones are 0). Where Triton is not installed it may be None: only the torch
            path runs there.
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
    if triton_installed() and not hasattr(grad_triton, "fn"):
        raise TypeError("grad_triton must be a @triton.jit function grad(x, p0, p1)")
    if grad_triton is not None and not callable(grad_triton):
        raise TypeError("grad_triton must be a @triton.jit function grad(x, p0, p1), or None without Triton")
    def grad_(x, g, *params, plus=None):
        return times_g(grad_torch(x, *params).to(x.dtype), g, plus)

    return add(name, grad_, defaults, name, f"User-registered surrogate {name!r}.", triton_fn=grad_triton)


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
