"""The built-in surrogates: snnTorch 1.0.0's, SpikingJelly 2.0's (under their names), snnTorch 0.x's
LIF.Heaviside, and the disabled one; each a torch twin (`twins.py`) and a Triton gradient
(`tritonsnn/kernels/surrogates.py`) under one registry name."""
from __future__ import annotations

from tritonsnn.surrogate import registry, twins


def add(name, defaults, factory_name, grad_, triton_fn, doc, **options):
    """Register a built-in: its parameters and their defaults, its factory's name, its torch twin
    and its Triton gradient (by its name in tritonsnn/kernels/surrogates.py)."""
    return registry.add(name, grad_, defaults, factory_name, doc, triton_fn=triton_fn, **options)


# snnTorch 1.0.0's surrogates.
ATan, atan = add(
    "ATan", {"alpha": 2.0}, "atan",
    twins.atan_grad_, "atan_grad",
    "Arc-tangent surrogate (snnTorch's default): dS/dx = (alpha/2) / (1 + (pi/2 alpha x)^2).")
FastSigmoid, fast_sigmoid = add(
    "FastSigmoid", {"slope": 25.0}, "fast_sigmoid",
    twins.fast_sigmoid_grad_, "fast_sigmoid_grad",
    "Fast sigmoid surrogate: dS/dx = 1 / (slope |x| + 1)^2. `FastSigmoid.apply(x)` with no slope "
    "uses the module-level `tritonsnn.surrogate.slope`.", slope_param=0)
Sigmoid, sigmoid = add(
    "Sigmoid", {"slope": 25.0}, "sigmoid",
    twins.sigmoid_grad_, "sigmoid_grad",
    "Sigmoid surrogate: dS/dx = slope s (1 - s), s = sigmoid(slope x); never NaN. "
    "`Sigmoid.apply(x)` with no slope uses the module-level `tritonsnn.surrogate.slope`.", slope_param=0)
Heaviside, heaviside = add(
    "Heaviside", {}, "heaviside",
    twins.heaviside_grad_, "heaviside_grad",
    "Heaviside surrogate: dS/dx = H(x), the gradient passes where the neuron fired.")
StraightThroughEstimator, straight_through_estimator = add(
    "StraightThroughEstimator", {}, "straight_through_estimator",
    twins.straight_through_grad_, "straight_through_grad",
    "Straight-through estimator: dS/dx = 1.")
Triangular, triangular = add(
    "Triangular", {"threshold": 1.0}, "triangular",
    twins.triangular_grad_, "triangular_grad",
    "Triangular surrogate as snnTorch 1.0.0 computes it: dS/dx = +threshold where x < 0 and "
    "-threshold where x >= 0.")
SpikeRateEscape, spike_rate_escape = add(
    "SpikeRateEscape", {"beta": 1.0, "slope": 25.0}, "spike_rate_escape",
    twins.spike_rate_escape_grad_, "spike_rate_escape_grad",
    "Spike rate escape (Boltzmann) surrogate: dS/dx = slope exp(-beta |x - 1|). "
    "`SpikeRateEscape.apply(x)` uses beta=1 and the module-level slope.", slope_param=1)
StochasticSpikeOperator, SSO = add(
    "StochasticSpikeOperator", {"mean": 0.0, "variance": 0.2}, "SSO",
    twins.stochastic_spike_operator_grad_, "stochastic_spike_operator_grad",
    "Stochastic spike operator: dS/dx = 1 where the neuron fired, else (u - 0.5 + mean) variance "
    "with u ~ U[0, 1) drawn afresh for every backward (in the fused kernels: Philox, seeded from "
    "torch's generator at forward time, so torch.manual_seed makes runs reproducible).", stochastic=True)
LeakySpikeOperator, LSO = add(
    "LeakySpikeOperator", {"slope": 0.1}, "LSO",
    twins.leaky_spike_operator_grad_, "leaky_spike_operator_grad",
    "Leaky spike operator: dS/dx = 1 where the neuron fired, slope elsewhere (snnTorch 1.0.0's "
    "LSO raises; this one works).")
SparseFastSigmoid, SFS = add(
    "SparseFastSigmoid", {"slope": 25.0, "B": 1.0}, "SFS",
    twins.sparse_fast_sigmoid_grad_, "sparse_fast_sigmoid_grad",
    "Sparse fast sigmoid: dS/dx = 1 / (slope |x| + 1)^2 where x > B, else 0.")
# SpikingJelly 2.0's Triton surrogates, under its names; the parameter is alpha.
PiecewiseQuadratic, piecewise_quadratic = add(
    "PiecewiseQuadratic", {"alpha": 1.0}, "piecewise_quadratic",
    twins.piecewise_quadratic_grad_, "piecewise_quadratic_grad",
    "SpikingJelly's piecewise quadratic: dS/dx = alpha - alpha^2 |x| where |x| <= 1/alpha, else 0.")
PiecewiseExp, piecewise_exp = add(
    "PiecewiseExp", {"alpha": 1.0}, "piecewise_exp",
    twins.piecewise_exp_grad_, "piecewise_exp_grad",
    "SpikingJelly's piecewise exponential: dS/dx = (alpha/2) exp(-alpha |x|).")
SoftSign, soft_sign = add(
    "SoftSign", {"alpha": 2.0}, "soft_sign",
    twins.soft_sign_grad_, "soft_sign_grad",
    "SpikingJelly's soft sign: dS/dx = 1 / (2 alpha (1/alpha + |x|)^2).")
SuperSpike, super_spike = add(
    "SuperSpike", {"alpha": 1.0}, "super_spike",
    twins.super_spike_grad_, "super_spike_grad",
    "SpikingJelly's SuperSpike: dS/dx = alpha / (|x| + 1)^2.")
Erf, erf = add(
    "Erf", {"alpha": 2.0}, "erf",
    twins.erf_grad_, "erf_grad",
    "SpikingJelly's Gaussian-error surrogate: dS/dx = (alpha / sqrt(pi)) exp(-(alpha x)^2).")
# The seed document's default: snnTorch 0.x's LIF.Heaviside (also reachable as tritonsnn.LIF.Heaviside).
# Its class is named LIFHeaviside, the name it has here: pickle finds a class by module and name, and
# "Heaviside" is the other surrogate's.
LIFHeaviside, _ = add(
    "LIF.Heaviside", {}, None,
    twins.old_heaviside_grad_, "old_heaviside_grad",
    "snnTorch 0.x's default spiking function LIF.Heaviside: forward H(x) (x > 0), backward passes "
    "the gradient where x >= 0.", class_name="LIFHeaviside")
add("Disabled", {}, None, twins.disabled_grad_, "disabled_grad",
    "No gradient through the spike (surrogate_disable=True).")


DISABLED = registry.Surrogate(registry._REGISTRY["Disabled"], ())
"""The surrogate of a neuron built with `surrogate_disable=True`: spikes carry no gradient."""

BUILT_IN = tuple(registry._REGISTRY)
"""The names of the built-in surrogates, in registration (kernel id) order."""
