"""Input validation shared by the functional API and the neuron modules: every bad input is an
exception that names the argument and the problem, before any kernel runs."""
from __future__ import annotations

import math
import numbers
import operator

import torch
from torch._subclasses.fake_tensor import is_fake

from tritonsnn._dtypes import acc_dtype, as_dtype
from tritonsnn.backend import values_readable
from tritonsnn.kernels.codes import RESET_CODES


def reset_code(reset_mechanism: str) -> int:
    """snnTorch's reset_mechanism name as the kernels' integer code."""
    if reset_mechanism not in RESET_CODES:
        raise ValueError(
            f"reset_mechanism must be one of {', '.join(repr(k) for k in RESET_CODES)}, "
            f"got {reset_mechanism!r}"
        )
    return RESET_CODES[reset_mechanism]


def time_major_input(x: object, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 0:
        raise ValueError(
            f"{name} must be time-major [T, *neurons], but it is 0-d: it has no time dimension"
        )
    return x


def broadcast_state(value: torch.Tensor, neurons: torch.Size) -> torch.Tensor | None:
    """`value` as a state of shape `neurons`: itself if it has that shape; if it broadcasts to it
    (after dropping leading size-1 dims, so snnTorch's `torch.zeros(1)` serves a 0-d input), the
    broadcast copy, through which gradients reach `value`; None if it does not."""
    if value.shape == neurons:
        return value
    squeezed = value
    while squeezed.dim() > len(neurons) and squeezed.shape[0] == 1:
        squeezed = squeezed.squeeze(0)
    return squeezed.expand(neurons).contiguous() if broadcasts_to(squeezed.shape, neurons) else None


def broadcasts_to(shape: torch.Size, neurons: torch.Size) -> bool:
    """Whether `shape` broadcasts to `neurons` without enlarging it (torch.broadcast_shapes'
    rule, without its cost, which a single time step notices)."""
    return len(shape) <= len(neurons) and all(s == 1 or s == n for s, n in zip(reversed(shape), reversed(neurons)))


def state(value: object, x: torch.Tensor, name: str) -> torch.Tensor | None:
    """An initial state: None, or a floating tensor on x's device of x.shape[1:] or one that
    broadcasts to it (see `broadcast_state`)."""
    if value is None:
        return None
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    broadcast = broadcast_state(value, x.shape[1:])
    if broadcast is None:
        raise ValueError(
            f"{name} has shape {tuple(value.shape)} but the input's neuron shape (x.shape[1:]) is "
            f"{tuple(x.shape[1:])}; a state must have that shape or broadcast to it"
        )
    same_device(value, x, name)
    return usable(broadcast)


def usable(t: torch.Tensor) -> torch.Tensor:
    """`t` as autograd can use it. Outside inference mode, a tensor made under
    torch.inference_mode() (a state carried over from an inference call, a parameter created
    there) cannot be saved for the backward: it is used by value, through a normal clone (which
    still passes gradients back to it)."""
    if not torch.compiler.is_compiling() and t.is_inference() and not torch.is_inference_mode_enabled():
        return t.clone()
    return t


def host_values(value: object) -> torch.Tensor | None:
    """A constructor argument's values on the CPU, for a one-off check when a module is built:
    numbers as CPU tensors, tensors copied from their device (a CUDA tensor is read once, here).
    None where the values cannot be read: a meta tensor (a model built under
    torch.device("meta"), whose values come later from load_state_dict) or a fake one."""
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta" or is_fake(value) or torch.compiler.is_compiling():
            return None
        return value.detach().cpu()
    return torch.as_tensor(value, device="cpu")


def same_device(t: torch.Tensor, x: torch.Tensor, name: str) -> None:
    if t.device != x.device:
        raise ValueError(f"{name} is on {t.device} but the input is on {x.device}; move them to one device")


def parameter(value: object, x: torch.Tensor, name: str) -> torch.Tensor:
    """beta / threshold / graded_spikes_factor: a number, a 0-d tensor, or a tensor that broadcasts
    to the neuron shape x.shape[1:] without enlarging it. Numbers become fp32 tensors (fp64 for an
    fp64 input), and so do 0-d floating tensors, through a differentiable cast; other tensors are
    used as they are. Either way their gradients reach the caller."""
    if not isinstance(value, torch.Tensor):  # tested first: a module's parameters are tensors
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return torch.tensor(float(value), dtype=acc_dtype(x.dtype), device=x.device)
        raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{name} must be a real number tensor, got dtype {value.dtype}")
    same_device(value, x, name)
    value = usable(value)
    if value.dim() == 0 and value.is_floating_point():
        # As in PyTorch's type promotion (which snnTorch follows), a 0-d tensor does not raise
        # the input's precision: a float64 beta with fp32 input computes in fp32. The cast is
        # differentiable, so a learnable parameter still gets its gradient, in its own dtype.
        return as_dtype(value, acc_dtype(x.dtype))
    if value.dtype == torch.float64 and x.dtype != torch.float64:
        raise TypeError(
            f"{name} is a float64 tensor of shape {tuple(value.shape)} but the input is {x.dtype}: "
            f"a per-neuron float64 {name} would make snnTorch compute everything in float64, while "
            f"the fused neurons compute in the input's precision (fp32 for {x.dtype}) and would "
            f"silently round it; convert one of them (e.g. {name}.float(), or x.double())")
    neurons = x.shape[1:]
    if not broadcasts_to(value.shape, neurons):
        raise ValueError(
            f"{name} has shape {tuple(value.shape)}, which does not broadcast to the neuron shape "
            f"{tuple(neurons)} (x.shape[1:]); use a scalar or a per-neuron shape such as "
            f"{tuple(neurons[-1:])}"
        )
    if not value.is_floating_point():
        value = value.to(torch.float32)
    return value


def lengths(value: object, x: torch.Tensor) -> torch.Tensor | None:
    """Per-sample sequence lengths for `x: [T, B, *neurons]`: None, or an integer tensor of shape
    `[B]` with values in [0, T], on x's device or the CPU. The values are checked where readable
    (CPU tensors in eager mode); a CUDA tensor is not read (that would stall the device), and
    the kernels then treat values below 0 as 0 and above T as T. Returned as contiguous int64 on
    x's device."""
    if value is None:
        return None
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"lengths must be an integer torch.Tensor of shape [B] or None, got {type(value).__name__}")
    if value.dtype == torch.bool or value.is_floating_point() or value.is_complex():
        raise TypeError(f"lengths must be an integer tensor (one step count per sample), got dtype {value.dtype}")
    if x.dim() < 2:
        raise ValueError(
            f"lengths needs a batch dimension: the input must be [T, B, *neurons], got shape {tuple(x.shape)}")
    if value.shape != x.shape[1:2]:
        raise ValueError(
            f"lengths has shape {tuple(value.shape)} but the input has batch size {x.shape[1]} (its dim 1): "
            f"it needs one length per sample, shape ({x.shape[1]},)")
    if value.device.type != "cpu":
        same_device(value, x, "lengths")
    T = x.shape[0]
    if values_readable(value) and value.numel() and not (0 <= int(value.min()) and int(value.max()) <= T):
        raise ValueError(
            f"lengths must lie in [0, T] = [0, {T}] (the input has T = {T} steps), got values from "
            f"{int(value.min())} to {int(value.max())}")
    return value.to(device=x.device, dtype=torch.int64).contiguous()


