"""Functional forms of the fused neurons: whole sequences in, whole sequences out.

Inputs are time-major, `x: [T, *neurons]`; every tensor argument that requires grad receives its
gradient. The backend (Triton kernels or the vectorised torch path) follows
:func:`tritonsnn.set_backend`.
"""
from __future__ import annotations

import torch

from tritonsnn import _alpha_torch, _checks, _forward_ad, _lif_torch, ops
from tritonsnn._ends import last_steps, past_end
from tritonsnn import ops_alpha  # noqa: F401  (registers torch.ops.tritonsnn.alpha_fwd / alpha_bwd)
from tritonsnn.backend import get_backend
from tritonsnn.surrogate import DISABLED, custom_grad, resolve, warn_unfused

__all__ = ["alpha", "final_state", "lapicque", "leaky", "synaptic"]


def leaky(
    x: torch.Tensor,
    beta,
    mem: torch.Tensor | None = None,
    threshold=1.0,
    spike_grad=None,
    reset_mechanism: str = "subtract",
    reset_delay: bool = True,
    graded_spikes_factor=1.0,
    spike_dtype: torch.dtype | None = None,
    save_dtype: torch.dtype | None = None,
    lengths: torch.Tensor | None = None,
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
        spike_dtype: None (x's dtype), or torch.bool / torch.uint8 for binary spikes in one
            byte (inference only: they carry no gradient; graded_spikes_factor must be 1).
        save_dtype: dtype of the state sequences returned and saved for the backward (default
            x's dtype). torch.bfloat16 under fp32 input halves the membrane's memory and traffic;
            the math and the spikes stay fp32's, and each stored membrane is rounded on the side
            of the threshold the forward decided, so the backward sees the forward's spikes.
        lengths: per-sample sequence lengths for a padded batch `x: [T, B, ...]`: an integer
            tensor `[B]` with values in [0, T] (on x's device or the CPU). Sample b runs steps
            0 .. lengths[b] - 1; past them its spikes and states are returned as 0 and no
            gradient flows from there (the gradients equal running each sample alone at its own
            length). :func:`final_state` picks the state after each sample's last step.

    Returns:
        `(spk, mem_seq)`: spikes (in x's dtype unless `spike_dtype`) and the membrane `U_1..U_T`
        (in `save_dtype`), both `[T, *neurons]`.

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
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, gsf, (x, mem, beta, threshold, gsf))
    spk, mem_seq, _ = _lif(x, mem, None, None, beta.clamp(0, 1), threshold, gsf, reset,
                           bool(reset_delay), False, dtypes, surrogate, _checks.lengths(lengths, x))
    return spk, mem_seq


def synaptic(
    x: torch.Tensor,
    alpha,
    beta,
    syn: torch.Tensor | None = None,
    mem: torch.Tensor | None = None,
    threshold=1.0,
    spike_grad=None,
    reset_mechanism: str = "subtract",
    reset_delay: bool = True,
    graded_spikes_factor=1.0,
    spike_dtype: torch.dtype | None = None,
    save_dtype: torch.dtype | None = None,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synaptic-conductance LIF (snnTorch's `Synaptic`, the seed document's `Stein`) over a whole
    sequence, fused into one kernel.

    Per step, with a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1), r_t = H(U_{t-1} - threshold)::

        I_t = a I_{t-1} + X_t                       (the synaptic current is never reset)
        subtract: U_t = b U_{t-1} + I_t - r_t threshold
        zero:     U_t = (1 - r_t) (b U_{t-1} + I_t)  (the input is zeroed too, unlike Leaky)
        none:     U_t = b U_{t-1} + I_t
        S_t = H(U_t - threshold) * graded_spikes_factor

    Args:
        x: input current, `[T, *neurons]`.
        alpha, beta: decay rates of the current and the membrane (numbers, 0-d or per-neuron
            tensors broadcastable to `x.shape[1:]`).
        syn, mem: initial current and membrane of shape `x.shape[1:]` (zeros if None).
        threshold, spike_grad, reset_mechanism, reset_delay, graded_spikes_factor, spike_dtype,
            save_dtype, lengths: as for :func:`leaky` (save_dtype and lengths apply to both
            states).

    Returns:
        `(spk, syn_seq, mem_seq)`, each `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> x = torch.full((4, 1), 0.5)
        >>> spk, syn, mem = tritonsnn.functional.synaptic(x, alpha=0.8, beta=0.9)
        >>> spk.flatten(), syn.flatten(), mem.flatten()
        (tensor([0., 1., 1., 1.]), tensor([0.5000, 0.9000, 1.2200, 1.4760]), tensor([0.5000, 1.3500, 1.4350, 1.7675]))
    """
    surrogate = resolve(spike_grad)
    x, mem, beta, threshold, gsf, reset = _checks.leaky_inputs(
        x, mem, beta, threshold, graded_spikes_factor, reset_mechanism)
    syn = _checks.state(syn, x, "syn")
    alpha = _checks.parameter(alpha, x, "alpha")
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, gsf, (x, mem, syn, alpha, beta, threshold, gsf))
    spk, mem_seq, syn_seq = _lif(x, mem, syn, alpha.clamp(0, 1), beta.clamp(0, 1), threshold, gsf,
                                 reset, bool(reset_delay), True, dtypes, surrogate, _checks.lengths(lengths, x))
    return spk, syn_seq, mem_seq


def lapicque(
    x: torch.Tensor,
    beta=None,
    mem: torch.Tensor | None = None,
    R=None,
    C=None,
    time_step=1.0,
    threshold=1.0,
    spike_grad=None,
    reset_mechanism: str = "subtract",
    graded_spikes_factor=1.0,
    spike_dtype: torch.dtype | None = None,
    save_dtype: torch.dtype | None = None,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lapicque's RC neuron (snnTorch's `Lapicque`) over a whole sequence, fused into one kernel.

    Per step, with dt = time_step and r_t = H(U_{t-1} - threshold)::

        V_t = X_t dt / C + (1 - dt / (R C)) U_{t-1}
        subtract: U_t = V_t - r_t threshold;  zero: U_t = (1 - r_t) V_t;  none: U_t = V_t

    The circuit comes from `beta`, or `R` and `C`, or `beta` with one of them, as in snnTorch:
    with beta, R C = dt / ln(1/beta) (R = 1 unless given), so the decay is 1 - ln(1/beta). A
    beta (or R, C) that requires grad receives its gradient through these formulas. The other
    arguments are as for :func:`leaky`.

    Returns:
        `(spk, mem_seq)`, each `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> spk, mem = tritonsnn.functional.lapicque(torch.full((2, 1), 0.5), beta=0.9)
        >>> mem.flatten()
        tensor([0.0527, 0.0998])
    """
    surrogate = resolve(spike_grad)
    x, mem, _, threshold, gsf, reset = _checks.leaky_inputs(
        x, mem, 0.0, threshold, graded_spikes_factor, reset_mechanism)
    decay, scale = _checks.lapicque_circuit(beta, R, C, time_step, x)
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, gsf, (x, mem, decay, scale, threshold, gsf))
    lengths = _checks.lengths(lengths, x)
    if lengths is not None and scale.requires_grad:
        # The scale's gradient sums the input times the step's gradient: zero past a length, but
        # whatever pads the input there (NaN, inf) must not enter it.
        x = x.masked_fill(past_end(lengths, x.shape), 0)
    # X dt / C in the input's dtype: a per-neuron (fp32) scale would otherwise promote the input
    # that the kernels' thresholds compare at the input's precision.
    spk, mem_seq, _ = _lif((x * scale).to(x.dtype), mem, None, None, decay, threshold, gsf, reset, True, True,
                           dtypes, surrogate, lengths)
    return spk, mem_seq


def alpha(
    x: torch.Tensor,
    alpha,
    beta,
    syn_exc: torch.Tensor | None = None,
    syn_inh: torch.Tensor | None = None,
    mem: torch.Tensor | None = None,
    threshold=1.0,
    spike_grad=None,
    reset_mechanism: str = "zero",
    graded_spikes_factor=1.0,
    spike_dtype: torch.dtype | None = None,
    save_dtype: torch.dtype | None = None,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """snnTorch's Alpha neuron over a whole sequence, fused into one kernel.

    Per step, with a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1),
    tau = ln a / (ln b - ln a) + 1 and r_t = H(U_{t-1} - threshold)::

        E_t = a E_{t-1} + X_t,   I_t = b I_{t-1} - X_t,   U_t = tau (E_t + I_t)
        zero (default): E, I and U are multiplied by (1 - r_t)
        subtract: E_t -= r_t threshold,  I_t *= (1 - r_t),  U_t += r_t I_{t-1}  (snnTorch's code)
        S_t = H(U_t - threshold) * graded_spikes_factor

    The membrane does not decay from its own past, so `mem` only sets the first reset. alpha must
    exceed beta, so beta < 1 (checked for numbers and CPU tensors; CUDA tensors are not inspected,
    which would stall the device). spike_dtype, save_dtype and lengths are as for :func:`leaky`
    (save_dtype and lengths apply to the three states).

    Returns:
        `(spk, syn_exc_seq, syn_inh_seq, mem_seq)`, each `[T, *neurons]`.

    Example::

        >>> import torch, tritonsnn
        >>> spk, exc, inh, mem = tritonsnn.functional.alpha(torch.full((3, 1), 0.5), alpha=0.9, beta=0.8)
        >>> mem.flatten()
        tensor([0.0000, 0.0947, 0.2558])
    """
    surrogate = resolve(spike_grad)
    x, mem, beta, threshold, gsf, reset = _checks.leaky_inputs(
        x, mem, beta, threshold, graded_spikes_factor, reset_mechanism)
    syn_exc = _checks.state(syn_exc, x, "syn_exc")
    syn_inh = _checks.state(syn_inh, x, "syn_inh")
    a = _checks.parameter(alpha, x, "alpha").clamp(0, 1)
    _checks.alpha_decays(a, beta)
    b = beta.clamp(0, 1)
    tau = torch.log(a) / (torch.log(b) - torch.log(a)) + 1
    dtypes = _checks.storage_dtypes(x, spike_dtype, save_dtype, gsf, (x, syn_exc, syn_inh, a, b, threshold, gsf))
    keep_currents = torch.is_grad_enabled() and tau.requires_grad  # the decays will want gradients
    args = (x, syn_exc, syn_inh, mem, a, b, tau, threshold, gsf, reset, *dtypes, keep_currents)
    lengths = _checks.lengths(lengths, x)
    if not surrogate.fused:
        forward_ad = _forward_ad.active(x, syn_exc, syn_inh, a, b, tau, threshold, gsf)
        function = _AlphaPythonSurrogateForwardAD if forward_ad else _AlphaPythonSurrogate
        return function.apply(*args, lengths, surrogate)[:4]
    seed = _seed(surrogate, x)
    outputs = torch.ops.tritonsnn.alpha_fwd(
        *args, surrogate.kernel_id, surrogate.kernel_params(x), seed, get_backend(), lengths)
    if _forward_ad.active(x, syn_exc, syn_inh, a, b, tau, threshold, gsf):
        return _forward_ad.with_alpha_tangents(outputs, x, syn_exc, syn_inh, mem, a, b, tau, threshold, gsf, reset,
                                               surrogate, seed, lengths)
    return outputs[:4]


def final_state(
    seq: torch.Tensor,
    lengths: torch.Tensor | None = None,
    initial: torch.Tensor | None = None,
) -> torch.Tensor:
    """The state after each sample's last step, from a state sequence `seq: [T, B, *neurons]`
    (a membrane or current returned by a neuron called with `lengths`): `seq[lengths[b] - 1, b]`
    for every sample b, or `initial[b]` (zeros if None) where the length is 0; `seq[-1]` (or
    `initial`) without lengths. Differentiable in `seq` and `initial`: a loss on the final state
    trains through the last step of each sample. Multi-step modules with ``init_hidden=True``
    carry exactly this state to their next call.

    Example::

        >>> import torch, tritonsnn
        >>> lengths = torch.tensor([2, 4])
        >>> spk, mem = tritonsnn.functional.leaky(torch.full((4, 2, 1), 0.5), beta=0.9, lengths=lengths)
        >>> mem[..., 0].T
        tensor([[0.5000, 0.9500, 0.0000, 0.0000],
                [0.5000, 0.9500, 1.3550, 0.7195]])
        >>> tritonsnn.functional.final_state(mem, lengths).flatten()
        tensor([0.9500, 0.7195])
    """
    seq = _checks.time_major_input(seq, "seq")
    initial = _checks.state(initial, seq, "initial")
    return last_steps(seq, _checks.lengths(lengths, seq), initial)


class _AlphaPythonSurrogate(torch.autograd.Function):
    """Alpha with a `custom_surrogate(fn)`: the fused forward, the torch path's backward."""

    @staticmethod
    def forward(x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, spike_dtype, save_dtype, keep_currents,
                lengths, surrogate):
        warn_unfused(surrogate)
        return torch.ops.tritonsnn.alpha_fwd(
            x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, spike_dtype, save_dtype, keep_currents,
            DISABLED.kernel_id, DISABLED.kernel_params(x), None, get_backend(), lengths)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, exc0, inh0, mem0, a, b, tau, threshold, gsf, reset, _, _, _, lengths, surrogate = inputs
        _, exc, inh, mem, exc_acc, inh_acc = output
        if exc_acc.numel():  # the decays' gradients read the currents kept at the accumulation precision
            exc, inh = exc_acc, inh_acc
        ctx.save_for_backward(mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf, lengths)
        ctx.config = (reset, surrogate, x.dtype)
        ctx.mark_non_differentiable(*output[4:])
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad_spk, grad_exc, grad_inh, grad_mem, _grad_exc_kept, _grad_inh_kept):
        mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf, lengths = ctx.saved_tensors
        reset, surrogate, x_dtype = ctx.config
        needs = ctx.needs_input_grad
        if grad_spk is None:
            grad_spk = torch.zeros(mem.shape, dtype=x_dtype, device=mem.device)
        decay_grad = bool(needs[4] or needs[5] or needs[6])
        param_grad = bool(needs[7] or needs[8])
        dx, dexc0, dinh0, da, db, dtau, dthr, dgsf = _alpha_torch.alpha_backward(
            grad_spk, grad_exc, grad_inh, grad_mem, mem, exc, inh, exc0, inh0, mem0, a, b, tau,
            threshold, gsf, reset, custom_grad(surrogate.fn), (), param_grad, decay_grad, lengths)
        if decay_grad:
            da, db, dtau = (ops.to_param_shape(g, p) for g, p in ((da, a), (db, b), (dtau, tau)))
        if param_grad:
            dthr, dgsf = (ops.to_param_shape(g, p) for g, p in ((dthr, threshold), (dgsf, gsf)))
        return dx, dexc0, dinh0, None, da, db, dtau, dthr, dgsf, None, None, None, None, None, None


def _lif(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input, dtypes, surrogate,
         lengths):
    """The fused LIF op with a resolved surrogate, the (spike, save) dtypes and checked lengths.
    Returns (spk, mem_seq, syn_seq)."""
    if not surrogate.fused:
        forward_ad = _forward_ad.active(x, mem0, syn0, alpha, decay, threshold, gsf)
        function = _LIFPythonSurrogateForwardAD if forward_ad else _LIFPythonSurrogate
        spk, mem_seq, _, syn_seq = function.apply(
            x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input, *dtypes, lengths,
            surrogate)
        return spk, mem_seq, syn_seq
    seed = _seed(surrogate, x)
    outputs = torch.ops.tritonsnn.lif_fwd(
        x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input, *dtypes,
        surrogate.kernel_id, surrogate.kernel_params(x), seed, get_backend(), lengths)
    if _forward_ad.active(x, mem0, syn0, alpha, decay, threshold, gsf):
        outputs = _forward_ad.with_lif_tangents(outputs, x, mem0, syn0, alpha, decay, threshold, gsf, reset,
                                                reset_delay, reset_input, surrogate, seed, lengths)
    spk, mem_seq, _, syn_seq = outputs
    return spk, mem_seq, syn_seq


def _seed(surrogate, x):
    """A stochastic surrogate's noise comes from a seed drawn now, from torch's generator (so
    torch.manual_seed reproduces it); None for every other surrogate."""
    return torch.randint(0, 2**31 - 1, (1,), device=x.device) if surrogate.spec.stochastic else None


class _LIFPythonSurrogate(torch.autograd.Function):
    """A neuron with a `custom_surrogate(fn)`: the fused forward, then the backward of the torch
    path with the user's Python gradient (it cannot run inside a kernel)."""

    @staticmethod
    def forward(x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input,
                spike_dtype, save_dtype, lengths, surrogate):
        warn_unfused(surrogate)
        return torch.ops.tritonsnn.lif_fwd(
            x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input,
            spike_dtype, save_dtype, DISABLED.kernel_id, DISABLED.kernel_params(x), None, get_backend(), lengths)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x, mem0, syn0, alpha, decay, threshold, gsf, reset, reset_delay, reset_input, _, _, lengths,
         surrogate) = inputs
        _, mem_seq, h, syn_seq = output
        ctx.save_for_backward(mem_seq, h, syn_seq, mem0, syn0, alpha, decay, threshold, gsf, lengths)
        ctx.config = (reset, reset_delay, reset_input, surrogate, x.dtype)
        ctx.mark_non_differentiable(h)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad_spk, grad_mem, _, grad_syn):
        mem_seq, h, syn_seq, mem0, syn0, alpha, decay, threshold, gsf, lengths = ctx.saved_tensors
        reset, reset_delay, reset_input, surrogate, x_dtype = ctx.config
        needs = ctx.needs_input_grad
        if grad_spk is None:
            grad_spk = torch.zeros(mem_seq.shape, dtype=x_dtype, device=mem_seq.device)
        param_grad = bool(needs[4] or needs[5] or needs[6])
        alpha_grad = bool(needs[3])
        dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf = _lif_torch.lif_backward(
            grad_spk, grad_mem, grad_syn, mem_seq, h, syn_seq, mem0, syn0, alpha, decay, threshold,
            gsf, reset, reset_delay, reset_input, custom_grad(surrogate.fn), (), param_grad, alpha_grad, lengths)
        if alpha_grad:
            dalpha = ops.to_param_shape(dalpha, alpha)
        if param_grad:
            ddecay, dthr, dgsf = (ops.to_param_shape(g, p) for g, p in ((ddecay, decay), (dthr, threshold), (dgsf, gsf)))
        return dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf, None, None, None, None, None, None, None


class _AlphaPythonSurrogateForwardAD(_AlphaPythonSurrogate):
    """`_AlphaPythonSurrogate` with forward-mode AD, used while forward AD records (Dynamo cannot
    trace a custom jvp, so the compiled path keeps the plain class)."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        _AlphaPythonSurrogate.setup_context(ctx, inputs, output)
        x, exc0, inh0, mem0, a, b, tau, threshold, gsf, _, _, _, _, lengths, _ = inputs
        _, exc, inh, mem, exc_acc, inh_acc = output
        if exc_acc.numel():
            exc, inh = exc_acc, inh_acc
        ctx.save_for_forward(mem, exc, inh, exc0, inh0, mem0, a, b, tau, threshold, gsf)
        ctx.lengths = lengths

    @staticmethod
    def jvp(ctx, dx, dexc0, dinh0, _dmem0, da, db, dtau, dthr, dgsf, *_):
        reset, surrogate, x_dtype = ctx.config
        tangents = _forward_ad.alpha_tangents((dx, dexc0, dinh0, da, db, dtau, dthr, dgsf), x_dtype,
                                              *ctx.saved_tensors, (reset, surrogate, None, ctx.lengths))
        return (*tangents, None, None)


class _LIFPythonSurrogateForwardAD(_LIFPythonSurrogate):
    """`_LIFPythonSurrogate` with forward-mode AD (see `_AlphaPythonSurrogateForwardAD`)."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        _LIFPythonSurrogate.setup_context(ctx, inputs, output)
        x, mem0, syn0, alpha, decay, threshold, gsf, *_, lengths, _ = inputs
        _, mem_seq, h, syn_seq = output
        ctx.save_for_forward(mem_seq, h, syn_seq, mem0, syn0, alpha, decay, threshold, gsf)
        ctx.lengths = lengths

    @staticmethod
    def jvp(ctx, dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf, *_):
        reset, reset_delay, reset_input, surrogate, x_dtype = ctx.config
        d_spk, d_mem, d_syn = _forward_ad.lif_tangents(
            (dx, dmem0, dsyn0, dalpha, ddecay, dthr, dgsf), x_dtype, *ctx.saved_tensors,
            (reset, reset_delay, reset_input, surrogate, None, ctx.lengths))
        return d_spk, d_mem, None, d_syn
