"""`tritonsnn.Stein`: the seed document's name for snnTorch's Synaptic neuron."""
from __future__ import annotations

from tritonsnn.surrogate import LIFHeaviside, resolve


class Stein:
    """snnTorch 0.x's `Stein` neuron, today's `Synaptic` (two states, syn and mem), with the seed
    document's default surrogate `LIF.Heaviside`.

    The fused Synaptic neuron is not implemented yet (issue #4: "Synaptic (Stein), Alpha and
    Lapicque fused"): constructing one validates its surrogate — an unknown one is a TypeError, as
    for every neuron — and then raises NotImplementedError.
    """

    def __init__(self, alpha, beta, threshold=1.0, spike_grad=None, **kwargs):
        resolve(LIFHeaviside.apply if spike_grad is None else spike_grad)
        raise NotImplementedError(
            "tritonsnn.Stein is snnTorch's Synaptic neuron, which tritonsnn does not fuse yet "
            "(the Synaptic/Stein neuron is a later issue); its surrogate argument was accepted. "
            "Use tritonsnn.Leaky meanwhile, or snntorch.Synaptic."
        )
