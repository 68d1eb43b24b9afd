"""torch.compile's "tritonsnn" backend (`tritonsnn.time_batching`): the tutorials' loops over
single steps, compiled, become one multi-step op per layer, their per-step Linear and conv
calls one call over the sequence, and the numbers stay eager mode's (1e-5 relative); a chain
whose input depends on its own outputs stays stepped, and correct. Most tests run the rewritten
graph as it is (a backend that only rewrites); one compiles with Inductor, as users do."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import tritonsnn
from tritonsnn import time_batching
from tritonsnn.catalogue import NEURONS

T = 6


class Tutorial5(nn.Module):
    """snnTorch tutorial 5's network, as it is written (smaller)."""

    def __init__(self, neuron="leaky", n_in=12, hidden=10, n_out=4):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(n_in, hidden), NEURONS[neuron].make()
        self.fc2, self.lif2 = nn.Linear(hidden, n_out), NEURONS[neuron].make()

    def forward(self, x):
        states1, states2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        states1 = states1 if isinstance(states1, tuple) else (states1,)
        states2 = states2 if isinstance(states2, tuple) else (states2,)
        spk2_rec, mem2_rec = [], []
        for _ in range(T):
            spk1, *states1 = self.lif1(self.fc1(x), *states1)
            spk2, *states2 = self.lif2(self.fc2(spk1), *states2)
            spk2_rec.append(spk2)
            mem2_rec.append(states2[-1])
        return torch.stack(spk2_rec), torch.stack(mem2_rec)


class Tutorial6(nn.Module):
    """snnTorch tutorial 6's convolutional network, as it is written (smaller)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.lif1 = nn.Conv2d(1, 4, 3), tritonsnn.Leaky(beta=0.5)
        self.conv2, self.lif2 = nn.Conv2d(4, 8, 3), tritonsnn.Leaky(beta=0.5)
        self.fc1, self.lif3 = nn.Linear(8 * 2 * 2, 5), tritonsnn.Leaky(beta=0.5)

    def forward(self, x):
        mem1, mem2, mem3 = self.lif1.init_leaky(), self.lif2.init_leaky(), self.lif3.init_leaky()
        spk3_rec, mem3_rec = [], []
        for _ in range(T):
            spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x), 2), mem1)
            spk2, mem2 = self.lif2(F.max_pool2d(self.conv2(spk1), 2), mem2)
            spk3, mem3 = self.lif3(self.fc1(spk2.view(x.shape[0], -1)), mem3)
            spk3_rec.append(spk3)
            mem3_rec.append(mem3)
        return torch.stack(spk3_rec), torch.stack(mem3_rec)


class Recurrent(nn.Module):
    """A layer fed its own previous spikes: the chain's input depends on the chain."""

    def __init__(self):
        super().__init__()
        self.fc, self.rec, self.lif = nn.Linear(12, 10), nn.Linear(10, 10), tritonsnn.Leaky(beta=0.9)

    def forward(self, x):
        mem, spk, out = self.lif.init_leaky(), torch.zeros(x.shape[0], 10), []
        for _ in range(T):
            spk, mem = self.lif(self.fc(x) + self.rec(spk), mem)
            out.append(spk)
        return torch.stack(out), mem


