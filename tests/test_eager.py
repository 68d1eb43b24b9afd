"""Eager calls skip the operator dispatch: each family's `fused.Eager` autograd Function runs the
same forward and backward as its `torch.library` op, so the two give bitwise the same outputs and
gradients, and a single-step module call records one fused node (behind views) in the graph.
Traced calls — here, under a dispatch mode — take the op."""
import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import tritonsnn
from tritonsnn.catalogue import NEURONS, cases
from conftest import DEVICE

F = tritonsnn.functional


class _Seen(TorchDispatchMode):
    """A dispatch mode that runs every op as it is and notes the tritonsnn ones."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == "tritonsnn":
            self.ops.add(func.name().split("::")[1].split(".")[0])
        return func(*args, **(kwargs or {}))


def _outputs_and_grads(neuron, reset, delay, x, params, mode=None):
    n = NEURONS[neuron]
    kwargs = dict(reset_mechanism=reset, **({"reset_delay": delay} if n.reset_delay else {}))
    with contextlib.nullcontext() if mode is None else mode:
        outs = n.call(F, x, **params, **kwargs)
        loss = sum((o.float() * (i + 1.5)).sum() for i, o in enumerate(outs))
        grads = torch.autograd.grad(loss, [x, *params.values()])
    return outs, grads


@pytest.mark.parametrize("neuron,reset,delay", cases())
def test_the_eager_function_equals_the_op_bitwise(backend, neuron, reset, delay):
    n = NEURONS[neuron]
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(7, 2, 5, generator=gen) * n.input_scale + n.input_scale / 2).to(DEVICE).requires_grad_()
    params = {k: torch.tensor(v, device=DEVICE, requires_grad=True) for k, v in n.params.items()}
    params["threshold"] = torch.tensor(n.threshold, device=DEVICE, requires_grad=True)
    seen = _Seen()
    eager = _outputs_and_grads(neuron, reset, delay, x, params)
    traced = _outputs_and_grads(neuron, reset, delay, x, params, seen)
    assert {n.ops[0], n.ops[1]} <= seen.ops  # the traced call did take the ops
    for a, b in zip([*eager[0], *eager[1]], [*traced[0], *traced[1]]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_a_single_step_call_is_one_fused_node(neuron):
    module = NEURONS[neuron].make()
    x = torch.rand(3, 4, requires_grad=True)
    spk = module(x)[0]
    node = spk.grad_fn
    assert type(node).__name__.startswith("SqueezeBackward")  # a view: its backward copies nothing
    (fused, _), = node.next_functions
    assert type(fused).__name__ == "EagerBackward"
