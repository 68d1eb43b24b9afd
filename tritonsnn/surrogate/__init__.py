"""Surrogate gradients, under their snnTorch (and SpikingJelly) names, in one registry shared by
every backend.

The forward of every surrogate is the Heaviside step `S = (x > 0)`; only the backward differs. Each
gradient is written twice, once per backend: as a torch function here (used by the per-step
`autograd.Function` classes, the CPU path and the reference; `twins.py`) and as a `@triton.jit`
function in `tritonsnn/kernels/surrogates.py` (inlined into the fused backward kernels). Both are looked up by
the same name, and the test suite checks the two against each other and against snnTorch 1.0.0.

Usage mirrors snnTorch::

    import tritonsnn as snn
    from tritonsnn import surrogate

    lif = snn.Leaky(beta=0.9, spike_grad=surrogate.fast_sigmoid(slope=25))
    spk = surrogate.ATan.apply(mem - 1.0, 2.0)      # one step, snnTorch style

    # The seed document's old style: a class's `.apply` and the module-level slope, read when the
    # backward runs.
    surrogate.slope = 10
    lif = snn.Leaky(beta=0.9, spike_grad=surrogate.FastSigmoid.apply)

A factory (`atan()`, `fast_sigmoid()`, ...) returns a :class:`Surrogate`: callable on a tensor like
snnTorch's closures, and recognised by the fused kernels by its name and parameters. snnTorch
1.0.0's own closures (`snntorch.surrogate.atan(alpha=3)`) are recognised and mapped to the same
surrogate. `custom_surrogate(fn)` takes snnTorch's contract for arbitrary Python gradients (a
slower path: see its docstring), and :func:`register` adds a surrogate whose Triton gradient is
fused like the built-in ones.
"""
from __future__ import annotations

slope = 25
"""Module-level slope of the seed document's API: `FastSigmoid.apply(x)`, `Sigmoid.apply(x)` and
`SpikeRateEscape.apply(x)` called without a slope use the value in force when their backward runs,
and so does a neuron given `spike_grad=FastSigmoid.apply` (or Sigmoid's, SpikeRateEscape's)."""

# After `slope`, which the registry reads. DISABLED, custom_grad, MODULE_SLOPE, SurrogateSpec,
# spec_for_kernel_id and warn_unfused are internal: the kernel families and tests read them here.
from tritonsnn.surrogate.builtins import (  # noqa: E402, F401
    DISABLED, LSO, SFS, SSO, ATan, Erf, FastSigmoid, Heaviside, LeakySpikeOperator, LIFHeaviside, PiecewiseExp,
    PiecewiseQuadratic, Sigmoid, SoftSign, SparseFastSigmoid, SpikeRateEscape, StochasticSpikeOperator,
    StraightThroughEstimator, SuperSpike, Triangular, atan, erf, fast_sigmoid, heaviside, piecewise_exp,
    piecewise_quadratic, sigmoid, soft_sign, spike_rate_escape, straight_through_estimator, super_spike, triangular)
from tritonsnn.surrogate.custom import CustomSurrogate, custom_grad  # noqa: E402, F401
from tritonsnn.surrogate.registry import (  # noqa: E402, F401
    MODULE_SLOPE, Surrogate, SurrogateSpec, custom_surrogate, register, registered, spec_for_kernel_id, warn_unfused)
from tritonsnn.surrogate.resolve import resolve  # noqa: E402

__all__ = [
    "ATan", "CustomSurrogate", "Erf", "FastSigmoid", "Heaviside", "LIFHeaviside",
    "LeakySpikeOperator", "LSO", "PiecewiseExp", "PiecewiseQuadratic", "SFS", "SSO", "Sigmoid",
    "SoftSign", "SparseFastSigmoid", "SpikeRateEscape", "StochasticSpikeOperator",
    "StraightThroughEstimator", "SuperSpike", "Surrogate", "Triangular", "atan", "custom_surrogate",
    "erf", "fast_sigmoid", "heaviside", "piecewise_exp", "piecewise_quadratic", "register",
    "registered", "resolve", "sigmoid", "slope", "soft_sign", "spike_rate_escape",
    "straight_through_estimator", "super_spike", "triangular",
]
