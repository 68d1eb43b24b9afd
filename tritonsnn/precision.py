"""How far gradients move when the state sequences are stored in bf16 (`save_dtype=torch.bfloat16`)
instead of fp32: measured over random configurations, per neuron, reset mechanism and gradient.

The forward is unchanged by the storage dtype (fp32 dynamics, identical spikes) and the backward
sees exactly the forward's spikes and resets (each stored membrane keeps its side of the
threshold), so the only difference is that the backward evaluates the surrogate, and reads the
states it multiplies, at values rounded to 8 significant bits. The error therefore grows with the
surrogate's steepness; `BOUNDS` states it for snnTorch's default (`atan()`) and for a steep one
(`fast_sigmoid(slope=25)`), and the test suite holds the kernels to it.

    python -m tritonsnn precision [--configs N] [--backend torch|triton]

prints the table (the worst relative error over N random configurations, T = 50) that the README
shows.
"""
from __future__ import annotations

import argparse
import sys

import torch

import tritonsnn
from tritonsnn import surrogate

F = tritonsnn.functional
T, BATCH, NEURONS = 50, 16, 64
SURROGATES = {"atan()": surrogate.atan(), "fast_sigmoid(slope=25)": surrogate.fast_sigmoid(slope=25)}
CASES = ([("leaky", reset, delay) for reset in ("subtract", "zero", "none") for delay in (True, False)]
         + [("synaptic", reset, delay) for reset in ("subtract", "zero", "none") for delay in (True, False)]
         + [("lapicque", reset, True) for reset in ("subtract", "zero", "none")]
         + [("alpha", reset, True) for reset in ("subtract", "zero", "none")])
GRADIENTS = ("x", "initial state", "beta", "threshold", "graded_spikes_factor", "alpha")
STATES = {"leaky": ("mem",), "synaptic": ("syn", "mem"), "lapicque": ("mem",), "alpha": ("syn_exc", "syn_inh")}

# Bounds on the relative (L2) error of each gradient with bf16 storage, per surrogate: over every
# neuron and reset mechanism (`python -m tritonsnn precision` gives the measurements behind them).
# Parameters are per-neuron; a scalar parameter's gradient is the sum of the per-neuron ones, so
# where those cancel, its relative error can exceed these.
BOUNDS = {
    "atan()": {"x": 1e-2, "initial state": 1e-2, "beta": 2e-2, "threshold": 1e-2,
               "graded_spikes_factor": 0.0, "alpha": 2e-2},
    "fast_sigmoid(slope=25)": {"x": 0.15, "initial state": 0.2, "beta": 0.3, "threshold": 0.2,
                               "graded_spikes_factor": 0.0, "alpha": 0.2},
}

def _uniform(gen, lo, hi, shape=(NEURONS,)):
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def gradients(neuron: str, reset: str, reset_delay: bool, sg, save_dtype, seed: int, device="cpu") -> dict:
    """Every gradient of a random loss over one random configuration (drawn from `seed`): per-neuron
    parameters, random initial states, inputs around the thresholds, T = 50."""
    gen = torch.Generator().manual_seed(seed)
    beta = _uniform(gen, 0.5, 0.99)
    params = {"beta": beta, "threshold": _uniform(gen, 0.5, 1.5), "graded_spikes_factor": _uniform(gen, 0.5, 2.0)}
    if neuron == "synaptic":
        params["alpha"] = _uniform(gen, 0.5, 0.95)
    if neuron == "alpha":
        params["alpha"] = beta + (1 - beta) * _uniform(gen, 0.1, 0.9)  # alpha > beta
        params["threshold"] = params["threshold"] * 0.3
    scale, offset = _uniform(gen, 0.2, 0.8, ()), _uniform(gen, 0.0, 0.4, ())
    x = torch.randn(T, BATCH, NEURONS, generator=gen) * scale + offset * params["threshold"]
    states = {name: torch.randn(BATCH, NEURONS, generator=gen) * 0.5 for name in STATES[neuron]}
    w_spk, w_mem = (torch.randn(T, BATCH, NEURONS, generator=gen) for _ in range(2))
    leaves = {k: v.to(device).requires_grad_() for k, v in {"x": x, **params, **states}.items()}
    p = leaves
    common = dict(threshold=p["threshold"], graded_spikes_factor=p["graded_spikes_factor"], spike_grad=sg,
                  reset_mechanism=reset, save_dtype=save_dtype)
    if neuron == "leaky":
        spk, mem = F.leaky(p["x"], p["beta"], p["mem"], reset_delay=reset_delay, **common)
    elif neuron == "synaptic":
        spk, _, mem = F.synaptic(p["x"], p["alpha"], p["beta"], p["syn"], p["mem"], reset_delay=reset_delay, **common)
    elif neuron == "lapicque":
        spk, mem = F.lapicque(p["x"], beta=p["beta"], mem=p["mem"], **common)
    else:
        spk, _, _, mem = F.alpha(p["x"], p["alpha"], p["beta"], p["syn_exc"], p["syn_inh"], **common)
    loss = (spk * w_spk.to(device)).sum() + 0.1 * (mem.float() * w_mem.to(device)).sum()
    grads = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))
    initial = [grads.pop(name) for name in ("mem", "syn", "syn_exc", "syn_inh") if name in grads]
    grads["initial state"] = torch.cat([g.flatten() for g in initial])
    return grads


def worst_errors(neuron: str, reset: str, reset_delay: bool, sg, configs: int, device="cpu") -> dict:
    """The largest relative (L2) error of each gradient, bf16 storage against fp32, over
    `configs` random configurations."""
    worst: dict[str, float] = {}
    for seed in range(configs):
        exact = gradients(neuron, reset, reset_delay, sg, None, seed, device)
        approx = gradients(neuron, reset, reset_delay, sg, torch.bfloat16, seed, device)
        for name, g in exact.items():
            error = ((approx[name] - g).norm() / g.norm()).item()
            worst[name] = max(worst.get(name, 0.0), error)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=20)
    parser.add_argument("--backend", default="torch", choices=("torch", "triton"))
    args = parser.parse_args(argv)
    tritonsnn.set_backend(args.backend)
    device = "cuda" if args.backend == "triton" else "cpu"
    print(f"Worst relative error of each gradient, save_dtype=torch.bfloat16 against fp32, over {args.configs} "
          f"random configurations, T = {T} ({args.backend} backend)\n")
    for name, sg in SURROGATES.items():
        print(f"{name}:\n\n| neuron | reset | reset_delay | " + " | ".join(GRADIENTS) + " |")
        print("|---" * (3 + len(GRADIENTS)) + "|")
        for neuron, reset, delay in CASES:
            worst = worst_errors(neuron, reset, delay, sg, args.configs, device)
            cells = " | ".join(f"{worst[g]:.1e}" if g in worst else "—" for g in GRADIENTS)
            print(f"| {neuron} | {reset} | {delay} | {cells} |", flush=True)
        print("| bound | | | " + " | ".join(f"{BOUNDS[name][g]:.1e}" for g in GRADIENTS) + " |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
