"""The demo: train a spiking network on scikit-learn's handwritten digits with fused neurons.

The 8x8 digit images (`sklearn.datasets.load_digits`, shipped inside scikit-learn, no download)
are rate-coded into Bernoulli spike trains over T steps (pixel intensity = firing probability) and
fed to Linear -> Leaky -> Linear -> Leaky, multi-step and fused, trained with cross-entropy on the
output spike counts. Each epoch shows a progress bar, then the loss, the test accuracy and the
epoch's time; at the end one epoch runs again on the naive per-step reference neurons, for the
time comparison. `--plot FILE.png` draws the loss curve and a spike raster of the hidden layer.

    pip install "tritonsnn[demo]" && python -m tritonsnn demo [--device cuda] [--epochs 5] [--plot demo.png]
"""
from __future__ import annotations

import argparse
import copy
import importlib
import statistics
import sys
import time

import torch
from torch import nn

import tritonsnn
from tritonsnn import reference

REFERENCE_EPOCHS = 3  # the reference's epochs timed for the comparison (it is the slow one)


class SpikingMLP(nn.Module):
    """64 inputs -> Leaky hidden layer -> Leaky output layer, over time-major spike trains."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, beta: float = 0.9):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.beta = beta
        self.fused = True
        self.lif1 = tritonsnn.Leaky(beta=beta, step_mode="multi")
        self.lif2 = tritonsnn.Leaky(beta=beta, step_mode="multi")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [T, B, n_in] spikes. Returns the output spikes [T, B, n_out] and the hidden ones."""
        if self.fused:
            spk1, _ = self.lif1(self.fc1(x))
            spk2, _ = self.lif2(self.fc2(spk1))
        else:
            spk1, _ = reference.leaky(self.fc1(x), self.beta)
            spk2, _ = reference.leaky(self.fc2(spk1), self.beta)
        return spk2, spk1


def load_digits_split(seed: int):
    """(x_train, y_train, x_test, y_test): intensities in [0, 1], a stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return x_train, y_train, x_test, y_test


def rate_code(intensity: torch.Tensor, steps: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """[B, n] intensities in [0, 1] -> [T, B, n] Bernoulli spike trains."""
    return torch.bernoulli(intensity.expand(steps, *intensity.shape), generator=gen)


def run_epoch(model, optimizer, x, y, steps, batch, gen, device, progress: str | None) -> tuple[float, list[float]]:
    """One pass over (x, y) in shuffled batches. Returns (seconds, per-batch losses)."""
    from tqdm import tqdm

    order = torch.randperm(len(y), generator=gen)
    batches = range(0, len(order), batch)
    losses = []
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in tqdm(batches, desc=progress, leave=False, disable=progress is None, file=sys.stdout):
        idx = order[i:i + batch]
        spikes = rate_code(x[idx], steps, gen).to(device)
        spk_out, _ = model(spikes)
        loss = nn.functional.cross_entropy(spk_out.sum(0), y[idx].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, losses


@torch.no_grad()
def accuracy(model, x, y, steps, gen, device) -> float:
    spk_out, _ = model(rate_code(x, steps, gen).to(device))
    return (spk_out.sum(0).argmax(1).cpu() == y).float().mean().item()


def plot(path: str, losses: list[float], batches_per_epoch: int, raster: torch.Tensor) -> None:
    """The training loss per batch, and the hidden layer's spikes for one test digit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_raster) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot([i / batches_per_epoch for i in range(len(losses))], losses)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.set_title("training loss")
    t, n = raster.nonzero(as_tuple=True)
    ax_raster.scatter(t.numpy(), n.numpy(), s=2, marker="|", color="black")
    ax_raster.set_xlabel("time step")
    ax_raster.set_ylabel("hidden neuron")
    ax_raster.set_title("hidden-layer spikes, one test digit")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tritonsnn demo", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=25, help="time steps T of the rate code")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="draw the loss curve and a spike raster")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        x_train, y_train, x_test, y_test = load_digits_split(args.seed)
        importlib.import_module("tqdm")  # the progress bars: fail here, before training, if absent
    except ImportError as e:
        print(f"the demo needs scikit-learn and tqdm ({e}): pip install \"tritonsnn[demo]\"", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    model = SpikingMLP(64, 256, 10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    backend = "Triton kernels" if tritonsnn.backend.uses_triton(device, tritonsnn.get_backend()) else "torch path"
    print(f"tritonsnn {tritonsnn.__version__} on {device} ({backend}): scikit-learn digits, "
          f"{len(y_train)} training / {len(y_test)} test images, rate-coded over T={args.steps}, "
          f"64-256-10 spiking MLP")
    all_losses, epoch_times = [], []
    for epoch in range(1, args.epochs + 1):
        progress = None if args.no_progress else f"epoch {epoch}"
        seconds, losses = run_epoch(model, optimizer, x_train, y_train, args.steps, args.batch, gen, device, progress)
        all_losses += losses
        epoch_times.append(seconds)
        acc = accuracy(model, x_test, y_test, args.steps, gen, device)
        print(f"epoch {epoch}: loss {sum(losses) / len(losses):.4f}  test accuracy {acc:6.1%}  {seconds:.2f} s")
    # The same epochs on the naive reference neurons (a copy, so the trained model is untouched),
    # up to REFERENCE_EPOCHS of them; each side's median epoch, so a first epoch's warm-up counts
    # alike on both (or on neither).
    naive = copy.deepcopy(model)
    naive.fused = False
    naive_optimizer = torch.optim.Adam(naive.parameters(), lr=2e-3)
    naive_times = [run_epoch(naive, naive_optimizer, x_train, y_train, args.steps, args.batch, gen, device,
                             None if args.no_progress else "reference")[0]
                   for _ in range(min(REFERENCE_EPOCHS, args.epochs))]
    fused_seconds, naive_seconds = statistics.median(epoch_times), statistics.median(naive_times)
    print(f"final test accuracy {acc:.1%}; median time per epoch: fused {fused_seconds:.2f} s "
          f"({len(epoch_times)} epochs), naive per-step reference {naive_seconds:.2f} s ({len(naive_times)} epochs): "
          f"{naive_seconds / fused_seconds:.1f}x faster fused")
    if args.plot:
        with torch.no_grad():
            _, hidden = model(rate_code(x_test[:1], args.steps, gen).to(device))
        plot(args.plot, all_losses, -(-len(y_train) // args.batch), hidden[:, 0].cpu())
        print(f"plot written to {args.plot}")
    return 0