def leaky_inputs(x, mem, beta, threshold, graded_spikes_factor, reset_mechanism):
    """Validate a Leaky call. Returns (x, mem, beta, threshold, gsf, reset code), parameters as
    tensors."""
    x = time_major_input(x)
    return (
        x,
        state(mem, x, "mem"),
        parameter(beta, x, "beta"),
        parameter(threshold, x, "threshold"),
        parameter(graded_spikes_factor, x, "graded_spikes_factor"),
        reset_code(reset_mechanism),
    )


def lapicque_circuit(beta, R, C, time_step, x):
    """The membrane decay and input scale of Lapicque's RC circuit, from beta, or R and C, or beta
    with one of them (snnTorch's rules). Returns (decay, scale) as tensors, differentiable in
    whichever of beta, R, C require grad."""
    if isinstance(time_step, torch.Tensor):
        if time_step.numel() != 1:
            raise ValueError(f"time_step must be a single value, got shape {tuple(time_step.shape)}")
        if values_readable(time_step):
            positive_time_step(float(time_step))
        if time_step.is_floating_point():
            time_step = usable(time_step).to(acc_dtype(x.dtype))
    else:
        positive_time_step(time_step)
    beta = None if beta is None or beta is False else parameter(beta, x, "beta")
    R = None if R is None or R is False else parameter(R, x, "R")
    C = None if C is None or C is False else parameter(C, x, "C")
    for name, value in (("beta", beta), ("R", R), ("C", C)):
        if value is not None and values_readable(value) and not _all_positive(value):
            raise ValueError(f"Lapicque's {name} must be positive")
    if beta is not None and values_readable(beta) and bool((beta >= 1).any()):
        raise ValueError("Lapicque's beta must be below 1 (the circuit's R C = dt / ln(1/beta))")
    dt = time_step
    if beta is None:
        if R is None or C is None:
            raise ValueError("Lapicque needs beta, or both R and C, or beta with one of R and C")
        return 1 - dt / (R * C), dt / C
    if R is not None and C is not None:
        raise ValueError("Lapicque takes beta, or R and C, or beta with one of them, not all three")
    log_inv_beta = -torch.log(beta)
    if C is not None:
        return 1 - log_inv_beta, dt / C
    return 1 - log_inv_beta, (1.0 if R is None else R) * log_inv_beta