class Rewriting:
    """A torch.compile backend that runs `batch_time` and then the graph as it is."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, example_inputs):
        time_batching.batch_time(gm)
        self.graphs.append(gm.graph)
        return gm.forward

    def count(self, name: str) -> int:
        return sum(1 for g in self.graphs for n in g.nodes
                   if n.op == "call_function" and name in getattr(n.target, "__name__", str(n.target)))


def _loss_and_grads(model, run, x):
    model.zero_grad()
    spk, mem = run(x)
    loss = (spk * 1.5).sum() + (mem ** 2).sum()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _compiled_like_eager(model, x) -> "Rewriting":
    """Compile `model` with the rewriting backend, check its loss and gradients against eager's,
    and return the backend (its graphs, to count what they keep)."""
    rewriting = Rewriting()
    eager = _loss_and_grads(model, model, x)
    compiled = _loss_and_grads(model, torch.compile(model, backend=rewriting, fullgraph=True), x)
    _assert_close(eager, compiled)
    return rewriting


def _assert_close(eager, compiled):
    (loss, grads), (loss_c, grads_c) = eager, compiled
    torch.testing.assert_close(loss_c, loss, rtol=1e-5, atol=1e-6)
    assert len(grads) == len(grads_c)
    for g, g_c in zip(grads, grads_c):
        torch.testing.assert_close(g_c, g, rtol=1e-5, atol=1e-5 * float(g.abs().max()) + 1e-7)


@pytest.fixture(autouse=True)
def _fresh_compile():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_each_layer_becomes_one_multi_step_op(neuron):
    torch.manual_seed(0)
    model = Tutorial5(neuron)
    x = torch.rand(3, 12) * 2
    rewriting = _compiled_like_eager(model, x)
    op = NEURONS[neuron].ops[0]
    assert rewriting.count(op) == 2  # T single steps per layer before
    assert rewriting.count("linear") == 2  # the same input's fc1 once, fc2 once over the sequence


def test_tutorial6_convolutions_run_once_over_the_sequence():
    torch.manual_seed(0)
    model = Tutorial6()
    x = torch.rand(2, 1, 16, 16) * 3
    rewriting = _compiled_like_eager(model, x)
    assert rewriting.count("lif_fwd") == 3
    assert rewriting.count("conv2d") == 2 and rewriting.count("max_pool2d") == 2


def test_a_recurrent_chain_stays_stepped_and_correct():
    torch.manual_seed(0)
    model = Recurrent()
    x = torch.rand(3, 12) * 2
    rewriting = _compiled_like_eager(model, x)
    assert rewriting.count("lif_fwd") == T


def test_the_tritonsnn_backend_compiles_with_inductor():
    torch.manual_seed(0)
    model = Tutorial5()
    x = torch.rand(3, 12) * 2
    eager = _loss_and_grads(model, model, x)
    compiled = _loss_and_grads(model, torch.compile(model, backend="tritonsnn"), x)
    _assert_close(eager, compiled)


class Encoded(nn.Module):
    """Tutorial 5 fed a spike-encoded input, one step of it per step: `fc1(data[step])`, or
    `for x_t in data` (Synaptic, its states kept by the module: init_hidden)."""

    def __init__(self, unbind: bool):
        super().__init__()
        self.unbind = unbind
        self.fc1, self.lif1 = nn.Linear(12, 10), tritonsnn.Leaky(beta=0.9)
        self.fc2, self.lif2 = nn.Linear(10, 4), tritonsnn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True, output=True)

    def forward(self, data):
        mem1 = self.lif1.init_leaky()
        self.lif2.reset_mem()
        steps = data if self.unbind else (data[step] for step in range(T))
        spikes, mems = [], []
        for x_t in steps:
            spk1, mem1 = self.lif1(self.fc1(x_t), mem1)
            spk2, _, mem2 = self.lif2(self.fc2(spk1))
            spikes.append(spk2)
            mems.append(mem2)
        return torch.stack(spikes), torch.stack(mems)


@pytest.mark.parametrize("unbind", [False, True], ids=["indexed", "iterated"])
def test_a_time_major_input_is_batched_with_its_layer(unbind):
    torch.manual_seed(0)
    model = Encoded(unbind)
    x = (torch.rand(T, 3, 12) > 0.5).float()
    rewriting = _compiled_like_eager(model, x)
    assert rewriting.count("lif_fwd") == 2 and rewriting.count("linear") == 2


class Restarted(nn.Module):
    """A Synaptic layer whose synaptic current is started again from zeros at every step while
    its membrane carries on (given as zeros, or forgotten, so that the op gets none): no chain,
    where the batched neuron would carry the current."""

    def __init__(self, forget: bool):
        super().__init__()
        self.forget = forget
        self.fc, self.lif = nn.Linear(12, 10), tritonsnn.Synaptic(alpha=0.8, beta=0.9)

    def forward(self, x):
        syn, mem = self.lif.init_synaptic()
        out = []
        for _ in range(T):
            if self.forget:
                self.lif.syn = torch.zeros(0)
            spk, _, mem = self.lif(self.fc(x), None if self.forget else torch.zeros(x.shape[0], 10), mem)
            out.append(spk)
        return torch.stack(out), mem


@pytest.mark.parametrize("forget", [False, True], ids=["zeros", "forgotten"])
def test_a_state_started_again_breaks_the_chain(forget):
    torch.manual_seed(0)
    model = Restarted(forget)
    x = torch.rand(3, 12) * 2
    rewriting = _compiled_like_eager(model, x)
    assert rewriting.count("lif_fwd") == T
