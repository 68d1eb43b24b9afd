"""AssociativeLeaky's oracle: its matrix state as a plain PyTorch loop over the steps, autograd
through every step (`tritonsnn.reference.associative_leaky`)."""
from __future__ import annotations

import torch

from tritonsnn.surrogate import resolve


def associative_leaky(x, to_v, to_k, to_alpha, to_q=None, threshold=1.0, spike_grad=None, output=True,
                      graded_spikes_factor=1.0, eps=1e-8):
    """What :class:`tritonsnn.AssociativeLeaky` returns for `x: [T, B, in_dim]`, from its layers
    (`to_q` None: no readout), by the loop S_t = S_{t-1} diag(a_t) + v_t k_t^T from zeros, with
    a_t = max(sigmoid(to_alpha(x_t)), eps); the state fires (with `output`), and the readout is
    the spikes (or the state) times q_t.

    Example::

        >>> import torch
        >>> one = torch.nn.Linear(1, 1)
        >>> for p in one.parameters():
        ...     _ = torch.nn.init.constant_(p, 0.5)
        >>> states = associative_leaky(torch.ones(3, 1, 1), one, one, one, output=False)
        >>> [round(s, 4) for s in states.flatten().tolist()]
        [1.0, 1.7311, 2.2655]
    """
    fire = resolve(spike_grad)
    v, k, a = to_v(x), to_k(x), torch.sigmoid(to_alpha(x)).clamp_min(eps)
    state = x.new_zeros(x.shape[1], v.shape[2], k.shape[2])
    outputs = []
    for v_t, k_t, a_t in zip(v, k, a):
        state = state * a_t.unsqueeze(1) + v_t.unsqueeze(2) * k_t.unsqueeze(1)
        out = fire(state - threshold) * graded_spikes_factor if output else state
        outputs.append(out.flatten(1))
    y = torch.stack(outputs)
    if to_q is None:
        return y
    T, B = y.shape[:2]
    d, n = v.shape[2], k.shape[2]
    return torch.bmm(y.reshape(T * B, d, n), to_q(x).view(T * B, n, d)).reshape(T, B, d * d)
