"""The loop snnTorch users write, timed as they run it: one single-step call per time step
(`for x_t in x.unbind(0): spk, *states = neuron(x_t)`), every neuron, tritonsnn against snnTorch
1.0.0, forward and forward+backward, the default allocator (no `mallopt`). Rounds alternate
between the two (A B A B ...) so a shared machine slows both alike; each line reports the median
per step and snnTorch's time over tritonsnn's. The `[1, 1]` layer has no arithmetic to speak of:
its times are the per-call overhead. The recurrent neurons (RLeaky, RSynaptic) have a Linear
recurrent term of the layer's width, the same weights in both libraries.

    python perf/stepped_loop.py [--rounds 15] [--threads 2] [--sizes 1x1,1x128,128x1000] [--neurons leaky,rleaky]
"""
from __future__ import annotations

import argparse
import statistics
import time

import snntorch
import torch

import tritonsnn
from tritonsnn.catalogue import NEURONS

T = 25


def _constructor(neuron) -> dict:
    """The catalogue's decays and threshold, not learnable (as the tutorials build them)."""
    kwargs = {k: v for k, v in neuron.module_params.items() if not k.startswith("learn_")}
    return {"threshold": neuron.threshold, **kwargs}


def _loop(module, x: torch.Tensor, backward: bool) -> None:
    module.reset_mem()
    spikes = []
    for x_t in x.unbind(0):
        spk, *states = module(x_t)
        spikes.append(spk)
    if backward:
        (torch.stack(spikes).sum() + states[-1].sum()).backward()


RECURRENT = {"rleaky": ("RLeaky", {"beta": 0.9}), "rsynaptic": ("RSynaptic", {"alpha": 0.8, "beta": 0.9})}


def _modules(name: str, width: int) -> tuple[dict, float]:
    """The neuron in each library, and the scale of its inputs."""
    if name in RECURRENT:
        cls, decays = RECURRENT[name]
        modules = {lib.__name__: getattr(lib, cls)(**decays, linear_features=width) for lib in (tritonsnn, snntorch)}
        modules["tritonsnn"].load_state_dict(modules["snntorch"].state_dict())
        return modules, 0.6
    neuron = NEURONS[name]
    return ({"tritonsnn": neuron.module(**_constructor(neuron)),
             "snntorch": getattr(snntorch, neuron.snntorch)(**_constructor(neuron))}, neuron.input_scale)


def time_neuron(name: str, batch: int, width: int, backward: bool, rounds: int) -> dict[str, float]:
    """Median seconds per step of each implementation's loop over `[T, batch, width]`."""
    modules, scale = _modules(name, width)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, batch, width, generator=gen) * scale + scale / 2
    times = {impl: [] for impl in modules}
    for r in range(rounds + 3):
        for impl, module in modules.items():
            xs = x.clone().requires_grad_(backward)
            start = time.perf_counter()
            _loop(module, xs, backward)
            if r >= 3:  # warm-up rounds are not counted
                times[impl].append((time.perf_counter() - start) / T)
    return {impl: statistics.median(t) for impl, t in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="1x1,1x128,128x1000", help="BATCHxWIDTH layers, comma-separated")
    parser.add_argument("--neurons", default=",".join([*NEURONS, *RECURRENT]), help="comma-separated")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, snntorch {snntorch.__version__}, tritonsnn {tritonsnn.__version__}, "
          f"{args.threads} threads, T = {T}, median of {args.rounds} rounds, us per step")
    for size in args.sizes.split(","):
        batch, width = (int(v) for v in size.split("x"))
        for name in args.neurons.split(","):
            for backward in (False, True):
                t = time_neuron(name, batch, width, backward, args.rounds)
                print(f"{name:9s} [{batch}, {width}] {'fwd+bwd' if backward else 'fwd    '}  "
                      f"tritonsnn {t['tritonsnn'] * 1e6:8.1f}  snntorch {t['snntorch'] * 1e6:8.1f}  "
                      f"ratio {t['snntorch'] / t['tritonsnn']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
