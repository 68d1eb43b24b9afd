"""snnTorch 1.0.0's per-step building blocks on every neuron: `fire`, `fire_inhibition`,
`mem_reset`, `state_function`, `reset_hidden`, `detach_hidden` and the static helpers `init`,
`detach`, `zeros` (snnTorch's docs list them as `SpikingNeuron` members). The fused forward does
not use them; they are for code written against snnTorch's API, and compute what snnTorch's do.

Deliberate differences: tritonsnn keeps no global list of neurons, so `reset_hidden` and
`detach_hidden` act on the neuron they are called on, and called on the class they raise instead
of acting on every instance; `init` has no list to clear; `zeros` zeroes its tensors in place,
where snnTorch's leaves them unchanged (it rebinds a local name).
"""
from __future__ import annotations

import functools

import torch

from tritonsnn import _naive


class _per_neuron:
    """A method snnTorch also offers on the class, where it acts on snnTorch's global list of
    instances: here it works on a neuron, and on the class it raises naming the alternative."""

    def __init__(self, method, model_wide: str):
        functools.update_wrapper(self, method)
        self.method, self.model_wide = method, model_wide

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, neuron, cls):
        if neuron is not None:
            return self.method.__get__(neuron, cls)

        def refuse(*args, **kwargs):
            raise TypeError(
                f"{cls.__name__}.{self.name}() on the class acts on snnTorch's global list of neurons, which "
                f"tritonsnn does not keep: call it on a neuron (lif.{self.name}()), or "
                f"tritonsnn.utils.{self.model_wide}(net) for every neuron of a model")
        return functools.update_wrapper(refuse, self.method)


def per_neuron(model_wide: str):
    return lambda method: _per_neuron(method, model_wide)


class SnnTorchStepAPI:
    """The members of snnTorch's `SpikingNeuron` that expose one step's pieces (mixed into
    :class:`tritonsnn.SpikingNeuron`).

    Example::

        >>> import torch, tritonsnn as snn
        >>> lif = snn.Leaky(beta=0.5)
        >>> lif.fire(torch.tensor([0.5, 1.5]))
        tensor([0., 1.])
        >>> _ = lif(torch.tensor([2.0, 0.5]))
        >>> lif.state_function(torch.tensor([0.0, 0.0]))   # the next membrane, reset by the last spike
        tensor([0.0000, 0.2500])
    """

    def fire(self, mem: torch.Tensor) -> torch.Tensor:
        """Spikes where `mem` exceeds the threshold, through the neuron's surrogate gradient, times
        graded_spikes_factor."""
        return self._surrogate()(mem - self.threshold) * self.graded_spikes_factor

    def fire_inhibition(self, batch_size: int, mem: torch.Tensor) -> torch.Tensor:
        """Spikes of a dense layer `mem: [batch_size, neurons]` where only each sample's largest
        membrane may fire (winner-take-all); the others are inhibited for this step."""
        if mem.dim() != 2 or mem.shape[0] != batch_size:
            raise ValueError(f"fire_inhibition needs mem of shape [batch_size={batch_size}, neurons], "
                             f"got {tuple(mem.shape)}")
        return _naive.fire(self._surrogate(), mem, self.threshold, self.graded_spikes_factor, True)

    def mem_reset(self, mem: torch.Tensor) -> torch.Tensor:
        """The reset signal of a membrane, detached: 1 where `mem` exceeds the threshold."""
        return self._surrogate()(mem - self.threshold).clone().detach()

    def state_function(self, input_: torch.Tensor):
        """The states after one step of `input_` from the stored ones (zeros where empty), reset
        by the stored membrane's spike, without storing them: one state as a tensor, several as a
        tuple in ``state_names`` order (snnTorch's ``state_function``, which its forward calls after
        setting ``self.reset``). With ``reset_delay=False`` the step's own reset is included, as the
        forward computes it."""
        x = input_.unsqueeze(0)
        starts = [self._state_or_none(getattr(self, name), x.shape[1:], name) for name in self.state_names]
        _, *sequences = self._run(x, *starts, lengths=None)
        states = tuple(seq.squeeze(0) for seq in sequences)
        return states[0] if len(states) == 1 else states

    @per_neuron("reset")
    def reset_hidden(self) -> None:
        """Set the stored states to zeros of their shapes, with no graph behind them (a state a
        neuron keeps as None, as DeltaLeaky does after `reset_mem`, stays None)."""
        for name in self.state_names:
            if getattr(self, name) is not None:
                setattr(self, name, torch.zeros_like(getattr(self, name)))

    @per_neuron("detach")
    def detach_hidden(self) -> None:
        """Cut the autograd graph behind the stored states, keeping their values: truncated
        backpropagation through time. With ``init_hidden=True`` (or in single-step mode) the
        states carry over between calls; detaching them between chunks of a long sequence makes
        the backward of each chunk stop at its start, so activation memory follows the chunk
        length, not the sequence length. :func:`tritonsnn.utils.detach` does this for every
        neuron of a model.

        Example::

            >>> import torch, tritonsnn
            >>> lif = tritonsnn.Leaky(beta=0.9, init_hidden=True, step_mode="multi")
            >>> x = torch.rand(100, 2, 3, requires_grad=True)
            >>> for chunk in x.split(25):      # four chunks of 25 steps, state carried over
            ...     lif.detach_hidden()
            ...     lif(chunk).sum().backward()
            >>> lif.mem.requires_grad
            True
        """
        for name in self.state_names:
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).detach())

    @classmethod
    def init(cls) -> None:
        """snnTorch's call to clear its global list of neurons; tritonsnn keeps none, so there is
        nothing to clear."""

    @staticmethod
    def detach(*states: torch.Tensor) -> None:
        """Detach each tensor from its graph, in place."""
        for state in states:
            state.detach_()

    @staticmethod
    def zeros(*states: torch.Tensor) -> None:
        """Detach each tensor and set it to zero, in place."""
        for state in states:
            state.detach_().zero_()
