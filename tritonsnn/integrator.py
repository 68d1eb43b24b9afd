"""`tritonsnn.Integrator`: NIR's integrator node (I) as a stepped module, the readout
`import_from_nir` builds for a model that sums its spikes over time."""
from __future__ import annotations

import torch
from torch import nn


class Integrator(nn.Module):
    """A running sum, one step per call: ``v[t] = v[t-1] + gain * x[t]``, returning ``v[t]``
    (NIR's ``I``, dv/dt = r I, stepped at dt: gain = r dt). It keeps ``v`` between calls, as an
    ``init_hidden=True`` neuron keeps its states: :func:`tritonsnn.utils.reset` starts it again
    from zero and :func:`tritonsnn.utils.detach` cuts the graph behind it.

    After T steps it holds what a multi-step model's ``spk.sum(0)`` computes (with gain 1), which
    is how `export_to_nir` writes such a sum.

    Example::

        >>> import torch, tritonsnn as snn
        >>> count = snn.Integrator()
        >>> [count(torch.tensor([1.0, 0.0])).tolist() for _ in range(3)][-1]
        [3.0, 0.0]
        >>> snn.utils.reset(count)
        >>> count(torch.tensor([1.0, 1.0])).tolist()
        [1.0, 1.0]
    """

    def __init__(self, gain=1.0):
        super().__init__()
        self.register_buffer("gain", torch.as_tensor(gain, dtype=torch.float32))
        self.register_buffer("v", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = x * self.gain
        self.v = step if self.v.numel() == 0 else self.v + step
        return self.v

    def reset_mem(self) -> torch.Tensor:
        """Forget the sum: the next call starts from zero. Returns the (empty) state."""
        self.v = torch.zeros(0, dtype=self.v.dtype, device=self.v.device)
        return self.v

    def detach_hidden(self) -> None:
        """Keep the sum, without the graph behind it."""
        self.v = self.v.detach()
