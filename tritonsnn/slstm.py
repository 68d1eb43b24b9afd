"""`tritonsnn.SLSTM` and `tritonsnn.SConv2dLSTM`: snnTorch's spiking LSTMs, an LSTM cell (dense, or
convolutional) whose hidden state fires and resets. On the Triton backend an fp32 SLSTM runs
fused (`tritonsnn.kernels.lstm.fused`: the recurrent product inside one time loop); otherwise
they run as torch code (`tritonsnn.kernels.lstm.naive.loop`): an LSTMCell call per step, and for
SConv2dLSTM the input's half of the convolution one call for every step at once."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tritonsnn import _checks
from tritonsnn._neuron import SpikingNeuron, constructor
from tritonsnn.kernels.lstm import fused as slstm_fused
from tritonsnn.kernels.lstm import naive


class _SpikingLSTM(SpikingNeuron):
    """What SLSTM and SConv2dLSTM share: the states (``syn`` the cell state, ``mem`` the hidden
    state), their calls and the time loop; each defines its cell (`_cell`) and state shape."""

    state_names = ("syn", "mem")
    # snnTorch's spiking LSTMs take no graded spikes; tritonsnn's storage options do not apply.
    FIXED = {"graded_spikes_factor": 1.0, "learn_graded_spikes_factor": False, "spike_dtype": None,
             "save_dtype": None}

    def _bind(self, args, kwargs):
        return {**super()._bind(args, kwargs), **self.FIXED}

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self._register_states()

    def forward(self, input_: torch.Tensor, syn: torch.Tensor | None = None, mem: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None):
        return self._checked_forward(input_, (syn, mem), self._run, lengths)

    def _run(self, x, syn0, mem0, lengths):
        self._check_input(x)
        return naive.loop(x, self._cell(x), syn0, mem0, self._state_shape(x.shape[1:]), self.threshold,
                          self.graded_spikes_factor, self._surrogate(), _checks.reset_code(self.reset_mechanism),
                          self.state_quant or None, lengths, self._pool())

    def _pool(self):
        return None

    def state_function(self, input_: torch.Tensor):
        raise NotImplementedError(f"{type(self).__name__}'s next states come from a call: the module steps "
                                  "its LSTM cell inside forward")


class SLSTM(_SpikingLSTM):
    """snnTorch 1.0.0's SLSTM: an ``nn.LSTMCell(input_size, hidden_size)`` (``self.lstm_cell``, its
    state_dict keys snnTorch's) whose hidden state is the membrane. Per step, with
    r = H(mem[t-1] - threshold) (detached)::

        syn[t], h[t] = LSTMCell(x[t], (mem[t-1], syn[t-1]))
        subtract: mem[t] = h[t] - r threshold;  zero: mem[t] = h[t] - r h[t];  none: mem[t] = h[t]
        spk[t] = H(mem[t] - threshold)

    Calls: ``spk, syn, mem = slstm(x_t, syn, mem)`` with ``x_t: [B, input_size]`` (states
    ``[B, hidden_size]``; ``init_slstm()`` gives empty ones: zeros), or with
    ``step_mode="multi"`` ``spk_seq, syn_seq, mem_seq = slstm(x_seq, syn0, mem0)`` over
    ``[T, B, input_size]`` (fused on the Triton backend, see the module docstring); ``init_hidden``, ``output``,
    ``state_quant`` (both states) and per-sample ``lengths`` as for :class:`tritonsnn.Leaky`;
    ``reset_mechanism`` defaults to "none", as in snnTorch.

    Differences from snnTorch 1.0.0: its SLSTM compares the stored states' shape with the
    input's, so with ``input_size != hidden_size`` it replaces them by zeros at every step and
    forgets everything; tritonsnn carries them. A changed ``reset_mechanism`` takes effect
    (snnTorch keeps the one it was built with).

    Example::

        >>> import torch, tritonsnn as snn
        >>> slstm = snn.SLSTM(input_size=3, hidden_size=2, threshold=0.1)
        >>> syn, mem = slstm.init_slstm()
        >>> for x_t in torch.rand(5, 4, 3):
        ...     spk, syn, mem = slstm(x_t, syn, mem)
        >>> spk.shape, mem.shape
        (torch.Size([4, 2]), torch.Size([4, 2]))
    """

    __signature__ = constructor("input_size", "hidden_size", "bias", "threshold", "spike_grad", "surrogate_disable",
                                "init_hidden", "inhibition", "learn_threshold", "reset_mechanism", "state_quant",
                                "output", bias=True, reset_mechanism="none", additions=("step_mode",))
    snntorch_layers = ("lstm_cell",)

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self.input_size = _checks.positive_int(o["input_size"], "input_size")
        self.hidden_size = _checks.positive_int(o["hidden_size"], "hidden_size")
        self.bias = o["bias"]
        self.lstm_cell = nn.LSTMCell(self.input_size, self.hidden_size, bias=self.bias)

    def init_slstm(self):
        """snnTorch's name for :meth:`reset_mem`: returns the (empty) ``(syn, mem)``."""
        return self.reset_mem()

    def _state_shape(self, x_t_shape):
        return torch.Size((x_t_shape[0], self.hidden_size))

    def _check_input(self, x):
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"SLSTM takes steps of shape [batch, input_size={self.input_size}]; got "
                             f"{tuple(x.shape[1:])}")

    def _run(self, x, syn0, mem0, lengths):
        surrogate = self._surrogate()
        if slstm_fused.applies(x, self.lstm_cell, lengths, self.state_quant, surrogate):
            self._check_input(x)
            return slstm_fused.run(x, self.lstm_cell, syn0, mem0, self.threshold, self.graded_spikes_factor,
                                   _checks.reset_code(self.reset_mechanism), surrogate)
        return super()._run(x, syn0, mem0, lengths)

    def _cell(self, x):
        # One LSTMCell call per step: on the CPU ATen's cell beats the same step split into a
        # GEMM over every step's input and per-step ops (101 against 159 ms forward+backward for
        # [100, 32, 128], 2 cores).
        def step(t, x_t, syn, mem):
            mem, syn = self.lstm_cell(x_t, (mem, syn))
            return syn, mem
        return step


