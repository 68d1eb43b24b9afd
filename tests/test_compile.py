"""torch.compile and torch.export: one graph with the fused ops inside (no graph breaks), the same
numbers as eager, few recompiles, and exportable inference models.

On CPU the ops run their opaque torch implementation (the Triton interpreter cannot be traced);
on a GPU the same tests put the Triton kernels inside the graph."""
import pytest
import torch
from torch import nn
from torch._dynamo.testing import CompileCounterWithBackend

import tritonsnn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import assert_close

ON_GPU = DEVICE.type == "cuda"


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield
    torch._dynamo.reset()


def graph_breaks() -> dict:
    return dict(torch._dynamo.utils.counters["graph_break"])


class MultiStepMLP(nn.Module):
    """Linear -> multi-step Leaky -> Linear -> multi-step Synaptic, time-major input."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 16)
        self.lif1 = tritonsnn.Leaky(beta=0.9, learn_beta=True, step_mode="multi")
        self.fc2 = nn.Linear(16, 4)
        self.lif2 = tritonsnn.Synaptic(alpha=0.8, beta=0.85, spike_grad=surrogate.fast_sigmoid(slope=10),
                                       learn_alpha=True, learn_threshold=True, reset_mechanism="zero",
                                       step_mode="multi")

    def forward(self, x):
        spk1, _ = self.lif1(self.fc1(x))
        spk2, _, mem2 = self.lif2(self.fc2(spk1))
        return spk2.sum(0) + mem2.mean(0)


class ConvSNN(nn.Module):
    """Conv2d over [T*B, C, H, W], then a multi-step neuron over [T, B, C, H, W]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.lif = tritonsnn.Leaky(beta=0.8, learn_threshold=True, step_mode="multi")
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        T, B = x.shape[:2]
        y = self.conv(x.flatten(0, 1))
        spk, _ = self.lif(y.reshape(T, B, *y.shape[1:]))
        return self.fc(spk.flatten(2)).sum(0)


