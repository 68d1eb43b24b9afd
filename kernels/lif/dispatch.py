"""`run`: the LIF family's one entry point, what `tritonsnn.functional.leaky`, `synaptic` and
`lapicque` call with checked arguments. It takes the fused neuron (`fused.py`: one autograd node
in eager mode, the op of `op.py` where a compiler traces), or, for a Python
surrogate (`custom_surrogate`), the fused forward with the torch path's backward; and while
forward-mode AD records, it adds the tangents the backward implies (`tritonsnn._forward_ad`)."""
from __future__ import annotations

import torch

from tritonsnn import _forward_ad
from tritonsnn._ops import ops, traced
from tritonsnn._dtypes import acc_dtype
from tritonsnn._registration import Inputs, surrogate_seed, to_param_shape
from tritonsnn._step import Step
from tritonsnn.backend import get_backend
from tritonsnn.kernels.codes import RESET_NONE
from tritonsnn.kernels.lif import fused, torch_path
from tritonsnn.kernels.lif import step as torch_step
from tritonsnn.surrogate import DISABLED, custom_grad, warn_unfused


def run(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input, dtypes, surrogate, lengths):
    """The fused LIF neuron with a resolved surrogate, the (spike, save) dtypes and checked
    lengths (`decay` as used: clamped, or Lapicque's 1 - dt/(RC)). Returns (spk, mem_seq,
    syn_seq)."""
    spike_dtype, save_dtype = dtypes
    neuron = dict(x=x, mem0=mem0, syn0=syn0, alpha=alpha, decay=decay, threshold=threshold, gsf=gsf, reset=reset,
                  reset_delay=reset_delay, reset_input=reset_input, spike_dtype=spike_dtype, save_dtype=save_dtype,
                  lengths=lengths)
    if not surrogate.fused:
        forward_ad = _forward_ad.active(x, mem0, syn0, alpha, decay, threshold, gsf)
        function = _PythonSurrogateForwardAD if forward_ad else _PythonSurrogate
        spk, mem_seq, _, syn_seq = function.apply(*PYTHON_SURROGATE.ordered(neuron, surrogate=surrogate))
        return spk, mem_seq, syn_seq
    seed = surrogate_seed(surrogate, x)
    outputs = fused.call(**neuron, sg_id=surrogate.kernel_id, sg_params=surrogate.kernel_params(x),
                         sg_seed=seed, backend=get_backend())
    if _forward_ad.active(x, mem0, syn0, alpha, decay, threshold, gsf):
        outputs = _with_tangents(outputs, x, mem0, syn0, alpha, decay, threshold, gsf,
                                 (reset, reset_delay, reset_input, surrogate, seed, lengths))
    spk, mem_seq, _, syn_seq = outputs
    return spk, mem_seq, syn_seq


def integrate(x, mem0, decay):
    """The LIF family's membrane without a reset, U_t = decay U_{t-1} + X_t from U_0 = mem0 (None:
    zeros), over a checked time-major `x` with `decay` as used (not clamped): the fused time loop
    of StateLeaky and DeltaLeaky, whose spikes are elementwise functions of the membrane sequence
    it returns (so it is stored in the math dtype, fp32 for 2-byte inputs). The kernel's own
    spikes are not used, so they take the disabled surrogate."""
    no_spikes = torch.ones((), dtype=decay.dtype, device=x.device)
    dtypes = (x.dtype, acc_dtype(x.dtype))
    _, mem_seq, _ = run(x=x, mem0=mem0, syn0=None, alpha=None, decay=decay, threshold=no_spikes, gsf=no_spikes,
                        reset=RESET_NONE, reset_delay=True, reset_input=False, dtypes=dtypes,
                        surrogate=DISABLED, lengths=None)
    return mem_seq


STATE_INPUTS = {"mem": ("mem0", 1), "syn": ("syn0", 3)}
"""A module state's input of the fused Function and the position of its new value in the outputs."""


def step(x, state_names, reset, reset_delay, reset_input, dtypes, surrogate):
    """How a module's single steps like `x: [1, *neurons]` run once settled (`tritonsnn._step`):
    the torch path's one-step Function (`step.py`) where it applies, else a `Step` of the fused
    Function; None with a Python surrogate (its steps take the checked path)."""
    if not surrogate.fused:
        return None
    if torch_step.applies(x, reset_delay, dtypes, surrogate):
        return torch_step.Plan(x, state_names, reset, reset_input, surrogate)
    spike_dtype, save_dtype = dtypes
    constants = dict(reset=reset, reset_delay=reset_delay, reset_input=reset_input, spike_dtype=spike_dtype,
                     save_dtype=save_dtype, sg_id=surrogate.kernel_id, sg_params=surrogate.kernel_params(x),
                     backend=get_backend())
    return Step(fused.Eager, fused.FWD, constants, tuple(STATE_INPUTS[n][0] for n in state_names),
                tuple(STATE_INPUTS[n][1] for n in state_names), surrogate)


def tangents(tangents_in, x_dtype, mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf, config):
    """Tangents of the op's (spk, mem, syn), in their dtypes, for the tangents of (x, mem0, syn0,
    alpha, decay, threshold, gsf); `config` = (reset, reset_delay, reset_input, surrogate, seed,
    lengths)."""
    reset, reset_delay, reset_input, surrogate, seed, lengths = config
    if mem.numel() == 0:
        return torch.zeros_like(mem, dtype=x_dtype), torch.zeros_like(mem), torch.zeros_like(syn)
    grad_, params = _forward_ad.surrogate_grad(surrogate, seed, mem.device)
    d_spk, d_mem, d_syn = torch_path.lif_jvp(tangents_in, x_dtype, mem, h, syn, mem0, syn0, alpha, decay, threshold,
                                             gsf, reset, reset_delay, reset_input, grad_, params, lengths)
    return d_spk.to(x_dtype), d_mem.to(mem.dtype), torch.zeros_like(syn) if d_syn is None else d_syn.to(syn.dtype)


