"""One time step of the Alpha neuron on the torch path, what a module's single-step call runs on a
CPU (or MPS) tensor once its configuration is settled (`tritonsnn._step`), as the LIF family's
`kernels/lif/step.py` does: `torch_path.step_update` forward, `torch_path.alpha_backward`'s
terms for a one-step sequence backward, bitwise the fused Function's results for that step
(tests/test_step_plan.py), on the step's own `[*neurons]` tensors. At one step the decays'
gradients read only the initial currents, so nothing but the membrane is saved. Its scope is
`tritonsnn._step.one_step_applies`.
"""
from __future__ import annotations

import torch

from tritonsnn._dtypes import as_dtype as _as
from tritonsnn._registration import to_param_shape
from tritonsnn._step import (GradedFactor, Settled, differentiable, membrane_gradient, one_step_applies,
                             one_step_backward, surrogate_config)
from tritonsnn.kernels.alpha.torch_path import step_update
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO

applies = one_step_applies


class Plan(Settled):
    """A module's single steps through `TorchStep` (states: syn_exc, syn_inh, mem)."""

    __slots__ = ("config", "gsf")

    def __init__(self, x: torch.Tensor, reset: int, surrogate):
        super().__init__()
        self.config = (reset, *surrogate_config(surrogate, x))
        self.gsf = GradedFactor()

    def __call__(self, x_t: torch.Tensor, starts: list, parameters: dict) -> tuple:
        p = parameters
        inputs = (x_t, *starts, p["a"], p["b"], p["tau"], p["threshold"], self.gsf(p))
        return (TorchStep.apply if differentiable(inputs) else step)(*inputs, self.config)


def _zeros_or(t, like):
    return like.new_zeros(like.shape) if t is None else _as(t, like.dtype)


class TorchStep(torch.autograd.Function):
    """(spk, exc, inh, mem) of one step from the states before it (None: zeros), gsf None where
    the spikes are not scaled (`_step.GradedFactor`); `config` = (reset, sg_id, sg_params, the
    surrogate's parameters as floats or None)."""

    @staticmethod
    def forward(ctx, x, exc0, inh0, mem0, a, b, tau, threshold, gsf, config):
        spk, exc, inh, u = step(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, config)
        ctx.decay_grad = a.requires_grad or b.requires_grad or tau.requires_grad
        ctx.save_for_backward(u, exc0, inh0, mem0, a, b, tau, threshold, gsf)
        ctx.config = config
        ctx.set_materialize_grads(False)
        return spk, exc, inh, u

    @staticmethod
    def backward(ctx, g_spk, g_exc, g_inh, g_mem):
        return one_step_backward(_gradients, ctx, g_spk, g_exc, g_inh, g_mem)


def step(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, config) -> tuple:
    """`TorchStep`'s forward arithmetic: (spk, exc, inh, mem) of one step, no autograd node."""
    acc = x.dtype
    thr = _as(threshold, acc)
    e_prev, i_prev = _zeros_or(exc0, x), _zeros_or(inh0, x)
    fired = (_zeros_or(mem0, x) > thr).to(acc)
    exc, inh, u = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    step_update(x, e_prev, i_prev, fired, _as(a, acc), _as(b, acc), _as(tau, acc), thr, exc, inh, u, config[0])
    spk = torch.gt(u, thr, out=torch.empty_like(x))
    if gsf is not None:
        spk.mul_(_as(gsf, acc))
    return spk, exc, inh, u


def _gradients(ctx, g_spk, g_exc, g_inh, g_mem) -> tuple:
    """`torch_path.alpha_backward` for one step, term by term, then the parameters' sums."""
    u, exc0, inh0, mem0, a_in, b_in, tau_in, threshold, gsf = ctx.saved_tensors
    reset, sg_id, sg_params, floats = ctx.config
    needs = ctx.needs_input_grad
    param_grad = needs[7] or needs[8]
    acc = u.dtype
    a, b, tau, thr = (_as(p, acc) for p in (a_in, b_in, tau_in, threshold))
    gs = None if g_spk is None else _as(g_spk, acc)
    g_u, owned, dthr = membrane_gradient(u, thr, gs, g_mem, gsf, (sg_id, sg_params, floats), param_grad)
    fired = (_zeros_or(mem0, u) > thr).to(acc)  # r_0
    if reset == RESET_SUBTRACT:
        dinh0_extra = fired * g_u  # U gained r_0 I_{-1}
    if reset == RESET_ZERO:
        g_u = g_u.addcmul_(g_u, fired, value=-1.0) if owned else torch.addcmul(g_u, g_u, fired, value=-1.0)
    g_e = g_u * tau
    g_i = g_e.clone()
    for g_out, g_cur in ((g_exc, g_e), (g_inh, g_i)):
        if g_out is not None:
            kept_by_reset = reset == RESET_ZERO or (reset == RESET_SUBTRACT and g_cur is g_i)
            g_cur.addcmul_(_as(g_out, acc), 1.0 - fired) if kept_by_reset else g_cur.add_(_as(g_out, acc))
    dexc0 = None if exc0 is None else _as(a * g_e, exc0.dtype)
    dinh0 = None if inh0 is None else _as(b * g_i + (dinh0_extra if reset == RESET_SUBTRACT else 0.0), inh0.dtype)
    da = db = dtau = dgsf = None
    if ctx.decay_grad:
        e_prev, i_prev = _zeros_or(exc0, u), _zeros_or(inh0, u)
        da, db = g_e * e_prev, g_i * i_prev
        dtau = g_u * (a * e_prev + b * i_prev)
        da, db, dtau = (to_param_shape(g, p) for g, p in ((da, a_in), (db, b_in), (dtau, tau_in)))
    if param_grad:
        if reset == RESET_SUBTRACT:
            dthr -= fired * (g_e - tau * g_u)
        dthr = to_param_shape(dthr, threshold)
        if needs[8]:
            dgsf = to_param_shape(torch.zeros_like(u) if gs is None else gs * (u > thr), gsf)
    grads = (g_e.sub_(g_i), dexc0, dinh0, None, da, db, dtau, dthr, dgsf)
    return (*(g if need else None for g, need in zip(grads, needs)), None)
