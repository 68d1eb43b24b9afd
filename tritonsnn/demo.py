"""A short demo: train a small spiking network on synthetic data with fused Leaky neurons.

The data are four noisy prototype patterns, rate-coded into Bernoulli spike trains over T steps;
the network is Linear -> Leaky -> Linear -> Leaky (multi-step, fused), trained with cross-entropy
on output spike counts. It prints the loss, accuracy and spike rate per epoch, then the time of one
training step with the fused neurons against the same network on the naive reference neurons.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import tritonsnn
from tritonsnn import reference


class SpikingMLP(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int, beta: float = 0.9, fused: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.beta = beta
        self.fused = fused
        self.lif1 = tritonsnn.Leaky(beta=beta, step_mode="multi")
        self.lif2 = tritonsnn.Leaky(beta=beta, step_mode="multi")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [T, B, n_in] spikes. Returns output spikes [T, B, n_out] and hidden spikes."""
        if self.fused:
            spk1, _ = self.lif1(self.fc1(x))
            spk2, _ = self.lif2(self.fc2(spk1))
        else:
            spk1, _ = reference.leaky(self.fc1(x), self.beta)
            spk2, _ = reference.leaky(self.fc2(spk1), self.beta)
        return spk2, spk1


def synthetic_data(prototypes: torch.Tensor, n: int, steps: int, gen: torch.Generator):
    """Rate-coded noisy prototypes: each class has a firing-probability pattern over the inputs."""
    n_classes, n_in = prototypes.shape
    labels = torch.randint(0, n_classes, (n,), generator=gen)
    rates = (prototypes[labels] + 0.3 * torch.randn(n, n_in, generator=gen)).clamp(0, 1)
    spikes = torch.bernoulli(rates.expand(steps, n, n_in), generator=gen)
    return spikes, labels


def train_step(model, optimizer, x, y):
    spk_out, spk_hidden = model(x)
    loss = nn.functional.cross_entropy(spk_out.sum(0), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item(), spk_out, spk_hidden


def time_step(model, x, y, repeats: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    train_step(model, optimizer, x, y)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        train_step(model, optimizer, x, y)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tritonsnn demo", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=25, help="time steps T")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    n_in, n_hidden, n_classes, batch = 64, 256, 4, 128
    prototypes = torch.rand(n_classes, n_in, generator=gen)
    x_train, y_train = synthetic_data(prototypes, 2048, args.steps, gen)
    x_test, y_test = synthetic_data(prototypes, 512, args.steps, gen)
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))
    model = SpikingMLP(n_in, n_hidden, n_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    backend = "Triton kernels" if tritonsnn.backend.uses_triton(device, tritonsnn.get_backend()) else "torch path"
    print(f"tritonsnn {tritonsnn.__version__} on {device} ({backend}), T={args.steps}, "
          f"{n_in}-{n_hidden}-{n_classes} spiking MLP, {len(y_train)} training samples")
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(y_train), generator=gen).to(device)
        losses, rates = [], []
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss, _, spk_hidden = train_step(model, optimizer, x_train[:, idx], y_train[idx])
            losses.append(loss)
            rates.append(spk_hidden.mean().item())
        with torch.no_grad():
            spk_out, _ = model(x_test)
            accuracy = (spk_out.sum(0).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch}: loss {sum(losses) / len(losses):.4f}  test accuracy {accuracy:6.1%}  "
              f"hidden spike rate {sum(rates) / len(rates):.3f}")
    x, y = x_train[:, :batch], y_train[:batch]
    fused = time_step(model, x, y, repeats=10)
    model.fused = False
    naive = time_step(model, x, y, repeats=10)
    model.fused = True
    print(f"one training step, batch {batch}: fused {fused * 1e3:.2f} ms, naive reference "
          f"{naive * 1e3:.2f} ms ({naive / fused:.1f}x faster fused)")
