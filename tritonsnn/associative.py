"""`tritonsnn.AssociativeLeaky`: snnTorch's associative-memory neuron, a matrix state that decays per
key and is written by outer products, read out through a query projection.

The state recurrence is S_t = S_{t-1} diag(a_t) + v_t k_t^T. snnTorch evaluates it as prefix sums
of the writes divided by the running product of the decays, which underflows as T grows.
tritonsnn scans it in chunks of C steps instead (as chunked linear-attention kernels do): within
a chunk, with L the cumulative sum of log a from the chunk's start,

    S_t = S_0 exp(L_t) + sum_{r <= t} v_r (k_r exp(L_t - L_r))^T

where every exponent is at most 0, so nothing overflows and nothing is divided; each chunk is a
few batched products, and the state passes from chunk to chunk."""
from __future__ import annotations

import math

import torch
from torch import nn

from tritonsnn import _checks
from tritonsnn._neuron import ADDITIONS, DEFAULTS, SpikingNeuron, constructor

CHUNK = 16
"""Steps per chunk of the scan: the intra-chunk products cost C per step, the loop T / C."""


def associative_states(v: torch.Tensor, k: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """States S_t [T, B, d, n] of S_t = S_{t-1} diag(a_t) + v_t k_t^T from S_0 = 0, for v: [T, B, d],
    k and a: [T, B, n] (a > 0), by the chunked scan of the module docstring."""
    T = v.shape[0]
    state = v.new_zeros(v.shape[1], v.shape[2], k.shape[2])
    chunks = []
    causal = torch.ones(CHUNK, CHUNK, dtype=torch.bool, device=v.device).tril()
    for start in range(0, T, CHUNK):
        vc, kc, logs = v[start:start + CHUNK], k[start:start + CHUNK], a[start:start + CHUNK].log().cumsum(0)
        C = vc.shape[0]
        # decay[t, r] = exp(L_t - L_r) for r <= t, 0 above the diagonal (masked before exp: no inf).
        gap = (logs.unsqueeze(1) - logs.unsqueeze(0)).masked_fill(~causal[:C, :C, None, None], -math.inf)
        writes = torch.einsum("rbd,trbn->tbdn", vc, gap.exp() * kc.unsqueeze(0))
        states = state.unsqueeze(0) * logs.exp().unsqueeze(2) + writes
        chunks.append(states)
        state = states[-1]
    return torch.cat(chunks) if chunks else v.new_zeros(0, v.shape[1], v.shape[2], k.shape[2])


class AssociativeLeaky(SpikingNeuron):
    """snnTorch 1.0.0's AssociativeLeaky over ``x: [T, B, in_dim]``: per step, from linear
    projections of the input, v_t (``d_value``), k_t and a_t = sigmoid(.) clamped to >= 1e-8
    (``d_key``), the matrix state ``S_t = S_{t-1} diag(a_t) + v_t k_t^T`` (d_value x d_key,
    from zeros) fires, ``spk_t = H(S_t - threshold)`` (with ``output``, True here; else the
    state itself passes on), and the call returns ``spk_t @ q_t`` flattened, q_t a projection
    to [d_key, d_value] (``use_q_projection``, default True), or the flattened spikes
    ``[T, B, d_value * d_key]``. ``num_spiking_neurons`` must be ``d_value * d_key``;
    ``AssociativeLeaky.from_num_spiking_neurons(in_dim, N)`` takes a square N. Layers
    (``to_v``, ``to_k``, ``to_alpha``, ``to_q``) and state_dict keys are snnTorch's.

    Difference from snnTorch 1.0.0: the state is scanned exactly (chunked, see the module
    docstring). snnTorch divides each write by the running product of the decays plus 1e-8,
    which biases the state once that product nears 1e-8 and stops tracking it once it underflows
    (after a few dozen steps of a ~ 0.5); where the product stays large the two agree to fp32
    rounding.

    Example::

        >>> import torch, tritonsnn as snn
        >>> mem = snn.AssociativeLeaky(in_dim=8, d_value=4, d_key=4, num_spiking_neurons=16)
        >>> mem(torch.rand(20, 2, 8)).shape
        torch.Size([20, 2, 16])
    """

    __signature__ = constructor("in_dim", "d_value", "d_key", "num_spiking_neurons", "use_q_projection",
                                use_q_projection=True, additions=())
    snntorch_layers = ("to_v", "to_k", "to_alpha", "to_q")
    state_names = ()
    eps = 1e-8  # the least decay, as snnTorch clamps it

    def _bind(self, args, kwargs):
        return {**DEFAULTS, **ADDITIONS, **super()._bind(args, kwargs), "output": True}

    def _setup(self, o: dict) -> None:
        for name in ("in_dim", "d_value", "d_key"):
            _checks.positive_int(o[name], name)
        d, n, neurons = o["d_value"], o["d_key"], o["num_spiking_neurons"]
        if neurons is not None and neurons != d * n:
            raise ValueError(f"AssociativeLeaky: num_spiking_neurons={neurons} must equal d_value * d_key = {d * n}")
        super()._setup(o)
        self.d_value, self.d_key, self.num_spiking_neurons = d, n, d * n
        self.use_q_projection = o["use_q_projection"]
        self.to_v = nn.Linear(o["in_dim"], d)
        self.to_k = nn.Linear(o["in_dim"], n)
        self.to_alpha = nn.Linear(o["in_dim"], n)
        self.to_q = nn.Linear(o["in_dim"], d * n) if self.use_q_projection else None

    @classmethod
    def snntorch_arguments(cls, module: nn.Module) -> dict:
        """snnTorch's AssociativeLeaky keeps its input size only in its layers."""
        return {"in_dim": module.to_v.in_features}

    @classmethod
    def from_num_spiking_neurons(cls, in_dim, num_spiking_neurons, use_q_projection=True):
        """d_value = d_key = sqrt(num_spiking_neurons), which must be a perfect square."""
        side = math.isqrt(_checks.positive_int(num_spiking_neurons, "num_spiking_neurons"))
        if side * side != num_spiking_neurons:
            raise ValueError(f"num_spiking_neurons={num_spiking_neurons} must be a perfect square (d_value = d_key)")
        return cls(in_dim, side, side, num_spiking_neurons, use_q_projection)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            raise ValueError("AssociativeLeaky takes a time-major sequence [T, batch, in_dim]")
        T, B, _ = x.shape
        d, n = self.d_value, self.d_key
        states = associative_states(self.to_v(x), self.to_k(x), torch.sigmoid(self.to_alpha(x)).clamp_min(self.eps))
        mem = states.reshape(T, B, d * n)
        if self.state_quant:
            mem = self.state_quant(mem)
        spk = self.fire(mem) if self.output else mem
        if not self.use_q_projection:
            return spk
        q = self.to_q(x).view(T * B, n, d)
        return torch.bmm(spk.reshape(T * B, d, n), q).reshape(T, B, d * d)

    def state_function(self, input_):
        raise NotImplementedError("AssociativeLeaky has no step-by-step state: call it on a whole sequence")

    def extra_repr(self) -> str:
        return f"d_value={self.d_value}, d_key={self.d_key}, use_q_projection={self.use_q_projection}"