class _Tangents(torch.autograd.Function):
    """Zero, shaped like (spk, mem, syn); its jvp is their tangent (`tangents`)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, mem0, syn0, alpha, decay, threshold, gsf, mem, h, syn, config):
        return torch.zeros_like(x), torch.zeros_like(mem), torch.zeros_like(syn)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, mem0, syn0, alpha, decay, threshold, gsf, mem, h, syn, config = inputs
        ctx.save_for_forward(mem, h, syn, mem0, syn0, alpha, decay, threshold, gsf)
        ctx.x_dtype, ctx.config = x.dtype, config

    @staticmethod
    def jvp(ctx, dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf, _dmem, _dh, _dsyn, _):
        return tangents((dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf), ctx.x_dtype, *ctx.saved_tensors, ctx.config)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) * len(ctx.needs_input_grad)  # the outputs are constant zeros


def _with_tangents(outputs, x, mem0, syn0, alpha, decay, threshold, gsf, config):
    """The op's (spk, mem, h, syn) plus their forward-mode tangents (binary spikes carry none)."""
    spk, mem, h, syn = outputs
    z_spk, z_mem, z_syn = _Tangents.apply(x, mem0, syn0, alpha, decay, threshold, gsf, mem.detach(), h.detach(),
                                          syn.detach(), config)
    return (spk + z_spk if spk.is_floating_point() else spk), mem + z_mem, h, syn + z_syn


class _PythonSurrogate(torch.autograd.Function):
    """A neuron with a `custom_surrogate(fn)`: the fused forward, then the backward of the torch
    path with the user's Python gradient (it cannot run inside a kernel)."""

    @staticmethod
    def forward(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input,
                spike_dtype, save_dtype, lengths, surrogate):
        warn_unfused(surrogate)
        return (ops().lif_fwd if traced(x) else fused.forward)(
            x=x, mem0=mem0, syn0=syn0, alpha=alpha, decay=decay, threshold=threshold, gsf=gsf, reset=reset,
            reset_delay=reset_delay, reset_input=reset_input, spike_dtype=spike_dtype, save_dtype=save_dtype,
            sg_id=DISABLED.kernel_id, sg_params=DISABLED.kernel_params(x), sg_seed=None, backend=get_backend(),
            lengths=lengths)

    @staticmethod
    def setup_context(ctx, inputs, output):
        i = PYTHON_SURROGATE.named(inputs)
        _, mem_seq, h, syn_seq = output
        ctx.save_for_backward(mem_seq, h, syn_seq, i["mem0"], i["syn0"], i["alpha"], i["decay"], i["threshold"],
                              i["gsf"], i["lengths"])
        ctx.config = (i["reset"], i["reset_delay"], i["reset_input"], i["surrogate"], i["x"].dtype)
        ctx.mark_non_differentiable(h)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad_spk, grad_mem, _, grad_syn):
        mem_seq, h, syn_seq, mem0, syn0, alpha, decay, threshold, gsf, lengths = ctx.saved_tensors
        reset, reset_delay, reset_input, surrogate, x_dtype = ctx.config
        needs = PYTHON_SURROGATE.needs(ctx)
        if grad_spk is None:
            grad_spk = torch.zeros(mem_seq.shape, dtype=x_dtype, device=mem_seq.device)
        param_grad = needs["decay"] or needs["threshold"] or needs["gsf"]
        dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf = torch_path.lif_backward(
            grad_spk, grad_mem, grad_syn, mem_seq, h, syn_seq, mem0, syn0, alpha, decay, threshold,
            gsf, reset, reset_delay, reset_input, custom_grad(surrogate.fn), (), param_grad, needs["alpha"], lengths)
        if needs["alpha"]:
            dalpha = to_param_shape(dalpha, alpha)
        if param_grad:
            ddecay, dthr, dgsf = (to_param_shape(g, p) for g, p in ((ddecay, decay), (dthr, threshold), (dgsf, gsf)))
        return PYTHON_SURROGATE.grads(ctx, x=dx, mem0=dmem0, syn0=dsyn0, alpha=dalpha, decay=ddecay, threshold=dthr,
                                      gsf=dgsf)


class _PythonSurrogateForwardAD(_PythonSurrogate):
    """`_PythonSurrogate` with forward-mode AD, used while forward AD records (Dynamo cannot trace
    a custom jvp, so the compiled path keeps the plain class)."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        _PythonSurrogate.setup_context(ctx, inputs, output)
        i = PYTHON_SURROGATE.named(inputs)
        _, mem_seq, h, syn_seq = output
        ctx.save_for_forward(mem_seq, h, syn_seq, *(i[name] for name in TANGENT_INPUTS))
        ctx.lengths = i["lengths"]

    @staticmethod
    def jvp(ctx, dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf, *_):
        reset, reset_delay, reset_input, surrogate, x_dtype = ctx.config
        d_spk, d_mem, d_syn = tangents((dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf), x_dtype, *ctx.saved_tensors,
                                       (reset, reset_delay, reset_input, surrogate, None, ctx.lengths))
        return d_spk, d_mem, None, d_syn


PYTHON_SURROGATE = Inputs.of(_PythonSurrogate.forward)
TANGENT_INPUTS = ("mem0", "syn0", "alpha", "decay", "threshold", "gsf")  # the state and parameters with tangents
