"""Activation memory of the SHD-like network (700 -> 256 -> 256 -> 20, batch 32): with 1-bit
spikes and bf16 membranes tritonsnn saves >= 6x fewer bytes for the backward than snnTorch 1.0.0
and >= 3x fewer than SpikingJelly 2.0, with the gradients of fp32 saving within the documented
bound. Saved bytes are counted exactly (saved-tensor hooks) and grow linearly with T, so a short
sequence measures the ratio; perf/test_memory.py measures T = 1000 and 5000 with peak RSS."""
import pytest
import torch

from tritonsnn import bench

T = 20


pytestmark = pytest.mark.usefixtures("auto_backend")


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
def test_saved_bytes_against_snntorch_and_spikingjelly(neuron):
    ours = bench.activation_bytes("tritonsnn", neuron, T)["saved_bytes"]
    assert bench.activation_bytes("snntorch", neuron, T)["saved_bytes"] >= 6 * ours
    if neuron == "leaky":
        pytest.importorskip("spikingjelly")
        assert bench.activation_bytes("spikingjelly", neuron, T)["saved_bytes"] >= 3 * ours


def test_saved_bytes_grow_linearly_with_T():
    one, two, three = (bench.activation_bytes("tritonsnn", "leaky", t)["saved_bytes"] for t in (T, 2 * T, 3 * T))
    assert two - one == three - two  # a fixed cost per step (plus the loss's T-independent tensors)


def test_compact_saving_keeps_the_gradients():
    """Bit-packed spikes are exact; bf16 membranes perturb the surrogate's argument by one bf16
    rounding, within the bound documented in the README."""
    grads = {}
    x = (torch.rand(T, 8, 700, generator=torch.Generator().manual_seed(1)) < 0.1).float()
    for impl in ("tritonsnn", "tritonsnn_fp32"):
        torch.manual_seed(0)
        model = bench.shd_network(impl)
        torch.nn.functional.cross_entropy(model(x * 3).sum(0), torch.arange(8) % 20).backward()
        grads[impl] = [p.grad for p in model.parameters() if p.grad is not None]
    for got, want in zip(grads["tritonsnn"], grads["tritonsnn_fp32"]):
        assert ((got - want).norm() / want.norm().clamp_min(1e-12)).item() < 2e-2
