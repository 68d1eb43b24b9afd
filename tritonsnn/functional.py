"""Functional forms of the fused neurons: whole sequences in, whole sequences out.

Inputs are time-major, `x: [T, *neurons]`; every tensor argument that requires grad receives its
gradient. The backend (Triton kernels or the vectorised torch path) follows
:func:`tritonsnn.set_backend`.
"""
from __future__ import annotations

import torch

from tritonsnn import _checks, _leaky_torch, ops
from tritonsnn.backend import get_backend
from tritonsnn.surrogate import DISABLED, custom_grad, resolve, warn_unfused

__all__ = ["leaky"]


def leaky(
    x: torch.Tensor,
    beta,
    mem: torch.Tensor | None = None,
    threshold=1.0,
    spike_grad=None,
    reset_mechanism: str = "subtract",
    reset_delay: bool = True,
    graded_spikes_factor=1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky integrate-and-fire over a whole sequence, fused into one kernel.

    Per step (snnTorch 1.0.0's `Leaky`), with b = clamp(beta, 0, 1) and r_t = H(U_{t-1} - threshold)::

        subtract: U_t = b U_{t-1} + X_t - r_t threshold
        zero:     U_t = b (1 - r_t) U_{t-1} + X_t
        none:     U_t = b U_{t-1} + X_t
        S_t = H(U_t - threshold) * graded_spikes_factor

    With `reset_delay=False` the spike resets the membrane in the same step, as in snnTorch.

    Args:
        x: input current, `[T, *neurons]`, floating point.
        beta: decay rate: a number, 0-d tensor, or tensor broadcastable to `x.shape[1:]`.
        mem: initial membrane `U_0` of shape `x.shape[1:]` (zeros if None).
        threshold: firing threshold, same forms as beta.
        spike_grad: surrogate gradient (a `tritonsnn.surrogate` factory result or class `.apply`);
            None means `atan()`.
        reset_mechanism: "subtract", "zero" or "none".
        reset_delay: snnTorch's flag; True applies the reset at the next step.
        graded_spikes_factor: spikes are scaled by it; same forms as beta.

    Returns:
        `(spk, mem_seq)`: spikes in x's dtype and the membrane `U_1..U_T`, both `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> x = torch.full((5, 1), 0.5)
        >>> spk, mem = tritonsnn.functional.leaky(x, beta=0.9)
        >>> mem.flatten()
        tensor([0.5000, 0.9500, 1.3550, 0.7195, 1.1475])
        >>> spk.flatten()
        tensor([0., 0., 1., 0., 1.])
    """
    surrogate = resolve(spike_grad)
    x, mem, beta, threshold, gsf, reset = _checks.leaky_inputs(
        x, mem, beta, threshold, graded_spikes_factor, reset_mechanism)
    reset_delay = bool(reset_delay)
    if not surrogate.fused:
        spk, mem_seq, _ = _LeakyPythonSurrogate.apply(x, mem, beta, threshold, gsf, reset, reset_delay, surrogate)
        return spk, mem_seq
    sg_id, sg_p0, sg_p1 = surrogate.kernel_args()
    # A stochastic surrogate's noise comes from a seed drawn now, from torch's generator.
    seed = torch.randint(0, 2**31 - 1, (1,), device=x.device) if surrogate.spec.stochastic else None
    spk, mem_seq, _ = torch.ops.tritonsnn.leaky_fwd(
        x, mem, beta, threshold, gsf, reset, reset_delay, sg_id, sg_p0, sg_p1, seed, get_backend(),
    )
    return spk, mem_seq


class _LeakyPythonSurrogate(torch.autograd.Function):
    """Leaky with a `custom_surrogate(fn)`: the fused forward, then the backward of the torch path
    with the user's Python gradient (it cannot run inside a kernel)."""

    @staticmethod
    def forward(x, mem, beta, threshold, gsf, reset, reset_delay, surrogate):
        warn_unfused(surrogate)
        disabled = DISABLED.kernel_args()
        spk, mem_seq, h = torch.ops.tritonsnn.leaky_fwd(
            x, mem, beta, threshold, gsf, reset, reset_delay, *disabled, None, get_backend())
        return spk, mem_seq, h

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, mem, beta, threshold, gsf, reset, reset_delay, surrogate = inputs
        _, mem_seq, h = output
        ctx.save_for_backward(mem_seq, h, mem, beta, threshold, gsf)
        ctx.config = (reset, reset_delay, surrogate)
        ctx.mark_non_differentiable(h)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad_spk, grad_mem, _):
        mem_seq, h, mem, beta, threshold, gsf = ctx.saved_tensors
        reset, reset_delay, surrogate = ctx.config
        needs = ctx.needs_input_grad
        if grad_spk is None:
            grad_spk = torch.zeros_like(mem_seq)
        param_grad = bool(needs[2] or needs[3] or needs[4])
        dx, dmem, dbeta, dthr, dgsf = _leaky_torch.leaky_backward(
            grad_spk, grad_mem, mem_seq, h, mem, beta, threshold, gsf, reset, reset_delay,
            custom_grad(surrogate.fn), (), param_grad)
        if param_grad:
            dbeta, dthr, dgsf = (ops.to_param_shape(g, p) for g, p in ((dbeta, beta), (dthr, threshold), (dgsf, gsf)))
        return dx, dmem, dbeta, dthr, dgsf, None, None, None
