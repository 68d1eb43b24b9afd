"""What `tritonsnn.RLeaky` and `tritonsnn.RSynaptic` share: snnTorch 1.0.0's recurrent term, a
function of the previous step's spikes added to each step's input, and the time loop that feeds
each step's spikes to the next.

The recurrent term is one of snnTorch's three: an ``nn.Linear(F, F)`` with bias
(``linear_features=F``), an ``nn.Conv2d(C, C, kernel_size)`` padded by ``kernel_size // 2``
(``conv2d_channels=C``), or, with ``all_to_all=False``, the spikes scaled elementwise by ``V``.
It is registered where snnTorch registers it (``recurrent.weight``, ``recurrent.bias``, ``V``, and
a learnt V also as ``recurrent.V``), so state_dicts load both ways. At the first step the
previous spikes are zeros, so a Linear or Conv2d term starts as its bias, as in snnTorch.

On the torch path a whole sequence is one autograd Function (`kernels/rlif/torch_path.py`: the
recurrent GEMM or convolution inside its loop, a hand-written backward); on the Triton backend a
whole sequence with a Linear or one-to-one term is one Function around two fused kernels
(`kernels/rlif/fused.py`: the recurrent term inside the kernels' time loops). Anywhere else each
step is the recurrent term and then the LIF family's fused single step on
``input + recurrent(spikes)`` (`RecurrentLIF._run`): the recurrence makes every step's input
depend on the step before, so the sequence is walked step by step. A settled single-step call
(`tritonsnn._step`) is the recurrent term and the LIF family's settled step (`RecurrentStep`).
"""
from __future__ import annotations

import weakref

import torch
from torch import nn

from tritonsnn import _checks, _step
from tritonsnn._neuron import LIF
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.kernels.rlif import fused as rlif_fused
from tritonsnn.kernels.rlif import torch_path as rlif_path

RECURRENT_DEFAULTS = {"V": 1.0, "all_to_all": True, "linear_features": None, "conv2d_channels": None,
                      "kernel_size": None, "learn_recurrent": True}
"""snnTorch 1.0.0's defaults of the recurrent neurons' own constructor options."""


class RecurrentOneToOne(nn.Module):
    """snnTorch's one-to-one recurrent term: the spikes times ``V`` (a number, or one weight per
    neuron). It holds the neuron's V, so a learnt V is also ``recurrent.V`` in the state_dict.

    Example::

        >>> import torch, tritonsnn
        >>> tritonsnn.RLeaky(beta=0.9, all_to_all=False, V=0.5, learn_recurrent=False).recurrent(torch.ones(2))
        tensor([0.5000, 0.5000])
    """

    def __init__(self, V: torch.Tensor):
        super().__init__()
        self.V = V

    def forward(self, spk: torch.Tensor) -> torch.Tensor:
        return spk * self.V


def _check_recurrent_options(name: str, o: dict) -> None:
    """snnTorch's rules for which of all_to_all, linear_features, conv2d_channels and kernel_size
    go together (it raises TypeError for each, and so do we)."""
    linear, conv = o["linear_features"], (o["conv2d_channels"], o["kernel_size"])
    if not o["all_to_all"]:
        if linear or any(conv):
            raise TypeError(f"{name}(all_to_all=False) scales each neuron's own spike by V: linear_features, "
                            "conv2d_channels and kernel_size must not be given")
    elif linear and any(conv):
        raise TypeError(f"{name}: linear_features (a Linear recurrent term) and conv2d_channels/kernel_size "
                        "(a Conv2d one) cannot both be given")
    elif not linear and not all(conv):
        raise TypeError(f"{name}(all_to_all=True) needs linear_features (the number of neurons, for a Linear "
                        "recurrent term), or conv2d_channels and kernel_size both (for a Conv2d one); "
                        "all_to_all=False scales each neuron's own spike by V instead")


def _plain_conv(conv: nn.Conv2d) -> bool:
    """A Conv2d as snnTorch builds it (stride 1, no dilation, one group, zero padding given as
    numbers): what the torch path's Function computes."""
    return (conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str))