class SConv2dLSTM(_SpikingLSTM):
    """snnTorch 1.0.0's SConv2dLSTM: a convolutional LSTM cell whose hidden state is the membrane.
    One ``nn.Conv2d(in_channels + out_channels, 4 out_channels, kernel_size, padding=kernel_size
    // 2)`` (``self.conv``) of the input and the hidden state side by side gives the gates i, f,
    o, g; the states are ``[B, out_channels, H, W]``, and the spikes fire on the hidden state,
    max- or average-pooled first by ``max_pool`` / ``avg_pool`` (at most one). Resets, calls
    and options as for :class:`SLSTM` (``init_sconv2dlstm()``; steps ``[B, in_channels, H, W]``;
    ``step_mode="multi"`` takes ``[T, B, in_channels, H, W]``, the input's half of the
    convolution one call for all T).

    Difference from snnTorch 1.0.0: a changed ``reset_mechanism`` takes effect.

    Example::

        >>> import torch, tritonsnn as snn
        >>> lstm = snn.SConv2dLSTM(in_channels=1, out_channels=4, kernel_size=3, max_pool=2)
        >>> syn, mem = lstm.init_sconv2dlstm()
        >>> spk, syn, mem = lstm(torch.rand(2, 1, 8, 8), syn, mem)
        >>> spk.shape, mem.shape
        (torch.Size([2, 4, 4, 4]), torch.Size([2, 4, 8, 8]))
    """

    __signature__ = constructor("in_channels", "out_channels", "kernel_size", "bias", "max_pool", "avg_pool",
                                "threshold", "spike_grad", "surrogate_disable", "init_hidden", "inhibition",
                                "learn_threshold", "reset_mechanism", "state_quant", "output", bias=True, max_pool=0,
                                avg_pool=0, reset_mechanism="none", additions=("step_mode",))
    snntorch_layers = ("conv",)

    def _setup(self, o: dict) -> None:
        if o["max_pool"] and o["avg_pool"]:
            raise ValueError("SConv2dLSTM takes one of max_pool and avg_pool, not both")
        super()._setup(o)
        self.in_channels = _checks.positive_int(o["in_channels"], "in_channels")
        self.out_channels = _checks.positive_int(o["out_channels"], "out_channels")
        self.kernel_size, self.max_pool, self.avg_pool, self.bias = (o["kernel_size"], o["max_pool"], o["avg_pool"],
                                                                     o["bias"])
        size = (self.kernel_size,) * 2 if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        self.padding = (size[0] // 2, size[1] // 2)
        self.conv = nn.Conv2d(self.in_channels + self.out_channels, 4 * self.out_channels, self.kernel_size,
                              padding=self.padding, bias=self.bias)

    def init_sconv2dlstm(self):
        """snnTorch's name for :meth:`reset_mem`: returns the (empty) ``(syn, mem)``."""
        return self.reset_mem()

    def _state_shape(self, x_t_shape):
        return torch.Size((x_t_shape[0], self.out_channels, *x_t_shape[2:]))

    def _check_input(self, x):
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ValueError(f"SConv2dLSTM takes steps of shape [batch, in_channels={self.in_channels}, H, W]; got "
                             f"{tuple(x.shape[1:])}")

    def _pool(self):
        return naive.pooling(self.max_pool, self.avg_pool)

    def _cell(self, x):
        weight = self.conv.weight
        inputs, hidden = weight[:, :self.in_channels], weight[:, self.in_channels:]
        # The input's half of every step's convolution, as one call over T * B images.
        x_gates = F.conv2d(x.flatten(0, 1), inputs, self.conv.bias, padding=self.padding)
        x_gates = x_gates.view(*x.shape[:2], *x_gates.shape[1:])

        def step(t, x_t, syn, mem):
            return naive.conv_lstm_gates(x_gates[t] + F.conv2d(mem, hidden, padding=self.padding), syn)
        return step
