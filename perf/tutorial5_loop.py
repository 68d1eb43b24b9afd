"""snnTorch tutorial 5's network trained as the tutorial writes it — 784-1000-10 Leaky layers,
beta 0.95, batch 128, 25 steps of the same input, one single-step call per layer and step, a
cross-entropy loss on every step's membrane, Adam — with snnTorch 1.0.0 and with tritonsnn
(the import changed, the same initial weights), training steps alternating between them. With
`--compiled`, tritonsnn's network also runs under `torch.compile`: with the "tritonsnn" backend
(the loop batched over time, `tritonsnn.time_batching`) and with plain Inductor. Prints the
median milliseconds per training step and snnTorch's over each.

    python perf/tutorial5_loop.py [--rounds 10] [--threads 2] [--compiled]
"""
from __future__ import annotations

import argparse
import statistics
import time

import snntorch
import torch
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compiled", action="store_true", help="also tritonsnn under torch.compile")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nets = {"snntorch": Tutorial5Net(snntorch), "tritonsnn": Tutorial5Net(tritonsnn)}
    if args.compiled:
        nets["tritonsnn compiled, time-batched"] = Tutorial5Net(tritonsnn)
        nets["tritonsnn compiled, inductor"] = Tutorial5Net(tritonsnn)
    for impl, net in nets.items():
        if impl != "snntorch":
            net.load_state_dict(nets["snntorch"].state_dict(), strict=False)
    optimizers = {impl: torch.optim.Adam(net.parameters(), lr=5e-4) for impl, net in nets.items()}
    runs = dict(nets)
    if args.compiled:
        runs["tritonsnn compiled, time-batched"] = torch.compile(nets["tritonsnn compiled, time-batched"],
                                                                 backend="tritonsnn")
        runs["tritonsnn compiled, inductor"] = torch.compile(nets["tritonsnn compiled, inductor"])
    x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))
    loss_fn = nn.CrossEntropyLoss()
    times = {impl: [] for impl in nets}
    for r in range(args.rounds + 2):
        for impl, run in runs.items():
            start = time.perf_counter()
            _, mem = run(x)
            loss = sum(loss_fn(mem[t], y) for t in range(STEPS))
            optimizers[impl].zero_grad()
            loss.backward()
            optimizers[impl].step()
            if r >= 2:  # two warm-up rounds (the first compiles)
                times[impl].append(time.perf_counter() - start)
    median = {impl: statistics.median(t) * 1e3 for impl, t in times.items()}
    print(f"tutorial 5, {args.threads} threads, median of {args.rounds} training steps (ms), snnTorch's time over each:")
    for impl, ms in median.items():
        print(f"  {impl:34s} {ms:7.1f} ms  {median['snntorch'] / ms:.2f}x")


if __name__ == "__main__":
    main()
