"""The recurrent LIF family (RLeaky, RSynaptic) on the torch path: a whole sequence as one autograd
Function, the recurrent GEMM inside its time loop and a hand-written reverse-time backward.

Forward, per step: the recurrent current ``S[t-1] Wᵀ + b`` (one GEMM into the step's slot; a
Conv2d term's convolution; or ``S[t-1] V`` elementwise) plus the input, then the LIF family's
current and membrane updates (`lif.torch_path.current_update`, `delayed_update`) and the spike,
in place on one `[*neurons]` slice. Backward, per step in reverse: the spike's total gradient
(the output's plus the next step's ``dI[t+1] W``, one GEMM), the surrogate, the membrane's and
current's carried gradients; dI[t] is written into the input gradient's slot, so the weight and
bias gradients are one large GEMM (or Conv2d weight gradient) and one sum over every step
afterwards (`README.md` derives it).

Scope (`applies`): fp32/fp64 on the torch backend, states kept in that dtype, a fused deterministic
surrogate, the delayed reset, eager; everything else steps the neuron's fused single step per
step (`tritonsnn._recurrent`). With per-sample lengths every output past a sample's end is 0 and
carries no gradient, and the zeros are what the next step starts from.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tritonsnn._ends import past_end
from tritonsnn._registration import to_param_shape
from tritonsnn._step import keep_for_backward, one_step_applies, one_step_backward, surrogate_config, surrogate_now
from tritonsnn.backend import is_one
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO
from tritonsnn.kernels.lif.torch_path import current_update, delayed_update
from tritonsnn.surrogate import spec_for_kernel_id


def applies(x: torch.Tensor, reset_delay: bool, save_dtype, surrogate, lengths) -> bool:
    """Whether a sequence like `x` runs as one `RecurrentSequence`."""
    dtypes = (x.dtype, x.dtype if save_dtype is None else save_dtype)
    return (reset_delay and surrogate.fused and not torch.compiler.is_compiling()
            and one_step_applies(x, dtypes, surrogate))


def run(x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, reset: int, surrogate,
        lengths=None, padding=None) -> tuple:
    """(spk_seq, syn_seq or None, mem_seq) over `x: [T, *neurons]` (see `RecurrentSequence`);
    `lengths`: checked per-sample lengths of `x: [T, B, ...]`, or None; `padding`: a Conv2d
    term's (stride 1, no dilation, one group), None for a Linear one."""
    ended = None if lengths is None else past_end(lengths, x.shape)
    config = (reset, *surrogate_config(surrogate, x), ended, padding)
    return RecurrentSequence.apply(x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, config)


class RecurrentSequence(torch.autograd.Function):
    """The recurrent neuron over a sequence `x: [T, *neurons]` from the spikes, current and
    membrane before it (None: zeros). The recurrent term is ``F.linear(S, weight, bias)`` where
    `weight` is given (``F.conv2d(S, weight, bias, padding=padding)`` with a padding), else
    ``S * V``; `alpha` None means no synaptic current (RLeaky). `decay` and `alpha` come clamped,
    every parameter checked and in the input's dtype or 0-d. `config` = (reset, sg_id,
    sg_params, the surrogate's parameters as floats or None, the steps past each sample's end as a
    `past_end` mask or None, a Conv2d term's padding or None)."""

    @staticmethod
    def forward(ctx, x, spk0, syn0, mem0, weight, bias, V, alpha, decay, threshold, gsf, config):
        reset, ended, padding = config[0], config[-2], config[-1]
        shape = x.shape[1:]
        spk, mem = torch.empty_like(x), torch.empty_like(x)
        syn = None if alpha is None else torch.empty_like(x)
        s = x.new_zeros(shape) if spk0 is None else spk0.to(x.dtype)
        u = x.new_zeros(shape) if mem0 is None else mem0.to(x.dtype)
        i = None if syn0 is None else syn0.to(x.dtype)
        fired = x.new_empty(shape)  # r_t as 0 / 1, delayed_update's form
        graded = not is_one(gsf)
        for t in range(x.shape[0]):
            # The step's input current, written where the membrane goes: X + R(S[t-1]).
            cur = mem[t]
            if weight is not None:
                torch.add(_term(s, weight, bias, padding), x[t], out=cur)
            else:
                torch.addcmul(x[t], s, V, out=cur)
            if alpha is not None:
                cur = i = current_update(cur, i, alpha, syn[t])
            torch.gt(u, threshold, out=fired)  # from the membrane before the step
            u = delayed_update(cur, u, fired, decay, threshold, mem[t], reset, True, None)
            s = torch.gt(u, threshold, out=spk[t])
            if graded:
                s.mul_(gsf)
            if ended is not None:  # past its end a sample's outputs, and so its carried states, are 0
                for out in (s, u) if alpha is None else (s, u, i):
                    out.masked_fill_(ended[t], 0.0)
        keep_for_backward(ctx, config, spk, syn, mem, spk0, syn0, mem0, weight, V, alpha, decay, threshold, gsf)
        return spk, syn, mem

    @staticmethod
    def backward(ctx, g_spk, g_syn, g_mem):
        return one_step_backward(_gradients, ctx, g_spk, g_syn, g_mem)


