"""snnTorch's tutorial networks trained as the tutorials write them — one single-step call per
layer and time step — with snnTorch 1.0.0 and with tritonsnn (the import changed, the same
initial weights), training steps alternating between them:

- tutorial 5: 784-1000-10 Leaky layers, beta 0.95, batch 128, 25 steps of the same input, a
  cross-entropy loss on every step's membrane, Adam;
- tutorial 6: Conv2d(1, 12, 5), max-pool, Leaky, Conv2d(12, 64, 5), max-pool, Leaky,
  Linear(1024, 10), Leaky (beta 0.5, fast_sigmoid(slope=25)) on 28x28 inputs, 25 steps, the
  cross-entropy of every step's spikes (snnTorch's ce_rate_loss), Adam; batch 32 by default.

With `--compiled`, tritonsnn's network also runs under `torch.compile`: with the "tritonsnn"
backend (the loop batched over time, `tritonsnn.time_batching`) and with plain Inductor. Prints
the median milliseconds per training step and snnTorch's over each. With `--floor`, also the
network with every neuron replaced by one that costs nothing (its input is its spikes and its
membrane): the same layers, loss and optimizer, what no neuron implementation can go below.

    python perf/tutorial_loops.py [--tutorial 5|6] [--rounds 10] [--threads 2] [--batch B] [--compiled] [--floor]
"""
from __future__ import annotations

import argparse
import statistics
import time
import types

import snntorch
import torch
import torch.nn.functional as F
from torch import nn

import tritonsnn

STEPS = 25


class Tutorial5Net(nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(784, 1000), lib.Leaky(beta=0.95)
        self.fc2, self.lif2 = nn.Linear(1000, 10), lib.Leaky(beta=0.95)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        for _ in range(STEPS):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec), torch.stack(mem2_rec)


class Tutorial6Net(nn.Module):
    def __init__(self, lib):
        super().__init__()
        grad = lib.surrogate.fast_sigmoid(slope=25)
        self.conv1, self.lif1 = nn.Conv2d(1, 12, 5), lib.Leaky(beta=0.5, spike_grad=grad)
        self.conv2, self.lif2 = nn.Conv2d(12, 64, 5), lib.Leaky(beta=0.5, spike_grad=grad)
        self.fc1, self.lif3 = nn.Linear(64 * 4 * 4, 10), lib.Leaky(beta=0.5, spike_grad=grad)

    def forward(self, x):
        mem1, mem2, mem3 = self.lif1.init_leaky(), self.lif2.init_leaky(), self.lif3.init_leaky()
        spk3_rec, mem3_rec = [], []
        for _ in range(STEPS):
            spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x), 2), mem1)
            spk2, mem2 = self.lif2(F.max_pool2d(self.conv2(spk1), 2), mem2)
            spk3, mem3 = self.lif3(self.fc1(spk2.view(x.shape[0], -1)), mem3)
            spk3_rec.append(spk3)
            mem3_rec.append(mem3)
        return torch.stack(spk3_rec), torch.stack(mem3_rec)


class FreeNeuron(nn.Module):
    """A stand-in neuron that costs nothing: its input is its spikes and its membrane."""

    def __init__(self, **_):
        super().__init__()

    def init_leaky(self):
        return None

    def forward(self, cur, mem):
        return cur, cur


FREE = types.SimpleNamespace(Leaky=FreeNeuron, surrogate=types.SimpleNamespace(fast_sigmoid=lambda **_: None))

TUTORIALS = {  # network, input shape per sample, default batch, which output the loss reads
    "5": (Tutorial5Net, (784,), 128, 1),
    "6": (Tutorial6Net, (1, 28, 28), 32, 0),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tutorial", choices=sorted(TUTORIALS), default="5")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, help="the tutorial's batch size unless given")
    parser.add_argument("--compiled", action="store_true", help="also tritonsnn under torch.compile")
    parser.add_argument("--floor", action="store_true", help="also the network without neurons' cost")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    network, sample, batch, output = TUTORIALS[args.tutorial]
    batch = args.batch or batch
    nets = {"snntorch": network(snntorch), "tritonsnn": network(tritonsnn)}
    if args.compiled:
        nets["tritonsnn compiled, time-batched"] = network(tritonsnn)
        nets["tritonsnn compiled, inductor"] = network(tritonsnn)
    if args.floor:
        nets["free neurons (the floor)"] = network(FREE)
    for impl, net in nets.items():
        if impl != "snntorch":
            net.load_state_dict(nets["snntorch"].state_dict(), strict=False)
    optimizers = {impl: torch.optim.Adam(net.parameters(), lr=5e-4) for impl, net in nets.items()}
    runs = dict(nets)
    if args.compiled:
        runs["tritonsnn compiled, time-batched"] = torch.compile(nets["tritonsnn compiled, time-batched"],
                                                                 backend="tritonsnn")
        runs["tritonsnn compiled, inductor"] = torch.compile(nets["tritonsnn compiled, inductor"])
    x, y = torch.rand(batch, *sample), torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    times = {impl: [] for impl in nets}
    for r in range(args.rounds + 2):
        for impl, run in runs.items():
            start = time.perf_counter()
            recorded = run(x)[output]
            loss = sum(loss_fn(recorded[t], y) for t in range(STEPS))
            optimizers[impl].zero_grad()
            loss.backward()
            optimizers[impl].step()
            if r >= 2:  # two warm-up rounds (the first compiles)
                times[impl].append(time.perf_counter() - start)
    median = {impl: statistics.median(t) * 1e3 for impl, t in times.items()}
    print(f"tutorial {args.tutorial}, batch {batch}, {args.threads} threads, median of {args.rounds} training steps, "
          "snnTorch's time over each:")
    for impl, ms in median.items():
        print(f"  {impl:34s} {ms:8.1f} ms  {median['snntorch'] / ms:.2f}x")


if __name__ == "__main__":
    main()
