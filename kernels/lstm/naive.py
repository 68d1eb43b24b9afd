"""The spiking LSTMs' oracle: snnTorch's SLSTM and SConv2dLSTM as plain PyTorch time loops,
autograd through every step (`tritonsnn.reference.slstm`, `sconv2dlstm`). The cell state is
`syn`, the hidden state `mem`, which fires and resets. `loop` is the time loop both share; the
modules run it too where SLSTM's kernels do not (`fused.py`)."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from tritonsnn import _checks, _naive
from tritonsnn.kernels.codes import RESET_SUBTRACT, RESET_ZERO
from tritonsnn.surrogate import resolve


def loop(x, cell, syn, mem, state_shape, threshold, gsf, fire, reset, state_quant, lengths, pool=None):
    """`(spk, syn, mem)` sequences: per step, with r = H(mem_{t-1} - threshold) (detached),

        syn_t, h_t = cell(t, x_t, syn_{t-1}, mem_{t-1})          (the LSTM cell)
        subtract: mem_t = h_t - r threshold;  zero: mem_t = h_t - r h_t;  none: mem_t = h_t
        syn_t, mem_t = state_quant(syn_t), state_quant(mem_t)      (where given)
        spk_t = fire(pool(mem_t) - threshold) * gsf

    from `syn`, `mem` (zeros of `state_shape` where None); a sample past its length keeps its
    states and outputs zeros."""
    syn = x.new_zeros(state_shape) if syn is None else syn
    mem = x.new_zeros(state_shape) if mem is None else mem
    spikes, syns, mems = [], [], []
    for t, x_t in enumerate(x):
        r = fire(mem - threshold).detach()
        c, h = cell(t, x_t, syn, mem)
        h = h - r * threshold if reset == RESET_SUBTRACT else h - r * h if reset == RESET_ZERO else h
        if state_quant is not None:
            c, h = state_quant(c), state_quant(h)
        spk = fire((h if pool is None else pool(h)) - threshold) * gsf
        live = _naive.running(lengths, t, h)
        syn, mem = _naive.frozen(live, c, syn), _naive.frozen(live, h, mem)
        spikes.append(_naive.frozen(_naive.running(lengths, t, spk), spk, 0.0))
        syns.append(_naive.frozen(live, c, 0.0))
        mems.append(_naive.frozen(live, h, 0.0))
    return torch.stack(spikes), torch.stack(syns), torch.stack(mems)


def conv_lstm_gates(gates: torch.Tensor, syn):
    """(syn_t, h_t) of SConv2dLSTM's cell from its gate pre-activations, four blocks along dim 1
    in snnTorch's order i, f, o, g (torch's LSTMCell, which SLSTM calls, has i, f, g, o)."""
    a_i, a_f, a_o, a_g = gates.chunk(4, dim=1)
    i, f, o, g = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o), torch.tanh(a_g)
    c = f * syn + i * g
    return c, o * torch.tanh(c)


def slstm(x, lstm_cell, syn=None, mem=None, threshold=1.0, spike_grad=None, reset_mechanism="none",
          graded_spikes_factor=1.0, state_quant=None, lengths=None):
    """`(spk, syn, mem)` sequences of :class:`tritonsnn.SLSTM` over `x: [T, B, input_size]` by a
    naive loop, each step one call of `lstm_cell` (an ``nn.LSTMCell``, the module's
    ``lstm_cell``), as snnTorch's SLSTM steps (see `loop`).

    Example::

        >>> import torch
        >>> cell = torch.nn.LSTMCell(1, 1)
        >>> for p in cell.parameters():
        ...     _ = torch.nn.init.constant_(p, 0.5)
        >>> spk, syn, mem = slstm(torch.full((3, 1, 1), 4.0), cell, threshold=0.8)
        >>> spk.flatten().tolist(), [round(u, 4) for u in mem.flatten().tolist()]
        ([0.0, 1.0, 1.0], [0.7038, 0.9222, 0.9623])
    """
    x = _checks.time_major_input(x)

    def cell(t, x_t, c, h):
        h, c = lstm_cell(x_t, (h, c))
        return c, h
    return loop(x, cell, syn, mem, (x.shape[1], lstm_cell.hidden_size), _checks.parameter(threshold, x, "threshold"),
                _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor"), resolve(spike_grad),
                _checks.reset_code(reset_mechanism), state_quant, _checks.lengths(lengths, x))


def sconv2dlstm(x, conv, syn=None, mem=None, threshold=1.0, spike_grad=None, reset_mechanism="none",
                graded_spikes_factor=1.0, max_pool=0, avg_pool=0, state_quant=None, lengths=None):
    """`(spk, syn, mem)` sequences of :class:`tritonsnn.SConv2dLSTM` over `x: [T, B, C_in, H, W]`
    by a naive loop, each step's gates `conv` (the module's ``conv``: C_in + C_out channels in,
    4 C_out out, in snnTorch's order i, f, o, g) of the input and the hidden state side by side;
    the spikes fire on the hidden state max- or average-pooled by `max_pool` / `avg_pool` where
    one is given (see `loop`)."""
    x = _checks.time_major_input(x)
    def cell(t, x_t, c, h):
        return conv_lstm_gates(conv(torch.cat([x_t, h], dim=1)), c)
    state_shape = (x.shape[1], conv.out_channels // 4, *x.shape[3:])
    return loop(x, cell, syn, mem, state_shape, _checks.parameter(threshold, x, "threshold"),
                _checks.parameter(graded_spikes_factor, x, "graded_spikes_factor"), resolve(spike_grad),
                _checks.reset_code(reset_mechanism), state_quant, _checks.lengths(lengths, x),
                pooling(max_pool, avg_pool))


def pooling(max_pool, avg_pool):
    """SConv2dLSTM's pooling of the hidden state before it fires: None, or the pool."""
    if max_pool:
        return lambda h: F.max_pool2d(h, max_pool)
    if avg_pool:
        return lambda h: F.avg_pool2d(h, avg_pool)
    return None