def _gradients(ctx, g_spk, g_syn, g_mem) -> tuple:
    """The reverse-time scan: for t = T-1 .. 0, with dS the spikes' gradient carried from step t+1
    (dI[t+1] W, or dI[t+1] V) and dU, dI the membrane's and current's::

        gs = dL/dS[t] + dS;   gu = gs * gsf * sg'(U[t] - thr) + dL/dU[t] + dU
        db = gu (1 - r_t) for the zero reset, else gu;   dU = db * decay
        RLeaky: dI[t] = db;   RSynaptic: dI[t] = db + dL/dI[t] + dI, dI = dI[t] * alpha
        dS = dI[t] W (or dI[t] V)

    dI[t] is dx[t]; the weight, bias, V and alpha gradients are sums over every step, taken
    after the scan."""
    spk, syn, mem, spk0, syn0, mem0, weight, V, alpha, decay, threshold, gsf = ctx.saved_tensors
    reset, sg_id, sg_params, floats, ended, padding = ctx.config
    needs = ctx.needs_input_grad
    spec = spec_for_kernel_id(sg_id)
    params = surrogate_now(sg_id, sg_params, floats)
    T = mem.shape[0]
    graded = not is_one(gsf)
    dthr = torch.zeros_like(mem[0]) if needs[9] else None
    dgsf = torch.zeros_like(mem[0]) if needs[10] else None
    ddecay = torch.zeros_like(mem[0]) if needs[8] else None
    dx = torch.empty_like(mem)
    d_s = d_u = d_i = None
    fired = torch.empty_like(mem[0])
    for t in range(T - 1, -1, -1):
        u_t = mem[t]
        gs = g_spk[t] if g_spk is not None else None
        gs = d_s if gs is None else gs if d_s is None else gs + d_s
        if gs is not None and ended is not None:
            gs = gs.masked_fill(ended[t], 0.0)
        # RLeaky's dI[t] is the membrane's gradient itself: it is computed in dx[t].
        target = dx[t] if alpha is None else torch.empty_like(u_t)
        gu = None
        if gs is not None:
            gu = spec.grad_(torch.sub(u_t, threshold, out=target), gs, *params)
            if graded:
                gu.mul_(gsf)
            if dthr is not None:
                dthr.sub_(gu)
            if dgsf is not None:
                dgsf.add_(gs * (u_t > threshold))
        for extra in (None if g_mem is None else g_mem[t], d_u):
            if extra is not None:
                gu = target.copy_(extra) if gu is None else gu.add_(extra)
        if gu is None:
            gu = target.zero_()
        elif ended is not None:  # nothing flows from an output past the end, nor through its state
            gu.masked_fill_(ended[t], 0.0)
        u_prev = mem[t - 1] if t else torch.zeros_like(u_t) if mem0 is None else mem0.to(u_t.dtype)
        if reset != RESET_SUBTRACT and reset != RESET_ZERO:
            db = gu
        else:
            torch.gt(u_prev, threshold, out=fired)
            if reset == RESET_SUBTRACT:
                db = gu
                if dthr is not None:
                    dthr.addcmul_(gu, fired, value=-1.0)
            else:
                db = gu.addcmul_(gu, fired, value=-1.0)  # the gradient of base - base r_t
        if ddecay is not None:
            ddecay.addcmul_(db, u_prev)
        d_u = db * decay
        di = dx[t]
        if alpha is None:
            if db.data_ptr() != di.data_ptr():  # a surrogate that did not work in place
                di.copy_(db)
        else:
            torch.add(db, g_syn[t], out=di) if g_syn is not None else di.copy_(db)
            if d_i is not None:
                di.add_(d_i)
            if ended is not None:
                di.masked_fill_(ended[t], 0.0)
            d_i = di * alpha
        if t or needs[1]:
            d_s = di * V if weight is None else _term_input_grad(di, weight, padding)
    return (dx if needs[0] else None, d_s if needs[1] else None, d_i if needs[2] else None,
            d_u if needs[3] else None, *summed(ctx.saved_tensors, dx, needs, ddecay, dthr, dgsf, padding))


