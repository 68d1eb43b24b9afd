"""`run`: the Alpha neuron's one entry point, what `tritonsnn.functional.alpha` calls with checked
arguments: the fused neuron (`fused.py`: one autograd node in eager mode, the op of `op.py`
where a compiler traces), or for a Python surrogate the fused forward with the torch
path's backward, plus forward-mode tangents while forward AD records (as the LIF family's
`dispatch.py` does)."""
from __future__ import annotations

import torch

from tritonsnn import _forward_ad
from tritonsnn._ops import ops, traced
from tritonsnn._registration import Inputs, surrogate_seed, to_param_shape
from tritonsnn._step import Step
from tritonsnn.backend import get_backend
from tritonsnn.kernels.alpha import fused, torch_path
from tritonsnn.kernels.alpha import step as torch_step
from tritonsnn.surrogate import DISABLED, custom_grad, warn_unfused


def run(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, dtypes, surrogate, lengths):
    """The fused Alpha neuron with decays a, b (clamped), the membrane scale tau, a resolved
    surrogate, the (spike, save) dtypes and checked lengths. Returns (spk, exc, inh, mem)."""
    spike_dtype, save_dtype = dtypes
    neuron = dict(x=x, exc0=exc0, inh0=inh0, mem0=mem0, a=a, b=b, tau=tau, threshold=threshold, gsf=gsf, reset=reset,
                  spike_dtype=spike_dtype, save_dtype=save_dtype, lengths=lengths, keep_currents=keep_currents(tau))
    forward_ad = _forward_ad.active(x, exc0, inh0, a, b, tau, threshold, gsf)
    if not surrogate.fused:
        function = _PythonSurrogateForwardAD if forward_ad else _PythonSurrogate
        return function.apply(*PYTHON_SURROGATE.ordered(neuron, surrogate=surrogate))[:4]
    seed = surrogate_seed(surrogate, x)
    outputs = fused.call(**neuron, sg_id=surrogate.kernel_id, sg_params=surrogate.kernel_params(x),
                         sg_seed=seed, backend=get_backend())
    if forward_ad:
        return _with_tangents(outputs, x, exc0, inh0, mem0, a, b, tau, threshold, gsf, (reset, surrogate, seed, lengths))
    return outputs[:4]


def keep_currents(tau) -> bool:
    """Whether the forward keeps the currents at full precision: the decays will want gradients."""
    return torch.is_grad_enabled() and tau.requires_grad


STATE_INPUTS = {"syn_exc": ("exc0", 1), "syn_inh": ("inh0", 2), "mem": ("mem0", 3)}
"""A module state's input of the fused Function and the position of its new value in the outputs."""


def step(x, state_names, reset, dtypes, surrogate):
    """How a module's single steps like `x: [1, *neurons]` run once settled (`tritonsnn._step`):
    the torch path's one-step Function (`step.py`) where it applies, else a `Step` of the fused
    Function; None with a Python surrogate (its steps take the checked path)."""
    if not surrogate.fused:
        return None
    if torch_step.applies(x, dtypes, surrogate):
        return torch_step.Plan(x, reset, surrogate)
    spike_dtype, save_dtype = dtypes
    constants = dict(reset=reset, spike_dtype=spike_dtype, save_dtype=save_dtype, sg_id=surrogate.kernel_id,
                     sg_params=surrogate.kernel_params(x), backend=get_backend())
    return Step(fused.Eager, fused.FWD, constants, tuple(STATE_INPUTS[n][0] for n in state_names),
                tuple(STATE_INPUTS[n][1] for n in state_names), surrogate)


def tangents(tangents_in, x_dtype, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf, config):
    """Tangents of the op's (spk, exc, inh, mem), in x's and mem's dtypes, for the tangents of
    (x, exc0, inh0, a, b, tau, threshold, gsf); `config` = (reset, surrogate, seed, lengths)."""
    reset, surrogate, seed, lengths = config
    dtypes = (x_dtype, mem.dtype, mem.dtype, mem.dtype)
    if mem.numel() == 0:
        return tuple(torch.zeros_like(mem, dtype=d) for d in dtypes)
    grad_, params = _forward_ad.surrogate_grad(surrogate, seed, mem.device)
    out = torch_path.alpha_jvp(tangents_in, x_dtype, mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf,
                               reset, grad_, params, lengths)
    return tuple(t.to(d) for t, d in zip(out, dtypes))


