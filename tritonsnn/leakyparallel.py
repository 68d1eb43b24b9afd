"""`tritonsnn.LeakyParallel`: snnTorch's leaky neuron as a ReLU RNN over a whole sequence, which runs
on cuDNN's (or the CPU's) ``nn.RNN``: its recurrence is the library's, so there is nothing for a
tritonsnn kernel to fuse beyond the spike at the end."""
from __future__ import annotations

import torch
from torch import nn

from tritonsnn.surrogate import DISABLED, atan, resolve


class LeakyParallel(nn.Module):
    """snnTorch 1.0.0's LeakyParallel: an ``nn.RNN(input_size, hidden_size, nonlinearity="relu")``
    (``self.rnn``, its state_dict keys snnTorch's) over ``x: [T, B, input_size]`` (or unbatched
    ``[T, input_size]``), whose outputs fire::

        U[t] = relu(W_ih x[t] + b_ih + W_hh U[t-1] + b_hh)
        S[t] = H(U[t] - threshold) * graded_spikes_factor

    ``beta`` (clamped to [0, 1]) sets the recurrent weights: one value fills them all, one per
    neuron fills each neuron's row; None keeps the RNN's random ones. With
    ``weight_hh_enable=False`` (the default) they are made diagonal, each neuron decaying by its
    own beta, and with ``learn_beta=True`` they learn, their gradient masked to the diagonal;
    ``learn_beta=False`` freezes them. Returns the spikes.

    Difference from snnTorch 1.0.0: a beta with one value per neuron is used (snnTorch's
    branch for it cannot be reached, so it keeps the random weights).

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.LeakyParallel(input_size=3, hidden_size=2, beta=0.9)
        >>> lif.rnn.weight_hh_l0
        Parameter containing:
        tensor([[0.9000, 0.0000],
                [0.0000, 0.9000]])
        >>> lif(torch.rand(10, 4, 3)).shape
        torch.Size([10, 4, 2])
    """

    # What `tritonsnn.from_snntorch` copies from snnTorch's: the RNN's weights.
    snntorch_layers = ("rnn",)
    derived_from_others: tuple[str, ...] = ()

    def __init__(self, input_size, hidden_size, beta=None, bias=True, threshold=1.0, dropout=0.0, spike_grad=None,
                 surrogate_disable=False, learn_beta=False, learn_threshold=False, graded_spikes_factor=1.0,
                 learn_graded_spikes_factor=False, weight_hh_enable=False, device=None, dtype=None):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity="relu", bias=bias, batch_first=False,
                          dropout=dropout, device=device, dtype=dtype)
        self.hidden_size = hidden_size
        if beta is not None:
            beta = torch.as_tensor(beta).reshape(-1).clamp(0, 1)
            if beta.numel() not in (1, hidden_size):
                raise ValueError(f"LeakyParallel: beta must be one value or one per neuron ({hidden_size}); "
                                 f"got {beta.numel()}")
        self.register_buffer("beta", beta)
        weight = self.rnn.weight_hh_l0
        with torch.no_grad():
            if beta is not None:
                weight.copy_(beta.to(weight).view(-1, 1).expand_as(weight))
        if not weight_hh_enable:
            self.weight_hh_enable()
            if learn_beta:
                weight.register_hook(self.grad_hook)
        weight.requires_grad_(bool(learn_beta))
        for name, value, learnable in (("threshold", threshold, learn_threshold),
                                       ("graded_spikes_factor", graded_spikes_factor, learn_graded_spikes_factor)):
            value = torch.as_tensor(value)
            if learnable:
                setattr(self, name, nn.Parameter(value))
            else:
                self.register_buffer(name, value)
        self.surrogate_disable = surrogate_disable
        self.spike_grad = DISABLED if surrogate_disable else (atan() if spike_grad is None else spike_grad)
        self._resolved_surrogate = resolve(self.spike_grad)

    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        mem = self.rnn(input_)[0]
        return self._resolved_surrogate(mem - self.threshold) * self.graded_spikes_factor

    def weight_hh_enable(self) -> None:
        """Make the recurrent weights diagonal (snnTorch's name for it)."""
        with torch.no_grad():
            self.rnn.weight_hh_l0.mul_(torch.eye(self.hidden_size, device=self.rnn.weight_hh_l0.device))

    def grad_hook(self, grad: torch.Tensor) -> torch.Tensor:
        """The recurrent weights' gradient on their diagonal only."""
        return grad * torch.eye(self.hidden_size, device=grad.device, dtype=grad.dtype)

    @classmethod
    def snntorch_arguments(cls, module: nn.Module) -> dict:
        """What snnTorch's LeakyParallel keeps in its RNN (sizes, bias, dropout, dtype; whether the
        recurrent weights learn, and with a gradient hook whether they are kept diagonal) and its
        default surrogate, its own copy of atan()."""
        rnn, weight = module.rnn, module.rnn.weight_hh_l0
        learnt = weight.requires_grad
        arguments = {"input_size": rnn.input_size, "hidden_size": rnn.hidden_size, "bias": rnn.bias,
                     "dropout": rnn.dropout, "learn_beta": learnt, "device": weight.device, "dtype": weight.dtype,
                     # A learnt diagonal has snnTorch's masking hook; fixed weights are copied as they are.
                     "weight_hh_enable": not (learnt and bool(weight._backward_hooks))}
        if module.spike_grad == type(module).ATan.apply:
            arguments["spike_grad"] = None
        return arguments
