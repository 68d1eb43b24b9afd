"""tritonsnn.from_snntorch: a converted snnTorch model computes the same outputs and gradients
with the same state_dict, and what cannot be converted is refused by name."""
import inspect

import pytest
import snntorch
import torch
from torch import nn

import tritonsnn
from conftest import DEVICE
from helpers import assert_close
from tritonsnn.catalogue import NEURONS, SNNTORCH_CLASSES
from tritonsnn.deltaleaky import REQUIRED


class SnnTorchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.lif1 = snntorch.Leaky(beta=0.85, learn_beta=True, init_hidden=True,
                                   spike_grad=snntorch.surrogate.fast_sigmoid(slope=10))
        self.fc2 = nn.Linear(8, 5)
        self.syn = snntorch.Synaptic(alpha=0.7, beta=0.9, learn_threshold=True, reset_mechanism="zero")
        self.block = nn.Sequential(nn.Linear(5, 4), snntorch.Alpha(alpha=0.9, beta=0.8, init_hidden=True,
                                                                   output=True))
        self.lap = snntorch.Lapicque(R=2.0, C=0.5, time_step=0.5, threshold=0.3)

    def forward(self, x):
        syn, mem = self.syn.init_synaptic()
        mem_l = self.lap.init_lapicque()
        for neuron in (self.lif1, self.block[1]):
            neuron.reset_mem()
        total = 0
        for x_t in x:
            spk1 = self.lif1(self.fc1(x_t))
            spk2, syn, mem = self.syn(self.fc2(spk1), syn, mem)
            spk3, *_ = self.block(spk2)
            spk4, mem_l = self.lap(spk3 * 2, mem_l)
            total = total + spk3 + spk4 + mem.mean()
        return total


def test_converted_model_matches_snntorch(backend):
    torch.manual_seed(0)
    net = SnnTorchNet()
    fused = tritonsnn.from_snntorch(net).to(DEVICE)
    assert isinstance(fused.lif1, tritonsnn.Leaky) and isinstance(fused.syn, tritonsnn.Synaptic)
    assert isinstance(fused.block[1], tritonsnn.Alpha) and isinstance(fused.lap, tritonsnn.Lapicque)
    assert isinstance(net.lif1, snntorch.Leaky)  # the original is untouched
    state, fused_state = net.state_dict(), fused.state_dict()
    assert state.keys() == fused_state.keys()
    for k in state:
        assert torch.equal(state[k], fused_state[k].cpu()), k
    x = torch.randn(6, 3, 6) + 0.3
    out = net(x)
    out.sum().backward()
    out_f = fused(x.to(DEVICE))
    out_f.sum().backward()
    assert_close(out_f.cpu(), out, 1e-5, "output")
    for (name, p), p_f in zip(net.named_parameters(), fused.parameters()):
        assert_close(p_f.grad.cpu(), p.grad, 1e-4, name)


def test_checkpoints_load_both_ways():
    net = SnnTorchNet()
    fused = tritonsnn.from_snntorch(net)
    SnnTorchNet().load_state_dict(fused.state_dict())
    fused.load_state_dict(SnnTorchNet().state_dict())


def test_snntorchs_layers_convert_with_their_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), snntorch.Leaky(beta=0.9), snntorch.GradedSpikes(4, None),
                        snntorch.BatchNormTT1d(4, time_steps=2))
    fused = tritonsnn.from_snntorch(net)
    assert type(fused[2]) is tritonsnn.GradedSpikes and fused[2].weights.requires_grad
    assert torch.equal(fused[2].weights, net[2].weights) and fused[2].weights is not net[2].weights
    assert type(fused[3]) is nn.ModuleList and fused.state_dict().keys() == net.state_dict().keys()
    x = torch.rand(4, 1) * 3
    torch.testing.assert_close(fused[2](fused[1](x)[0]), net[2](net[1](x)[0]))


def test_a_bare_neuron_converts():
    lif = snntorch.Leaky(beta=0.5, threshold=0.7, reset_mechanism="zero", surrogate_disable=True)
    fused = tritonsnn.from_snntorch(lif)
    assert isinstance(fused, tritonsnn.Leaky) and fused.surrogate_disable and fused.reset_mechanism == "zero"


@pytest.mark.parametrize("module,match", [
    (lambda: nn.Sequential(nn.Linear(2, 2), snntorch.SpikingNeuron()), r"1 \(snntorch.*SpikingNeuron\)"),
])
def test_unconvertible_modules_are_refused_by_name(module, match):
    with pytest.raises(TypeError, match=match):
        tritonsnn.from_snntorch(module())


