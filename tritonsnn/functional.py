"""Functional forms of the fused neurons: whole sequences in, whole sequences out.

Inputs are time-major, `x: [T, *neurons]`; every tensor argument that requires grad receives its
gradient. The backend (Triton kernels or the vectorised torch path) follows
:func:`tritonsnn.set_backend`.
"""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._ends import last_steps, past_end
from tritonsnn.kernels.alpha import dispatch as alpha_family
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.surrogate import resolve

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
    spk, mem_seq, _ = lif_family.run(x, mem, None, None, beta.clamp(0, 1), threshold, gsf, reset,
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
    spk, mem_seq, syn_seq = lif_family.run(x, mem, syn, alpha.clamp(0, 1), beta.clamp(0, 1), threshold, gsf,
                                           reset, bool(reset_delay), True, dtypes, surrogate,
                                           _checks.lengths(lengths, x))
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
    spk, mem_seq, _ = lif_family.run((x * scale).to(x.dtype), mem, None, None, decay, threshold, gsf, reset,
                                     True, True, dtypes, surrogate, lengths)
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
    return alpha_family.run(x, syn_exc, syn_inh, mem, a, b, tau, threshold, gsf, reset, dtypes, surrogate,
                            _checks.lengths(lengths, x))


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

