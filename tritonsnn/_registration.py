"""What every kernel family's `torch.library` registration shares: inputs by name, fakes of
optional and per-neuron outputs, the surrogate's torch twin and parameters as the torch paths take
them (the module-level slope substituted when the backward runs), the reduction of per-neuron
gradient partials to a parameter's shape, and the refusal of double backward."""
from __future__ import annotations

import functools
import inspect
from typing import Optional

import torch
from torch import Tensor

from tritonsnn import surrogate as surrogates
from tritonsnn._dtypes import acc_dtype
from tritonsnn.surrogate import spec_for_kernel_id


class Inputs:
    """The inputs of an op (or autograd Function) by name, in their order, so that setup_context
    and backward name what they read and return instead of counting positions."""

    def __init__(self, names):
        self.names = tuple(names)

    @classmethod
    def of_op(cls, op) -> "Inputs":
        """The inputs of a `torch.ops.tritonsnn.<name>` operator, from its schema."""
        return cls(a.name for a in op.default._schema.arguments)

    @classmethod
    def of(cls, fn) -> "Inputs":
        """The parameters of a function (an autograd Function's `forward`)."""
        return cls(inspect.signature(fn).parameters)

    def ordered(self, *values: dict, **more) -> tuple:
        """Arguments given by name, as the positional tuple `Function.apply` takes."""
        given = {k: v for d in values for k, v in d.items()} | more
        if set(given) != set(self.names):
            raise KeyError(f"arguments {sorted(set(given) ^ set(self.names))} do not match the inputs {self.names}")
        return tuple(given[name] for name in self.names)

    def named(self, inputs) -> dict:
        """`inputs` (as setup_context receives them) by name."""
        return dict(zip(self.names, inputs))

    def needs(self, ctx) -> dict:
        """Which inputs need a gradient, by name."""
        return dict(zip(self.names, ctx.needs_input_grad))

    def grads(self, ctx, **grads) -> tuple:
        """The tuple a backward returns: the given gradients where an input needs one, None for
        every other input."""
        unknown = set(grads) - set(self.names)
        if unknown:
            raise KeyError(f"no input named {sorted(unknown)}; the inputs are {self.names}")
        needs = self.needs(ctx)
        return tuple(grads.get(name) if needs[name] else None for name in self.names)


def fake_per_neuron(grad: Tensor, present: bool) -> Tensor:
    """Fake of a per-neuron gradient sum (accumulation dtype of the incoming gradient `[T, ...]`),
    or an empty tensor (in the gradient's dtype)."""
    if not present:
        return grad.new_empty(0)
    return grad.new_empty(grad.shape[1:], dtype=acc_dtype(grad.dtype))


def fake_like(mem: Tensor, t: Optional[Tensor]) -> Tensor:
    """Fake of the gradient of an optional input: shaped like it, or empty when it is absent."""
    return mem.new_empty(0) if t is None else torch.empty_like(t)


def surrogate_floats(sg_id: int, sg_params: Tensor) -> tuple[float, ...]:
    """The surrogate's parameters as floats for the torch path (`sg_params` as the backward passes
    them, the module-level slope already substituted by `with_module_slope`)."""
    return tuple(sg_params.tolist()[:len(spec_for_kernel_id(sg_id).params)])


def with_module_slope(sg_id: int, sg_params: Tensor) -> Tensor:
    """The surrogate's parameters with the module-level slope of snnTorch's old API
    (`tritonsnn.surrogate.slope`, read now, when the backward runs) in place of its placeholder
    (MODULE_SLOPE, a NaN); the tensor itself for a surrogate that has no slope to take."""
    if spec_for_kernel_id(sg_id).slope_param is None:
        return sg_params
    return sg_params.nan_to_num(nan=float(surrogates.slope))


def torch_surrogate_grad(sg_id: int, sg_seed: Optional[Tensor], device: torch.device):
    """The torch twin of kernel surrogate `sg_id` as grad_(x, g, *params); the stochastic one
    draws from a generator seeded with the forward's seed (same statistics as the kernel's
    Philox stream, not the same numbers)."""
    spec = spec_for_kernel_id(sg_id)
    if not spec.stochastic:
        return spec.grad_
    generator = torch.Generator(device).manual_seed(int(sg_seed.item()))
    return functools.partial(spec.grad_, generator=generator)


def to_param_shape(per_neuron: Tensor, param: Tensor) -> Tensor:
    """Sum per-neuron gradient partials down to the parameter's own (broadcast) shape; a plain
    tensor reduction, so the result is bitwise reproducible."""
    if param.numel() == 1:
        return per_neuron.sum().reshape(param.shape).to(param.dtype)
    return per_neuron.sum_to_size(param.shape).to(param.dtype)


def no_double_backward(ctx, *grads):
    raise RuntimeError(
        "double backward (a gradient of a gradient, e.g. after autograd.grad(..., create_graph=True)) "
        "through a tritonsnn fused neuron is not supported: the backward kernels have no derivative "
        "of their own. tritonsnn.reference's naive neurons support it.")


class _RefusedDerivative(torch.autograd.Function):
    """Its inputs' gradients as they are, marked as having no derivative (`no_double_backward`)."""

    @staticmethod
    def forward(ctx, count, *tensors):
        return tuple(t.view_as(t) for t in tensors[:count])

    backward = staticmethod(no_double_backward)


def refuse_double_backward(grads: tuple, incoming: tuple) -> tuple:
    """`grads`, computed without a graph from the gradients `incoming`, for a backward run with
    create_graph=True: differentiating them again is the clear error of `no_double_backward`."""
    present = [g for g in grads if g is not None]
    marked = iter(_RefusedDerivative.apply(len(present), *present, *(g for g in incoming if g is not None)))
    return tuple(None if g is None else next(marked) for g in grads)


def no_context(ctx, inputs, output) -> None:
    pass


def surrogate_seed(surrogate, x: Tensor) -> Optional[Tensor]:
    """A stochastic surrogate's noise comes from a seed drawn now, from torch's generator (so
    torch.manual_seed reproduces it); None for every other surrogate."""
    return torch.randint(0, 2**31 - 1, (1,), device=x.device) if surrogate.spec.stochastic else None


def eager_function(forward, setup_context, backward) -> type[torch.autograd.Function]:
    """A family's fused `forward` as one autograd Function, `Eager`, with the formulas registered
    on its op (`setup_context`, `backward`): what an eager call runs instead of the op. Its
    forward takes `ctx` itself: a Function with a separate setup_context binds its arguments
    through `inspect.signature` on every call, the single largest cost of a small step (torch.func
    transforms, which need that form, get the op instead: `tritonsnn._ops.traced`)."""
    def run(ctx, *inputs):
        outputs = forward(*inputs)
        setup_context(ctx, inputs, outputs)
        return outputs

    return type("Eager", (torch.autograd.Function,), {
        "__doc__": f"`{forward.__module__}.forward` as one autograd node.",
        "forward": staticmethod(run), "backward": staticmethod(backward)})