def test_every_neuron_snntorch_exports_converts():
    """Each neuron class snnTorch 1.0.0 exports (its bases LIF and SpikingNeuron aside) has a
    tritonsnn class that from_snntorch converts it to (each is converted in its own tests)."""
    exported = {name for name in dir(snntorch) if isinstance(getattr(snntorch, name), type)
                and issubclass(getattr(snntorch, name), (snntorch.SpikingNeuron, snntorch.LeakyParallel))}
    assert exported - {"LIF", "SpikingNeuron"} == set(SNNTORCH_CLASSES)


@pytest.mark.parametrize("name", list(SNNTORCH_CLASSES))
def test_constructors_take_snntorchs_parameters_in_its_order(name):
    """Positional calls bind as in snnTorch 1.0.0: its parameters, in its order, with its defaults,
    come first; tritonsnn's own options follow."""
    ours = [(p.name, p.default) for p in inspect.signature(getattr(tritonsnn, name)).parameters.values()]
    theirs = [(p.name, p.default) for p in inspect.signature(getattr(snntorch, name)).parameters.values()]
    if name == "DeltaLeaky":  # DeltaLeaky(delta_threshold=1.0, *args, **kwargs) hands the rest to Leaky,
        # whose beta has no default: tritonsnn's says it is required.
        theirs = theirs[:1] + [(n, REQUIRED if n == "beta" else p.default)
                               for n, p in inspect.signature(snntorch.Leaky).parameters.items()]
    assert ours[:len(theirs)] == theirs


@pytest.mark.parametrize("name", list(NEURONS))
def test_every_catalogued_neuron_converts_with_its_options(name):
    """One rule converts every neuron of the catalogue: decays and threshold learnable, a zero
    reset, and (where the neuron has it) the immediate reset; the copy holds the same tensors,
    learns the same ones, and steps to the same spikes and states."""
    neuron = NEURONS[name]
    # snnTorch 1.0.0's Alpha cannot learn alpha (its constructor raises).
    learn = {f"learn_{p}": True for p in neuron.params if (neuron.snntorch, p) != ("Alpha", "alpha")}
    options = {"learn_threshold": True, "reset_mechanism": "zero", **learn,
               **({"reset_delay": False} if neuron.reset_delay else {})}
    theirs = getattr(snntorch, neuron.snntorch)(threshold=neuron.threshold, **neuron.params, **options)
    ours = tritonsnn.from_snntorch(theirs)
    assert type(ours) is neuron.module and ours.reset_mechanism == "zero"
    assert getattr(ours, "reset_delay", True) == options.get("reset_delay", True)
    assert {k: p.requires_grad for k, p in ours.named_parameters()} == {
        k: p.requires_grad for k, p in theirs.named_parameters()}
    for k, v in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k
    torch.manual_seed(0)
    for x_t in torch.randn(8, 5) * neuron.input_scale + neuron.input_scale / 2:
        for got, want in zip(ours(x_t), theirs(x_t)):
            assert_close(got, want, 1e-5, name)


@pytest.mark.parametrize("learn_recurrent", [True, False])
@pytest.mark.parametrize("recurrent", [dict(linear_features=3), dict(conv2d_channels=2, kernel_size=3),
                                       dict(all_to_all=False, V=torch.tensor([0.5, 0.7, 0.9]))],
                         ids=["linear", "conv", "v"])
@pytest.mark.parametrize("name", ["RLeaky", "RSynaptic"])
def test_recurrent_neurons_convert_with_their_weights(name, recurrent, learn_recurrent):
    decays = dict(beta=0.8) if name == "RLeaky" else dict(alpha=0.7, beta=0.8)
    theirs = getattr(snntorch, name)(**decays, **recurrent, learn_recurrent=learn_recurrent, learn_beta=True,
                                     reset_mechanism="zero")
    net = nn.Sequential(nn.Identity(), theirs)
    fused = tritonsnn.from_snntorch(net)[1]
    assert type(fused) is getattr(tritonsnn, name) and fused.reset_mechanism == "zero"
    assert fused.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(fused.state_dict()[key], value), key
    assert ({n: p.requires_grad for n, p in fused.named_parameters()}
            == {n: p.requires_grad for n, p in theirs.named_parameters()})
    shape = (2, 2, 3, 3) if "conv2d_channels" in recurrent else (2, 3)
    x = torch.rand(shape) + 0.6
    for _ in range(3):
        for a, b in zip(fused(x), theirs(x)):
            torch.testing.assert_close(a, b)
    if not recurrent.get("all_to_all", True):
        assert fused.recurrent.V is fused.V