def _all_positive(value: torch.Tensor) -> bool:
    """`(value > 0).all()` as a bool; one read for a single value (NaN is not positive either way)."""
    return value.item() > 0 if value.numel() == 1 else bool((value > 0).all())


def positive_int(value, name: str) -> int:
    """`value` as a Python int, or a clear error naming `name` if it is not a whole number >= 1
    (a bool is refused; integer-likes such as numpy ints are accepted)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive integer, got the bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})") from None
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, got {number}")
    return number


def positive_time_step(value: object) -> None:
    """Lapicque's time step: a finite positive number (NaN passes a plain `<= 0` test)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"time_step must be a number or a one-element tensor, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"time_step must be a finite positive number, got {value!r}")


def alpha_decays(alpha_clamped: torch.Tensor, beta: torch.Tensor) -> None:
    """snnTorch's condition on the Alpha neuron's decays: clamp(alpha) > beta (which also rules
    out beta = 1, where tau = ln a / (ln b - ln a) + 1 is undefined)."""
    if values_readable(alpha_clamped) and values_readable(beta) and bool((alpha_clamped <= beta).any()):
        raise ValueError("alpha must be greater than beta (and beta below 1).")


BINARY_SPIKE_DTYPES = (torch.bool, torch.uint8)


def storage_options(spike_dtype, save_dtype) -> None:
    """The storage options as given (before an input fixes the defaults): spike_dtype None,
    torch.bool or torch.uint8 (or, in a call, the input's own dtype); save_dtype None or floating."""
    if spike_dtype is not None and not isinstance(spike_dtype, torch.dtype):
        raise ValueError(f"spike_dtype must be None, torch.bool or torch.uint8, got {spike_dtype}")
    if save_dtype is not None and not (isinstance(save_dtype, torch.dtype) and save_dtype.is_floating_point):
        raise ValueError(f"save_dtype must be None or a floating-point torch.dtype, got {save_dtype}")


def storage_dtypes(x: torch.Tensor, spike_dtype, save_dtype, gsf: torch.Tensor,
                   differentiable: tuple) -> tuple[torch.dtype, torch.dtype]:
    """The dtypes of the spikes and of the state sequences (membrane and currents, returned and
    saved for the backward). Defaults: x's dtype for both.

    `spike_dtype` may be torch.bool or torch.uint8 for binary spikes (one byte each, or less for
    the consumer): such spikes carry no gradient, so they are refused while any tensor in
    `differentiable` requires grad, and graded spikes (graded_spikes_factor != 1) cannot be
    binary. `save_dtype` may be any floating dtype, e.g. torch.bfloat16 under fp32 inputs: the
    math stays in fp32, and each stored membrane is rounded on the side of the threshold the
    forward decided (`tritonsnn._rounding`)."""
    storage_options(spike_dtype, save_dtype)
    spike_dtype = x.dtype if spike_dtype is None else spike_dtype
    if spike_dtype != x.dtype and spike_dtype not in BINARY_SPIKE_DTYPES:
        raise ValueError(
            f"spike_dtype must be None (the input's dtype, {x.dtype}), torch.bool or torch.uint8, "
            f"got {spike_dtype}")
    if spike_dtype in BINARY_SPIKE_DTYPES:
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in differentiable):
            raise ValueError(
                f"spike_dtype={spike_dtype} spikes are not differentiable, so no surrogate gradient "
                "could flow through them: use binary spikes under torch.no_grad() or "
                "torch.inference_mode(), and keep the default spike dtype for training")
        # A CUDA graded_spikes_factor is not read (it would stall the device): binary spikes are
        # the fire bits whatever it holds, as documented.
        if values_readable(gsf) and bool((gsf != 1).any()):
            raise ValueError(f"spike_dtype={spike_dtype} stores 0/1 spikes; graded_spikes_factor must be 1")
    return spike_dtype, x.dtype if save_dtype is None else save_dtype
