"""One time step of the LIF family on the torch path: what a module's single-step call runs on a
CPU (or MPS) tensor once its configuration is settled (`tritonsnn._step`).

It is `torch_path`'s algorithm at T = 1, on the step's own `[*neurons]` tensors: the same
updates (`torch_path.current_update`, `delayed_update`) forward, and `torch_path.lif_backward`'s
terms for a one-step sequence backward, so that it computes bitwise what the fused Function
computes for that step (tests/test_step_plan.py holds it to that). What it leaves out is a
sequence's bookkeeping, which at one step costs more than the arithmetic: the time axis and its
views, the lengths, the rounding of narrower stored states, the empty outputs, a Function of
seventeen inputs. Its scope: the reset delayed (snnTorch's default) and
`tritonsnn._step.one_step_applies`; every other configuration steps through the fused Function.
A step with nothing to differentiate (`tritonsnn._step.differentiable`: an evaluation loop) runs
the forward's arithmetic (`step`) without the Function.
"""
from __future__ import annotations

import torch

from tritonsnn import _rounding
from tritonsnn._dtypes import as_dtype as _as
from tritonsnn._registration import to_param_shape
from tritonsnn._step import (GradedFactor, Settled, differentiable, keep_for_backward, membrane_gradient,
                             one_step_applies, one_step_backward, surrogate_config)
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO
from tritonsnn.kernels.lif.torch_path import current_update, delayed_update


def applies(x: torch.Tensor, reset_delay: bool, dtypes: tuple, surrogate) -> bool:
    """Whether steps like `x` in this configuration are within this path's scope."""
    return reset_delay and one_step_applies(x, dtypes, surrogate)


class Plan(Settled):
    """A module's single steps through `TorchStep`, `state_names` being ("mem",) or, with a
    synaptic current, ("syn", "mem")."""

    __slots__ = ("config", "synaptic", "gsf")

    def __init__(self, x: torch.Tensor, state_names: tuple[str, ...], reset: int, reset_input: bool, surrogate):
        super().__init__()
        if state_names not in (("mem",), ("syn", "mem")):
            raise ValueError(f"a LIF step's states are ('mem',) or ('syn', 'mem'), got {state_names}")
        self.config = (reset, reset_input, *surrogate_config(surrogate, x))
        self.synaptic = len(state_names) == 2
        self.gsf = GradedFactor()

    def __call__(self, x_t: torch.Tensor, starts: list, parameters: dict) -> tuple:
        scaled = parameters.get("x")  # Lapicque's input, scaled in its [1, *neurons] form
        syn0, mem0 = starts if self.synaptic else (None, starts[0])
        inputs = (x_t if scaled is None else scaled.squeeze(0), mem0, syn0, parameters.get("alpha"),
                  parameters["decay"], parameters["threshold"], self.gsf(parameters))
        spk, mem, syn = (TorchStep.apply if differentiable(inputs) else step)(*inputs, self.config)
        return (spk, syn, mem) if self.synaptic else (spk, mem)


class TorchStep(torch.autograd.Function):
    """(spk, mem, syn) of one step from the states before it (None: zeros); syn is None without a
    synaptic current (alpha None), and gsf None where the spikes are not scaled
    (`_step.GradedFactor`). `config` = (reset, reset_input, sg_id, sg_params, the surrogate's
    parameters as floats or None to read them when the backward runs)."""

    @staticmethod
    def forward(ctx, x, mem0, syn0, alpha, decay, threshold, gsf, config):
        spk, mem, syn = step(x, mem0, syn0, alpha, decay, threshold, gsf, config)
        keep_for_backward(ctx, config, mem, mem0, syn0, alpha, decay, threshold, gsf)
        return spk, mem, syn

    @staticmethod
    def backward(ctx, g_spk, g_mem, g_syn):
        return one_step_backward(_gradients, ctx, g_spk, g_mem, g_syn)


def step(x, mem0, syn0, alpha, decay, threshold, gsf, config) -> tuple:
    """`TorchStep`'s forward arithmetic: (spk, mem, syn) of one step, no autograd node."""
    reset, reset_input = config[0], config[1]
    acc = x.dtype
    thr = _as(threshold, acc)
    syn = None
    current = x
    if alpha is not None:
        syn = current = current_update(x, None if syn0 is None else _as(syn0, acc), _as(alpha, acc))
    state = x.new_zeros(x.shape) if mem0 is None else _as(mem0, acc)
    spk = torch.empty_like(x)
    fired = torch.gt(state, thr, out=spk)  # r_t, read before the step's spikes overwrite it
    mem = delayed_update(current, state, fired, _as(decay, acc), thr, None, reset, reset_input, None)
    torch.gt(mem, thr, out=spk)
    if gsf is not None:
        spk.mul_(_as(gsf, acc))
    return spk, mem, syn


def _gradients(ctx, g_spk, g_mem, g_syn) -> tuple:
    """`torch_path.lif_backward` for one delayed-reset step, term by term, then the parameters'
    sums (`to_param_shape`), as the fused Function's backward returns them."""
    mem, mem0, syn0, alpha, decay_in, threshold, gsf = ctx.saved_tensors
    reset, reset_input, sg_id, sg_params, floats = ctx.config
    needs = ctx.needs_input_grad
    acc = mem.dtype
    decay, thr = _as(decay_in, acc), _as(threshold, acc)
    gs = None if g_spk is None else _as(g_spk, acc)
    gu, owned, dthr = membrane_gradient(mem, thr, gs, g_mem, gsf, (sg_id, sg_params, floats), needs[5])
    zero_reset = reset == RESET_ZERO
    prev = fired_before = None  # U_{t-1} and r_t, for the parameters' terms and a zero reset's
    if needs[4] or needs[5] or zero_reset:
        prev = mem.new_zeros(mem.shape) if mem0 is None else _as(mem0, acc)
        fired_before = (prev > thr).to(acc)
    dmem0 = None
    if needs[1]:
        dmem0 = _as(gu * (decay * (1.0 - fired_before) if zero_reset else decay), mem0.dtype)
    ddecay = dgsf = None  # the parameters' terms, summed to their shapes before gu is written in place
    if needs[4]:
        ddecay = to_param_shape((gu * (1.0 - fired_before) if zero_reset else gu) * prev, decay_in)
    if needs[5]:
        if reset == RESET_SUBTRACT:
            dthr -= gu * fired_before
        dthr = to_param_shape(dthr, threshold)
    if needs[6]:
        dgsf = to_param_shape(torch.zeros_like(mem) if gs is None else gs * _rounding.above(mem, thr), gsf)
    gin = gu  # dL/d(step's input)
    if zero_reset and reset_input:
        gin = gu.mul_(1.0 - fired_before) if owned else gu * (1.0 - fired_before)
        owned = True
    dsyn0 = dalpha = None
    if alpha is not None:
        if g_syn is not None:
            gin = gin.add_(_as(g_syn, acc)) if owned else gin + _as(g_syn, acc)
        if needs[2]:
            dsyn0 = _as(gin * _as(alpha, acc), syn0.dtype)
        if needs[3]:
            dalpha = to_param_shape(gin * (gin.new_zeros(gin.shape) if syn0 is None else _as(syn0, acc)), alpha)
    return gin if needs[0] else None, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf, None