class RecurrentStep(_step.Settled):
    """A recurrent neuron's settled single step (`tritonsnn._step`): the recurrent term of the
    previous spikes (the first state), added to the input, then the LIF family's settled step
    (`lif_family.step`) from the other states. It holds its neuron weakly (the neuron holds it)."""

    __slots__ = ("neuron", "inner")

    def __init__(self, neuron, inner):
        super().__init__()
        self.neuron, self.inner = weakref.ref(neuron), inner

    def __call__(self, x_t, starts, parameters):
        spk0, *states = starts
        V = parameters.get("V")
        if V is not None:  # the LIF family's step takes the others (the dict may be kept: not changed)
            parameters = {name: value for name, value in parameters.items() if name != "V"}
        cur = x_t + self.neuron()._recurrent_term(x_t.new_zeros(x_t.shape) if spk0 is None else spk0, V)
        spk, *new = self.inner(cur, states, parameters)
        return (spk, spk, *new)  # the spikes, then every state: the spikes first


class RecurrentLIF(LIF):
    """Base of the recurrent LIF neurons: the spikes are a state (``spk``, first in
    ``state_names``), and each step's input gets the recurrent term of the previous spikes.
    Subclasses define `_lif_parameters` (the LIF family's parameters) and `_cell` (the neuron's
    fused steps on a given input)."""

    takes_inhibition = True  # snnTorch's winner-take-all, run by the oracle's loop (`_run`)

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        name = type(self).__name__
        if o["spike_dtype"] is not None:
            raise ValueError(f"{name}: spike_dtype must be None: the spikes feed the recurrent term, which needs "
                             "them as floating-point values")
        _check_recurrent_options(name, o)
        for option in ("all_to_all", "learn_recurrent", "linear_features", "conv2d_channels", "kernel_size"):
            setattr(self, option, o[option])
        self.reset_delay = o["reset_delay"]
        if not self.all_to_all:
            self._register("V", o["V"], o["learn_recurrent"])
            self.recurrent = RecurrentOneToOne(self.V)
        elif self.linear_features:
            self.recurrent = nn.Linear(self.linear_features, self.linear_features)
        else:
            size = self.kernel_size
            self.padding = (size // 2, size // 2) if isinstance(size, int) else (size[0] // 2, size[1] // 2)
            self.recurrent = nn.Conv2d(self.conv2d_channels, self.conv2d_channels, size, padding=self.padding)
        if not self.learn_recurrent:
            for p in self.recurrent.parameters():
                p.requires_grad_(False)
        self._register_states()
        if not self.all_to_all:
            self.step_inputs = type(self).step_inputs + ("V",)

    @classmethod
    def snntorch_arguments(cls, module: nn.Module) -> dict:
        """Whether snnTorch's `module` learns its recurrent term (its layer's weights, or V)."""
        learnt = (any(p.requires_grad for p in module.recurrent.parameters()) if module.all_to_all
                  else isinstance(module.V, nn.Parameter))
        return {"learn_recurrent": learnt}

    def _recurrent_term(self, spk: torch.Tensor, V: torch.Tensor | None) -> torch.Tensor:
        """The recurrent input of the previous spikes: `spk * V` for the one-to-one term (V checked,
        read from the neuron, which `.to()` moves even where it is a buffer), else the layer's
        (`V` None)."""
        return self.recurrent(spk) if V is None else spk * V

    def _forward_recurrent(self, input_, given: tuple, lengths):
        out = self._forward_states(input_, given, self._run, lengths)
        # The spikes are returned once, not again as the first state.
        return out if isinstance(out, torch.Tensor) else out[1:]

    def _run(self, x: torch.Tensor, spk0, *starts, lengths):
        """`(spk_seq, spk_seq, *state_seqs)` over `x: [T, *neurons]` from the spikes `spk0` and
        the states `starts` (None: zeros): one Function over the whole sequence where the torch
        path's applies (`kernels/rlif/torch_path.py`; snnTorch's own recurrent layers), else one
        fused step at a time; with `lengths`, each step runs the samples whose sequence has not
        ended (`lengths > t`)."""
        parameters = self._lif_parameters(x)
        kind = type(self.recurrent)
        V = self._one_to_one(x)
        if x.shape[0] == 0:
            spk, *sequences = self._cell(x, starts, lengths, parameters)
            return (spk, spk, *sequences)
        if self.state_quant or self.inhibition:  # the plain torch loop (`tritonsnn.reference.rleaky` / `rsynaptic`)
            if lengths is not None:
                option = "state_quant" if self.state_quant else "inhibition"
                raise ValueError(f"{type(self).__name__}: {option} with per-sample lengths is not supported yet")
            spk, *sequences = self._naive(x, lambda s: self._recurrent_term(s, V), spk0, starts)
            return (spk, spk, *sequences)
        starts3 = starts if len(starts) == 2 else (None, *starts)
        if kind in (nn.Linear, RecurrentOneToOne) and rlif_fused.applies(
                x, self.recurrent.weight if V is None else V, self._delayed(), self.save_dtype, self._surrogate()):
            weight, bias = (self.recurrent.weight, self.recurrent.bias) if V is None else (None, None)
            spk, syn, mem = rlif_fused.run(x, spk0, *starts3, weight, bias, V,
                                           parameters.get("alpha"), parameters["decay"], parameters["threshold"],
                                           parameters["gsf"], _checks.reset_code(self.reset_mechanism),
                                           self._surrogate(), lengths)
            return (spk, spk, mem) if syn is None else (spk, spk, syn, mem)
        if ((kind in (nn.Linear, RecurrentOneToOne) or kind is nn.Conv2d and _plain_conv(self.recurrent))
                and rlif_path.applies(x, self._delayed(), self.save_dtype, self._surrogate(), lengths)):
            weight, bias = (self.recurrent.weight, self.recurrent.bias) if V is None else (None, None)
            spk, syn, mem = rlif_path.run(x, spk0, *starts3, weight, bias,
                                          V, parameters.get("alpha"), parameters["decay"], parameters["threshold"],
                                          parameters["gsf"], _checks.reset_code(self.reset_mechanism),
                                          self._surrogate(), lengths,
                                          self.recurrent.padding if kind is nn.Conv2d else None)
            return (spk, spk, mem) if syn is None else (spk, spk, syn, mem)
        spk = x.new_zeros(x.shape[1:]) if spk0 is None else spk0
        states = starts
        steps = []
        for t, x_t in enumerate(x.unbind(0)):
            running = None if lengths is None else (lengths > t).to(lengths.dtype)
            step = self._cell((x_t + self._recurrent_term(spk, V)).unsqueeze(0), states, running, parameters)
            spk, *states = (s.squeeze(0) for s in step)
            steps.append(step)
        spk_seq, *sequences = (torch.cat(seq) for seq in zip(*steps))
        return (spk_seq, spk_seq, *sequences)

    def _step_plan(self, x, dtypes):
        inner = lif_family.step(x, self.state_names[1:], _checks.reset_code(self.reset_mechanism), self._delayed(),
                                True, dtypes, self._surrogate())
        return None if inner is None else RecurrentStep(self, inner)

    def _step_parameters(self, x):
        parameters = self._lif_parameters(x)
        V = self._one_to_one(x)
        if V is not None:
            parameters["V"] = V
        return parameters

    def _one_to_one(self, x: torch.Tensor) -> torch.Tensor | None:
        """V, checked for inputs like `x`, where the recurrent term is the one-to-one one; None
        for a layer (snnTorch's, or one replaced by hand, which is called as it is)."""
        return _checks.parameter(self.V, x, "V") if type(self.recurrent) is RecurrentOneToOne else None

    def _lif_parameters(self, x: torch.Tensor) -> dict:
        """The LIF family's parameters for inputs like `x`, checked (decays clamped)."""
        raise NotImplementedError

    def _delayed(self) -> bool:
        """Whether the reset waits for the next step (snnTorch's reset_delay, as it acts)."""
        return bool(self.reset_delay)

    def _naive(self, x: torch.Tensor, term, spk0, starts: tuple) -> tuple:
        """`(spk, *state sequences)` of the oracle's loop (`kernels/rlif/naive.py`) with the
        neuron's state_quant, `term` the recurrent term of the previous spikes."""
        raise NotImplementedError

    def _cell(self, cur: torch.Tensor, starts: tuple, lengths, parameters: dict) -> tuple:
        """`(spk, *state sequences)` of the neuron's fused steps on the input `cur: [T, *neurons]`."""
        raise NotImplementedError

    def state_function(self, input_: torch.Tensor):
        """snnTorch's ``state_function``: the states after one step of `input_` (its recurrent term
        included) from the stored ones, not stored, without the spikes."""
        states = super().state_function(input_)[1:]
        return states[0] if len(states) == 1 else states