class StepLoop(nn.Module):
    """The snnTorch style: single-step neurons in a Python loop, one with its state in the module
    (init_hidden=True), the others with explicit states."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 12)
        self.lif1 = tritonsnn.Leaky(beta=0.9, init_hidden=True, learn_beta=True)
        self.fc2 = nn.Linear(12, 8)
        self.syn = tritonsnn.Synaptic(alpha=0.7, beta=0.9, learn_threshold=True)
        self.fc3 = nn.Linear(8, 4)
        self.alpha = tritonsnn.Alpha(alpha=0.9, beta=0.8)
        self.lap = tritonsnn.Lapicque(beta=0.9, spike_grad=surrogate.sigmoid(slope=5))

    def forward(self, x):
        self.lif1.reset_mem()
        syn, mem = self.syn.init_synaptic()
        exc, inh, mem_a = self.alpha.init_alpha()
        mem_l = self.lap.init_lapicque()
        total = 0
        for t in range(x.shape[0]):
            spk1 = self.lif1(self.fc1(x[t]))
            spk2, syn, mem = self.syn(self.fc2(spk1), syn, mem)
            cur = self.fc3(spk2)
            spk3, exc, inh, mem_a = self.alpha(cur, exc, inh, mem_a)
            spk4, mem_l = self.lap(cur, mem_l)
            total = total + spk3 + spk4 + mem.mean(-1, keepdim=True)
        return total


class PaddedBatchNet(MultiStepMLP):
    """The MLP over a variable-length batch: per-sample lengths, read out at each sample's last
    step."""

    def forward(self, x, lengths):
        spk1, _ = self.lif1(self.fc1(x), lengths=lengths)
        spk2, _, mem2 = self.lif2(self.fc2(spk1), lengths=lengths)
        return spk2.sum(0) + tritonsnn.functional.final_state(mem2, lengths)


def test_lengths_compile_without_graph_breaks_or_recompiles():
    """New length values are data: one graph serves them all, equal to eager."""
    torch.manual_seed(0)
    model = PaddedBatchNet().to(DEVICE)
    x = torch.randn(7, 4, 10, device=DEVICE)
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(model, backend=counter, fullgraph=True)
    for lengths in ([7, 3, 0, 5], [1, 7, 7, 2], [4, 4, 4, 4]):
        lengths = torch.tensor(lengths, device=DEVICE)
        out = model(x, lengths)
        out.sum().backward()
        eager = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        out_c = compiled(x, lengths)
        out_c.sum().backward()
        assert_close(out_c, out, 1e-5, "output")
        for g_c, g in zip((p.grad for p in model.parameters()), eager):
            assert_close(g_c, g, 1e-4, "parameter gradient")
        model.zero_grad()
    assert graph_breaks() == {}
    assert counter.frame_count == 1


def _eager_then_compiled(model, x, backend="inductor"):
    """Outputs and parameter gradients of the model eager and compiled (fullgraph)."""
    out = model(x)
    out.sum().backward()
    eager = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    out_c = compiled(x)
    out_c.sum().backward()
    return out, eager, out_c, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("make_model,shape", [
    (MultiStepMLP, (6, 3, 10)), (ConvSNN, (4, 2, 2, 6, 6)), (StepLoop, (5, 3, 10))],
    ids=["mlp-multi-step", "conv-multi-step", "single-step-loop"])
def test_fullgraph_matches_eager(make_model, shape):
    torch.manual_seed(0)
    model = make_model().to(DEVICE)
    out, eager, out_c, grads = _eager_then_compiled(model, torch.randn(shape, device=DEVICE))
    assert graph_breaks() == {}
    assert_close(out_c, out, 1e-5, "output")
    for g_c, g in zip(grads, eager):
        assert_close(g_c, g, 1e-4, "parameter gradient")


def test_every_surrogate_kind_compiles():
    """Built-in, stochastic and Python (custom_surrogate) surrogates, and a class's `.apply` with
    the module-level slope: no graph break in any."""
    def grad_fn(input_, grad_input, spikes):
        return grad_input * torch.exp(-input_.abs())

    for spike_grad in (surrogate.triangular(), surrogate.SSO(mean=0.0, variance=0.1),
                       surrogate.custom_surrogate(grad_fn), surrogate.FastSigmoid.apply):
        torch._dynamo.reset()
        lif = tritonsnn.Leaky(beta=0.9, spike_grad=spike_grad, step_mode="multi")
        x = torch.randn(5, 3, device=DEVICE, requires_grad=True)
        spk, mem = torch.compile(lif, fullgraph=True, backend="aot_eager")(x)
        (spk + mem).sum().backward()
        assert graph_breaks() == {}, spike_grad
        assert x.grad is not None and torch.isfinite(x.grad).all()


def test_functional_api_under_compile_takes_resolved_surrogates():
    """Inside a compiled function the functional API needs a Surrogate object; anything else is a
    clear error, and resolving it outside the graph works."""
    x = torch.randn(5, 3, device=DEVICE)
    resolved = surrogate.resolve(surrogate.FastSigmoid.apply)
    spk, _ = torch.compile(lambda x: tritonsnn.functional.leaky(x, 0.9, spike_grad=resolved),
                           fullgraph=True, backend="aot_eager")(x)
    assert spk.shape == x.shape
    torch._dynamo.reset()
    snntorch = pytest.importorskip("snntorch")
    closure = snntorch.surrogate.atan(alpha=3.0)
    with pytest.raises(Exception, match="cannot be resolved inside torch.compile"):
        torch.compile(lambda x: tritonsnn.functional.leaky(x, 0.9, spike_grad=closure),
                      fullgraph=True, backend="aot_eager")(x)


def test_training_step_compiled():
    """Forward and loss in one graph, the backward captured by compiled autograd, the optimizer
    step compiled: three steps land on the same parameters as eager training."""
    torch.manual_seed(0)
    model, model_c = MultiStepMLP().to(DEVICE), MultiStepMLP().to(DEVICE)
    model_c.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    opt_c = torch.optim.Adam(model_c.parameters(), lr=1e-2)

    def loss_fn(m, x, y):
        return nn.functional.mse_loss(m(x), y)

    forward_c = torch.compile(loss_fn, fullgraph=True)
    step_c = torch.compile(opt_c.step)
    for _ in range(3):
        x, y = torch.randn(6, 3, 10, device=DEVICE), torch.randn(3, 4, device=DEVICE)
        loss = loss_fn(model, x, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        torch._dynamo.utils.counters["graph_break"].clear()
        with torch._dynamo.compiled_autograd._enable(torch.compile(fullgraph=True)):
            loss_c = forward_c(model_c, x, y)
            loss_c.backward()
        assert graph_breaks() == {}  # torch.optim's own breaks around step() follow
        step_c()
        opt_c.zero_grad()
        assert_close(loss_c, loss, 1e-5, "loss")
    assert torch._dynamo.utils.counters["compiled_autograd"]["captures"] >= 1
    for p_c, p in zip(model_c.parameters(), model.parameters()):
        assert_close(p_c, p, 1e-5, "parameter after three steps")


def _frames(model, inputs) -> int:
    """How many graphs Dynamo compiles for the model over the given inputs (forward+backward)."""
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, backend=counter, fullgraph=True)
    for x in inputs:
        compiled(x).sum().backward()
    return counter.frame_count


def test_new_batch_size_or_T_recompiles_at_most_once():
    model = MultiStepMLP().to(DEVICE)
    batches = [torch.randn(6, b, 10, device=DEVICE) for b in (3, 5, 8, 13)]
    assert _frames(model, batches) <= 2
    torch._dynamo.reset()
    lengths = [torch.randn(t, 3, 10, device=DEVICE) for t in (6, 9, 17, 40)]
    assert _frames(model, lengths) <= 2


def test_new_slope_recompiles_at_most_once_and_takes_effect():
    lif = tritonsnn.Leaky(beta=0.9, step_mode="multi").to(DEVICE)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(lif, backend=counter, fullgraph=True)
    x = torch.randn(6, 3, device=DEVICE, requires_grad=True)
    for slope in (10.0, 20.0, 30.0, 40.0, 55.5):
        lif.spike_grad = surrogate.fast_sigmoid(slope=slope)
        compiled(x)[1].sum().backward()
        g_c, x.grad = x.grad, None
        lif(x)[1].sum().backward()
        assert_close(g_c, x.grad, 1e-6, f"gradient at slope {slope}")
        x.grad = None
    assert counter.frame_count <= 2


def test_module_slope_is_read_when_traced():
    """The seed document's `FastSigmoid.apply` reads the module-level slope: a new value
    recompiles (it is a guard), so compiled gradients follow it as eager ones do."""
    old = surrogate.slope
    try:
        lif = tritonsnn.Leaky(beta=0.9, spike_grad=surrogate.FastSigmoid.apply, step_mode="multi").to(DEVICE)
        compiled = torch.compile(lif, fullgraph=True, backend="aot_eager")
        x = torch.randn(6, 3, device=DEVICE, requires_grad=True)
        for value in (25, 3.0, 80.0):
            surrogate.slope = value
            compiled(x)[1].sum().backward()
            g_c, x.grad = x.grad, None
            lif(x)[1].sum().backward()
            assert_close(g_c, x.grad, 1e-6, f"gradient at module slope {value}")
            x.grad = None
    finally:
        surrogate.slope = old


class InferenceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 8)
        self.leaky = tritonsnn.Leaky(beta=0.9, step_mode="multi")
        self.syn = tritonsnn.Synaptic(alpha=0.8, beta=0.9, step_mode="multi")
        self.lap = tritonsnn.Lapicque(beta=0.9, step_mode="multi")
        self.alpha = tritonsnn.Alpha(alpha=0.9, beta=0.8, step_mode="multi")

    def forward(self, x):
        spk, _ = self.leaky(self.fc(x))
        spk, _, _ = self.syn(spk * 2)
        spk_l, mem_l = self.lap(spk + 0.5)
        spk_a, _, _, mem_a = self.alpha(spk + 0.5)
        return spk_l + mem_l + spk_a + mem_a


def test_export_runs_and_matches_eager():
    model = InferenceNet().to(DEVICE).eval()
    x = torch.randn(7, 3, 10, device=DEVICE)
    T, B = torch.export.Dim("T", min=2), torch.export.Dim("B", min=2)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: T, 1: B}})
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert {"tritonsnn.lif_fwd.default", "tritonsnn.alpha_fwd.default"} <= targets
    for shape in ((7, 3, 10), (12, 5, 10)):
        x = torch.randn(shape, device=DEVICE)
        torch.testing.assert_close(exported.module()(x), model(x))


@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA device")
def test_cuda_graphs_training_step_and_fp32_scalars():
    """mode="reduce-overhead" (CUDA graphs) around a training step, and the compiled kernels
    compute what eager's do, bit for bit: no fp32 scalar became fp64 (or anything else) on the
    way through Inductor."""
    torch.manual_seed(0)
    model, model_c = MultiStepMLP().to(DEVICE), MultiStepMLP().to(DEVICE)
    model_c.load_state_dict(model.state_dict())
    x, y = torch.randn(16, 8, 10, device=DEVICE), torch.randn(8, 4, device=DEVICE)

    def grads(m, fn):
        loss = fn(m, x, y)
        loss.backward()
        out = [p.grad.clone() for p in m.parameters()]
        m.zero_grad()
        return loss.detach().clone(), out

    def loss_fn(m, x, y):
        return nn.functional.mse_loss(m(x), y)

    compiled = torch.compile(loss_fn, mode="reduce-overhead", fullgraph=True)
    eager_loss, eager_grads = grads(model, loss_fn)
    for _ in range(3):  # warm-up, recording, then replays of the CUDA graph
        loss_c, grads_c = grads(model_c, compiled)
    assert graph_breaks() == {}
    torch.testing.assert_close(loss_c, eager_loss, rtol=1e-5, atol=1e-6)
    for g_c, g in zip(grads_c, eager_grads):
        torch.testing.assert_close(g_c, g, rtol=1e-4, atol=1e-6)

    lif = tritonsnn.Leaky(beta=0.9, spike_grad=surrogate.fast_sigmoid(slope=7.3), step_mode="multi").to(DEVICE)
    v = torch.randn(32, 4, 1000, device=DEVICE, requires_grad=True)

    def run(f):
        spk, mem = f(v)
        (spk * 1.5 + mem).sum().backward()
        g, v.grad = v.grad, None
        return spk, mem, g

    eager = run(lif)
    compiled_lif = run(torch.compile(lif, fullgraph=True))
    for a, b in zip(compiled_lif, eager):
        assert torch.equal(a, b)


@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA device")
def test_new_slope_reuses_the_compiled_kernel():
    from tritonsnn.kernels.lif.kernels import lif_bwd_kernel

    x = torch.randn(8, 256, device=DEVICE, requires_grad=True)

    def cached():
        return sum(len(c) for c in lif_bwd_kernel.device_caches[DEVICE.index or 0][0].values())

    for i, slope in enumerate((5.0, 25.0, 60.0)):
        spk, _ = tritonsnn.functional.leaky(x, 0.9, spike_grad=surrogate.fast_sigmoid(slope=slope))
        spk.sum().backward()
        if i == 0:
            first = cached()
    assert cached() == first


class _Spikes(torch.nn.Module):
    """A neuron module whose call returns a tuple, as its first element (the spikes)."""

    def __init__(self, neuron, *args):
        super().__init__()
        self.neuron, self.args = neuron, args

    def forward(self, x):
        out = self.neuron(x, *self.args)
        return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("make,shape", [
    (lambda: tritonsnn.StateLeaky(beta=0.9, channels=4, learn_beta=True, kernel_truncation_steps=3), (6, 2, 4)),
    (lambda: tritonsnn.LinearLeaky(beta=0.9, in_features=3, out_features=4), (6, 2, 3)),
    (lambda: _Spikes(tritonsnn.DeltaLeaky(beta=0.9, delta_threshold=0.2, learn_beta=True, step_mode="multi"),
                     (None, None)), (6, 2, 4)),
    (lambda: tritonsnn.SLSTM(3, 4, threshold=0.1, step_mode="multi"), (6, 2, 3)),
    (lambda: tritonsnn.SConv2dLSTM(1, 2, 3, threshold=0.1, step_mode="multi"), (3, 2, 1, 5, 5)),
    (lambda: tritonsnn.AssociativeLeaky(3, 2, 2, 4), (20, 2, 3)),
    (lambda: tritonsnn.Leaky(beta=0.9, inhibition=True, learn_beta=True, step_mode="multi"), (6, 2, 4)),
], ids=["stateleaky", "linearleaky", "deltaleaky", "slstm", "sconv2dlstm", "associativeleaky", "inhibition"])
def test_the_other_neurons_compile_without_graph_breaks(make, shape):
    """snnTorch's other neurons (issue 20) under torch.compile(fullgraph=True), against eager.
    LeakyParallel is not here: Dynamo refuses nn.RNN unless torch._dynamo.config.allow_rnn."""
    torch.manual_seed(0)
    model = make().to(DEVICE)
    spikes = model if isinstance(model, _Spikes) else _Spikes(model)
    x = torch.rand(shape, device=DEVICE) * 2 - 0.5
    runs = []
    for run in (spikes, torch.compile(spikes, fullgraph=True, backend="aot_eager")):
        spikes.zero_grad(set_to_none=True)
        out = run(x)
        out.sum().backward()  # (StateLeaky's beta is a parameter snnTorch never uses: no gradient)
        runs.append([out] + [p.grad for p in spikes.parameters() if p.grad is not None])
    assert graph_breaks() == {}
    assert len(runs[0]) == len(runs[1]) > 1
    for i, (eager, compiled) in enumerate(zip(*runs)):
        assert_close(compiled, eager, 1e-5 if i == 0 else 1e-4, "output" if i == 0 else "parameter gradient")
