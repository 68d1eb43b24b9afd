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
from tritonsnn.catalogue import NEURONS, cases

T, BATCH, NEURONS_PER_SAMPLE = 50, 16, 64
SURROGATES = {"atan()": surrogate.atan(), "fast_sigmoid(slope=25)": surrogate.fast_sigmoid(slope=25)}
CASES = cases()
GRADIENTS = ("x", "initial state", "beta", "threshold", "graded_spikes_factor", "alpha")

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

def _uniform(gen, lo, hi, shape=(NEURONS_PER_SAMPLE,)):
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def gradients(neuron: str, reset: str, reset_delay: bool, sg, save_dtype, seed: int, device="cpu") -> dict:
    """Every gradient of a random loss over one random configuration (drawn from `seed`): per-neuron
    parameters, random initial states (but Alpha's membrane, which only decides the first,
    detached, reset), inputs around the thresholds, T = 50."""
    n = NEURONS[neuron]
    gen = torch.Generator().manual_seed(seed)
    params = {"beta": _uniform(gen, 0.5, 0.99), "threshold": _uniform(gen, 0.5, 1.5),
              "graded_spikes_factor": _uniform(gen, 0.5, 2.0)}
    if "alpha" in n.params:  # the Alpha neuron needs alpha > beta
        params["alpha"] = (params["beta"] + (1 - params["beta"]) * _uniform(gen, 0.1, 0.9) if neuron == "alpha"
                           else _uniform(gen, 0.5, 0.95))
    params["threshold"] = params["threshold"] * n.threshold / 0.7
    scale, offset = _uniform(gen, 0.2, 0.8, ()), _uniform(gen, 0.0, 0.4, ())
    x = torch.randn(T, BATCH, NEURONS_PER_SAMPLE, generator=gen) * scale + offset * params["threshold"]
    learnt = [name for name in n.states if not (neuron == "alpha" and name == "mem")]
    states = {name: torch.randn(BATCH, NEURONS_PER_SAMPLE, generator=gen) * 0.5 for name in learnt}
    w_spk, w_mem = (torch.randn(T, BATCH, NEURONS_PER_SAMPLE, generator=gen) for _ in range(2))
    leaves = {k: v.to(device).requires_grad_() for k, v in {"x": x, **params, **states}.items()}
    options = {"reset_delay": reset_delay} if n.reset_delay else {}
    spk, *seqs = n.call(tritonsnn.functional, leaves["x"], **{k: leaves[k] for k in (*params, *states)},
                        spike_grad=sg, reset_mechanism=reset, save_dtype=save_dtype, **options)
    loss = (spk * w_spk.to(device)).sum() + 0.1 * (seqs[-1].float() * w_mem.to(device)).sum()
    grads = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))
    grads["initial state"] = torch.cat([grads.pop(name).flatten() for name in states])
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