class _Tangents(torch.autograd.Function):
    """Zero, shaped like (spk, exc, inh, mem); its jvp is their tangent (`tangents`)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, mem, exc, inh, config):
        return torch.zeros_like(x), torch.zeros_like(mem), torch.zeros_like(mem), torch.zeros_like(mem)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, exc0, inh0, mem0, a, b, tau, threshold, gsf, mem, exc, inh, config = inputs
        ctx.save_for_forward(mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf)
        ctx.x_dtype, ctx.config = x.dtype, config

    @staticmethod
    def jvp(ctx, dx, dexc0, dinh0, _dmem0, da, db, dtau, dthr, dgsf, _dmem, _dexc, _dinh, _):
        return tangents((dx, dexc0, dinh0, da, db, dtau, dthr, dgsf), ctx.x_dtype, *ctx.saved_tensors, ctx.config)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) * len(ctx.needs_input_grad)  # the outputs are constant zeros


def _with_tangents(outputs, x, exc0, inh0, mem0, a, b, tau, threshold, gsf, config):
    """The op's (spk, exc, inh, mem) plus their forward-mode tangents; the currents kept at the
    accumulation precision, where present, feed the decays' tangents."""
    spk, exc, inh, mem, exc_acc, inh_acc = outputs
    e, i = (exc_acc, inh_acc) if exc_acc.numel() else (exc, inh)
    z_spk, z_exc, z_inh, z_mem = _Tangents.apply(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, mem.detach(),
                                                 e.detach(), i.detach(), config)
    return (spk + z_spk if spk.is_floating_point() else spk), exc + z_exc, inh + z_inh, mem + z_mem


class _PythonSurrogate(torch.autograd.Function):
    """Alpha with a `custom_surrogate(fn)`: the fused forward, the torch path's backward."""

    @staticmethod
    def forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, spike_dtype, save_dtype, keep_currents,
                lengths, surrogate):
        warn_unfused(surrogate)
        return (ops().alpha_fwd if traced(x) else fused.forward)(
            x=x, exc0=exc0, inh0=inh0, mem0=mem0, a=a, b=b, tau=tau, threshold=threshold, gsf=gsf, reset=reset,
            spike_dtype=spike_dtype, save_dtype=save_dtype, keep_currents=keep_currents, sg_id=DISABLED.kernel_id,
            sg_params=DISABLED.kernel_params(x), sg_seed=None, backend=get_backend(), lengths=lengths)

    @staticmethod
    def setup_context(ctx, inputs, output):
        i = PYTHON_SURROGATE.named(inputs)
        _, exc, inh, mem, exc_acc, inh_acc = output
        if exc_acc.numel():  # the decays' gradients read the currents kept at the accumulation precision
            exc, inh = exc_acc, inh_acc
        ctx.save_for_backward(mem, exc, inh, *(i[name] for name in TANGENT_INPUTS), i["lengths"])
        ctx.config = (i["reset"], i["surrogate"], i["x"].dtype)
        ctx.mark_non_differentiable(*output[4:])
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad_spk, grad_exc, grad_inh, grad_mem, _grad_exc_kept, _grad_inh_kept):
        mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf, lengths = ctx.saved_tensors
        reset, surrogate, x_dtype = ctx.config
        needs = PYTHON_SURROGATE.needs(ctx)
        if grad_spk is None:
            grad_spk = torch.zeros(mem.shape, dtype=x_dtype, device=mem.device)
        decay_grad = needs["a"] or needs["b"] or needs["tau"]
        param_grad = needs["threshold"] or needs["gsf"]
        dx, dexc0, dinh0, da, db, dtau, dthr, dgsf = torch_path.alpha_backward(
            grad_spk, grad_exc, grad_inh, grad_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau,
            threshold, gsf, reset, custom_grad(surrogate.fn), (), param_grad, decay_grad, lengths)
        if decay_grad:
            da, db, dtau = (to_param_shape(g, p) for g, p in ((da, a), (db, b), (dtau, tau)))
        if param_grad:
            dthr, dgsf = (to_param_shape(g, p) for g, p in ((dthr, threshold), (dgsf, gsf)))
        # The membrane's initial value only decides the first reset, which is detached: no gradient.
        return PYTHON_SURROGATE.grads(ctx, x=dx, exc0=dexc0, inh0=dinh0, a=da, b=db, tau=dtau, threshold=dthr,
                                      gsf=dgsf)


class _PythonSurrogateForwardAD(_PythonSurrogate):
    """`_PythonSurrogate` with forward-mode AD, used while forward AD records (Dynamo cannot trace
    a custom jvp, so the compiled path keeps the plain class)."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        _PythonSurrogate.setup_context(ctx, inputs, output)
        i = PYTHON_SURROGATE.named(inputs)
        _, exc, inh, mem, exc_acc, inh_acc = output
        if exc_acc.numel():
            exc, inh = exc_acc, inh_acc
        ctx.save_for_forward(mem, exc, inh, *(i[name] for name in TANGENT_INPUTS))
        ctx.lengths = i["lengths"]

    @staticmethod
    def jvp(ctx, dx, dexc0, dinh0, _dmem0, da, db, dtau, dthr, dgsf, *_):
        reset, surrogate, x_dtype = ctx.config
        out = tangents((dx, dexc0, dinh0, da, db, dtau, dthr, dgsf), x_dtype, *ctx.saved_tensors,
                       (reset, surrogate, None, ctx.lengths))
        return (*out, None, None)


PYTHON_SURROGATE = Inputs.of(_PythonSurrogate.forward)
TANGENT_INPUTS = ("exc0", "inh0", "mem0", "a", "b", "tau", "threshold", "gsf")  # as `tangents` takes them after x