def summed(saved, dx, needs, ddecay, dthr, dgsf, padding) -> tuple:
    """The gradients of weight, bias, V, alpha, decay, threshold and gsf: per-step terms summed
    over the sequence (`dx` holds dI[t] for every step; the scan summed decay's, threshold's and
    gsf's per neuron), from the `saved` tensors of `RecurrentSequence` (or the fused
    Function's, in the same order) and a Conv2d term's padding (None for the others)."""
    spk, syn, mem, spk0, syn0, mem0, weight, V, alpha, decay, threshold, gsf = saved
    dweight = dbias = dV = dalpha = None
    if needs[4]:
        dweight = weight_grad(dx, spk, spk0, weight, padding)
    if needs[6]:
        dV = to_param_shape(times_previous(dx, spk, spk0), V)
    if needs[5]:  # summed over every dimension but the channels (the last, or a Conv2d's -3)
        channel = dx.dim() - (1 if padding is None else 3)
        dbias = dx.sum([d for d in range(dx.dim()) if d != channel])
    if needs[7]:
        dalpha = to_param_shape(times_previous(dx, syn, syn0), alpha) if alpha is not None else None
    return (dweight, dbias, dV, dalpha, *(None if g is None else to_param_shape(g, p)
                                          for g, p in ((ddecay, decay), (dthr, threshold), (dgsf, gsf))), None)


def times_previous(dx: torch.Tensor, seq: torch.Tensor, first) -> torch.Tensor:
    """sum_t dx[t] * seq[t-1] per element of a step (seq[-1] = `first`, None: zeros)."""
    out = (dx[1:] * seq[:-1]).sum(0)
    return out if first is None else out.addcmul_(dx[0], first.to(dx.dtype))


def _term(s, weight, bias, padding):
    """The recurrent layer on the previous spikes: Linear, or Conv2d with `padding`."""
    return F.linear(s, weight, bias) if padding is None else F.conv2d(s, weight, bias, padding=padding)


def _term_input_grad(di, weight, padding):
    """dL/dS[t-1] from dI[t]: `di W`, or the Conv2d's input gradient."""
    if padding is None:
        return torch.matmul(di, weight)
    batched = di if di.dim() == 4 else di.unsqueeze(0)
    return torch.nn.grad.conv2d_input(batched.shape, weight, batched, padding=padding).reshape(di.shape)


def weight_grad(dx, spk, spk0, weight, padding):
    """sum_t dI[t]ᵀ S[t-1] as one GEMM over steps 1.. (plus step 0's given spikes), or one Conv2d
    weight gradient over every step, the steps and samples as one batch."""
    if padding is None:
        features = dx.shape[-1]
        dweight = dx[1:].reshape(-1, features).t().mm(spk[:-1].reshape(-1, features))
        if spk0 is not None:
            dweight.addmm_(dx[0].reshape(-1, features).t(), spk0.to(dx.dtype).reshape(-1, features))
        return dweight
    image = dx.shape[-3:]
    previous = torch.cat([spk.new_zeros((1, *spk.shape[1:])) if spk0 is None else spk0.to(spk.dtype).unsqueeze(0),
                          spk[:-1]]).reshape(-1, *image)
    return torch.nn.grad.conv2d_weight(previous, weight.shape, dx.reshape(-1, *image), padding=padding)
