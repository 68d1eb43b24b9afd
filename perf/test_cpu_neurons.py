"""One neuron layer, forward + backward, x [25, 128, 1000] fp32 on the CPU: Leaky against snnTorch
1.0.0's per-step loop, SpikingJelly 2.0's multi-step LIFNode (when installed) and the naive
reference; Synaptic, Lapicque and Alpha against snnTorch and the reference (SpikingJelly has no
equivalent of them).

Run: pytest perf --benchmark-only
"""
import pytest
import snntorch
import torch

import tritonsnn

SHAPE = (25, 128, 1000)

def group(neuron: str) -> str:
    return f"{neuron}-fwd+bwd-[25,128,1000]-fp32-cpu"


@pytest.fixture(scope="module")
def x():
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))


def tritonsnn_step(x):
    lif = tritonsnn.Leaky(beta=0.9, step_mode="multi")

    def step():
        xs = x.clone().requires_grad_()
        spk, _ = lif(xs)
        spk.sum().backward()
    return step


def snntorch_step(x):
    lif = snntorch.Leaky(beta=0.9)

    def step():
        xs = x.clone().requires_grad_()
        mem, spikes = lif.init_leaky(), []
        for x_t in xs:
            spk, mem = lif(x_t, mem)
            spikes.append(spk)
        torch.stack(spikes).sum().backward()
    return step


def snntorch_indexed_step(x):
    """snnTorch's tutorial idiom, `x[t]` indexing: each step's backward then writes a full-size
    zero tensor (SelectBackward), which is most of its cost. Shown for reference; the headline
    ratio is against `snntorch_step`, the fastest way to run snnTorch's loop."""
    lif = snntorch.Leaky(beta=0.9)

    def step():
        xs = x.clone().requires_grad_()
        mem, spikes = lif.init_leaky(), []
        for t in range(xs.shape[0]):
            spk, mem = lif(xs[t], mem)
            spikes.append(spk)
        torch.stack(spikes).sum().backward()
    return step


def spikingjelly_step(x):
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    sg = pytest.importorskip("spikingjelly.activation_based.surrogate")
    # The same dynamics: U = 0.9 U + X (tau = 10, decay_input=False), soft reset by the threshold,
    # detached reset, ATan(alpha=2) surrogate.
    lif = sj.LIFNode(tau=10.0, decay_input=False, v_reset=None, detach_reset=True,
                     surrogate_function=sg.ATan(), step_mode="m")

    def step():
        lif.reset()
        xs = x.clone().requires_grad_()
        lif(xs).sum().backward()
    return step


def reference_step(x):
    def step():
        xs = x.clone().requires_grad_()
        spk, _ = tritonsnn.reference.leaky(xs, 0.9)
        spk.sum().backward()
    return step


def snntorch_loop(make, init):
    """snnTorch's per-step loop over the input (the fastest way to run it)."""
    def factory(x):
        lif = make()

        def step():
            xs = x.clone().requires_grad_()
            states, spikes = list(init(lif)), []
            for x_t in xs:
                spk, *states = lif(x_t, *states)
                spikes.append(spk)
            torch.stack(spikes).sum().backward()
        return step
    return factory


def fused_sequence(make):
    def factory(x):
        lif = make()

        def step():
            xs = x.clone().requires_grad_()
            lif(xs)[0].sum().backward()
        return step
    return factory


def reference_sequence(fn):
    def factory(x):
        def step():
            xs = x.clone().requires_grad_()
            fn(xs)[0].sum().backward()
        return step
    return factory


CASES = {
    ("leaky", "tritonsnn"): tritonsnn_step,
    ("leaky", "snntorch"): snntorch_step,
    ("leaky", "snntorch_indexed"): snntorch_indexed_step,
    ("leaky", "spikingjelly"): spikingjelly_step,
    ("leaky", "reference"): reference_step,
    ("synaptic", "tritonsnn"): fused_sequence(lambda: tritonsnn.Synaptic(alpha=0.8, beta=0.9, step_mode="multi")),
    ("synaptic", "snntorch"): snntorch_loop(lambda: snntorch.Synaptic(alpha=0.8, beta=0.9), lambda lif: lif.init_synaptic()),
    ("synaptic", "reference"): reference_sequence(lambda x: tritonsnn.reference.synaptic(x, 0.8, 0.9)),
    ("lapicque", "tritonsnn"): fused_sequence(lambda: tritonsnn.Lapicque(beta=0.9, step_mode="multi")),
    ("lapicque", "snntorch"): snntorch_loop(lambda: snntorch.Lapicque(beta=0.9), lambda lif: [lif.init_lapicque()]),
    ("lapicque", "reference"): reference_sequence(lambda x: tritonsnn.reference.lapicque(x, beta=0.9)),
    ("alpha", "tritonsnn"): fused_sequence(lambda: tritonsnn.Alpha(alpha=0.9, beta=0.8, step_mode="multi")),
    ("alpha", "snntorch"): snntorch_loop(lambda: snntorch.Alpha(alpha=0.9, beta=0.8), lambda lif: lif.init_alpha()),
    ("alpha", "reference"): reference_sequence(lambda x: tritonsnn.reference.alpha(x, 0.9, 0.8)),
}


@pytest.mark.parametrize("neuron,impl", list(CASES), ids=[f"{n}-{i}" for n, i in CASES])
def test_forward_backward(benchmark, x, neuron, impl):
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("auto")
    try:
        step = CASES[(neuron, impl)](x)
        benchmark.group = group(neuron)
        benchmark.extra_info.update(impl=impl, neuron_steps=x.numel(), threads=torch.get_num_threads())
        benchmark.pedantic(step, rounds=30, warmup_rounds=3)
    finally:
        tritonsnn.set_backend(previous)
