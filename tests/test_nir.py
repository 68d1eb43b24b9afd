"""NIR export and import (`tritonsnn.export_to_nir`, `import_from_nir`; the `nir` extra): the exact
mapping of a zero reset applied at once, the recorded settings of everything else, round trips
through a file with the same numbers, dt as a parameter, and refusals that name what they
refuse."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import tritonsnn

nir = pytest.importorskip("nir")  # the test extra installs it

T, B = 12, 3
EXACT = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)


def _net(**neuron):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(5, 4), tritonsnn.Leaky(beta=0.85, threshold=0.5, **neuron),
        nn.Sequential(nn.Linear(4, 3, bias=False),
                      tritonsnn.Synaptic(alpha=0.7, beta=torch.tensor([0.9, 0.8, 0.7]), threshold=0.3, **neuron)))


def _run(net, x):
    tritonsnn.utils.reset(net)
    return torch.stack([net(x_t) for x_t in x])


def _x():
    return torch.rand(T, B, 5, generator=torch.Generator().manual_seed(1)) * 2


def test_a_zero_reset_at_once_maps_exactly():
    net = _net(**EXACT)
    graph = tritonsnn.export_to_nir(net, dt=1e-3)
    assert [e for e in graph.edges] == [("input", "0"), ("0", "1"), ("1", "2.0"), ("2.0", "2.1"), ("2.1", "output")]
    lif, cuba = graph.nodes["1"], graph.nodes["2.1"]
    assert isinstance(graph.nodes["0"], nir.Affine) and isinstance(graph.nodes["2.0"], nir.Linear)
    np.testing.assert_allclose(lif.tau, np.full(4, 1e-3 / 0.15), rtol=1e-6)  # a per-layer beta, broadcast
    np.testing.assert_allclose(lif.r, lif.tau / 1e-3, rtol=1e-6)
    np.testing.assert_allclose(cuba.tau_mem, 1e-3 / (1 - np.array([0.9, 0.8, 0.7])), rtol=1e-6)
    np.testing.assert_allclose(cuba.w_in, cuba.tau_syn / 1e-3, rtol=1e-6)
    assert lif.v_threshold.shape == (4,) and not lif.v_reset.any() and not lif.v_leak.any()
    for node in (lif, cuba):  # a graph from elsewhere has no tritonsnn metadata: NIR's own semantics
        node.metadata = {}
    imported = tritonsnn.import_from_nir(graph, dt=1e-3)
    assert [type(m).__name__ for m in imported] == ["Linear", "Leaky", "Linear", "Synaptic"]
    assert imported[1].reset_mechanism == "zero" and not imported[1].reset_delay
    x = _x()
    ours, theirs = _run(imported, x), _run(net, x)
    assert torch.equal(ours, theirs)


def test_other_resets_are_refused_unless_approximate_and_then_come_back(tmp_path):
    net = _net(init_hidden=True, reset_mechanism="subtract")
    with pytest.raises(ValueError, match=r"^export_to_nir: 1 \(Leaky\) has reset_mechanism='subtract', "
                                         r"reset_delay=True, .*approximate=True"):
        tritonsnn.export_to_nir(net)
    graph = tritonsnn.export_to_nir(net, approximate=True)
    nir.write(tmp_path / "net.nir", graph)
    imported = tritonsnn.import_from_nir(nir.read(tmp_path / "net.nir"))
    assert imported[3].reset_mechanism == "subtract" and imported[3].reset_delay
    x = _x()
    assert torch.equal(_run(imported, x), _run(net, x))


def test_graded_spikes_need_approximate_too():
    net = nn.Sequential(nn.Linear(2, 2), tritonsnn.Leaky(beta=0.9, graded_spikes_factor=2.0, **EXACT))
    with pytest.raises(ValueError, match="graded spikes"):
        tritonsnn.export_to_nir(net)
    imported = tritonsnn.import_from_nir(tritonsnn.export_to_nir(net, approximate=True))
    x = torch.rand(T, B, 2) * 3
    assert torch.equal(_run(imported, x), _run(net, x))


def test_what_this_version_cannot_carry_is_named():
    with pytest.raises(TypeError, match=r"cannot export 1 \(ReLU\)"):
        tritonsnn.export_to_nir(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    with pytest.raises(TypeError, match=r"cannot export 1 \(DeltaLeaky\)"):  # a Leaky, but not Leaky's function
        tritonsnn.export_to_nir(nn.Sequential(nn.Linear(2, 2), tritonsnn.DeltaLeaky(beta=0.9)))

    class MyLeaky(tritonsnn.Leaky):  # a user's subclass is not traced into either
        pass

    with pytest.raises(TypeError, match=r"cannot export 1 \(MyLeaky\)"):
        tritonsnn.export_to_nir(nn.Sequential(nn.Linear(2, 2), MyLeaky(beta=0.9)))
    with pytest.raises(ValueError, match="needs sample_data"):
        tritonsnn.export_to_nir(nn.Sequential(tritonsnn.Leaky(beta=0.9, **EXACT)))
    graph = tritonsnn.export_to_nir(nn.Sequential(tritonsnn.Leaky(beta=0.9, **EXACT)), sample_data=torch.zeros(1, 3))
    assert graph.nodes["input"].input_type["input"].tolist() == [3]
    scaled = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])), "s": nir.Scale(scale=np.ones(4)),
                                 "output": nir.Output(output_type=np.array([4]))},
                          edges=[("input", "s"), ("s", "output")])
    with pytest.raises(NotImplementedError, match="node 's' is a Scale"):
        tritonsnn.import_from_nir(scaled)
    graph = tritonsnn.export_to_nir(nn.Sequential(nn.Linear(2, 2), tritonsnn.Leaky(beta=0.9, **EXACT)))
    graph.edges.append(("0", "output"))
    with pytest.raises(NotImplementedError, match="node '0' feeds more than one node"):
        tritonsnn.import_from_nir(graph)
    graph = tritonsnn.export_to_nir(nn.Sequential(nn.Linear(2, 2), tritonsnn.Leaky(beta=0.9, **EXACT)))
    graph.nodes["1"].v_leak = np.ones(2, dtype=np.float32)
    with pytest.raises(NotImplementedError, match="node '1' has v_leak"):
        tritonsnn.import_from_nir(graph)


def test_snntorchs_import_reads_the_exact_mapping_alike():
    """snnTorch 1.0.0's import_from_nir (through nirtorch) runs an exported chain with a zero reset
    applied at once to the same spikes. (The other direction, snnTorch's export_to_nir, fails
    NIR 1.0.8's type inference on a Linear chain before writing a graph.)"""
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    net = _net(**EXACT)
    theirs = import_from_nir(tritonsnn.export_to_nir(net))
    x = _x()
    state, spikes = None, []
    for x_t in x:
        spk, state = theirs(x_t) if state is None else theirs(x_t, state)
        spikes.append(spk)
    assert torch.equal(torch.stack(spikes), _run(net, x))


def test_a_convolutional_chain_comes_back(tmp_path):
    """Conv2d, AvgPool2d and Flatten with per-sample shapes from sample_data (NIR's leave out the
    batch: Flatten's dimensions are torch's less one), a per-channel beta broadcast to the layer's
    neurons [C, H, W], and the same spikes after a round trip through a file."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1),
                        tritonsnn.Leaky(beta=torch.tensor([0.9, 0.8, 0.7, 0.6]).view(4, 1, 1), threshold=0.3,
                                        init_hidden=True),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 5),
                        tritonsnn.Synaptic(alpha=0.7, beta=0.8, threshold=0.2, init_hidden=True))
    x = torch.rand(6, 2, 1, 8, 8, generator=torch.Generator().manual_seed(2)) * 2
    with pytest.raises(ValueError, match="needs sample_data"):
        tritonsnn.export_to_nir(net, approximate=True)
    graph = tritonsnn.export_to_nir(net, sample_data=x[0], approximate=True)
    assert [type(graph.nodes[str(i)]).__name__ for i in range(6)] == ["Conv2d", "LIF", "AvgPool2d", "Flatten",
                                                                       "Affine", "CubaLIF"]
    assert graph.nodes["1"].tau.shape == (4, 8, 8) and graph.nodes["3"].start_dim == 0
    nir.write(tmp_path / "conv.nir", graph)
    imported = tritonsnn.import_from_nir(nir.read(tmp_path / "conv.nir"))
    assert imported[3].start_dim == 1
    spikes = _run(net, x)
    assert spikes.sum() > 0 and torch.equal(_run(imported, x), spikes)
    with pytest.raises(ValueError, match="flattens the batch dimension"):
        tritonsnn.export_to_nir(nn.Sequential(nn.Flatten(0)), sample_data=x[0])


def test_recurrent_neurons_are_subgraphs_that_come_back(tmp_path):
    """RLeaky and RSynaptic as snnTorch writes them, a subgraph whose neuron feeds back through
    its recurrent term (an Affine for a Linear term, a diagonal Linear for V), and back. RSynaptic
    resets with a delay whatever its reset_delay says, so it needs approximate=True."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), tritonsnn.RLeaky(beta=0.85, linear_features=4, threshold=0.2, **EXACT),
                        nn.Linear(4, 3),
                        tritonsnn.RSynaptic(alpha=0.7, beta=0.8, all_to_all=False, V=torch.tensor([0.5, -0.3, 0.2]),
                                            threshold=0.02, init_hidden=True, reset_mechanism="zero"))
    with pytest.raises(ValueError, match=r"3 \(RSynaptic\) has reset_delay=True"):
        tritonsnn.export_to_nir(net)
    graph = tritonsnn.export_to_nir(net, approximate=True)
    rleaky, rsynaptic = graph.nodes["1"], graph.nodes["3"]
    assert isinstance(rleaky, nir.NIRGraph) and isinstance(rleaky.nodes["w_rec"], nir.Affine)
    assert ("w_rec", "lif") in rleaky.edges and isinstance(rsynaptic.nodes["lif"], nir.CubaLIF)
    np.testing.assert_array_equal(rsynaptic.nodes["w_rec"].weight, np.diag([0.5, -0.3, 0.2]).astype(np.float32))
    nir.write(tmp_path / "recurrent.nir", graph)
    imported = tritonsnn.import_from_nir(nir.read(tmp_path / "recurrent.nir"))
    assert imported[1].all_to_all and not imported[3].all_to_all
    x = _x() * 2
    spikes = _run(net, x)
    assert spikes.sum() > T and torch.equal(_run(imported, x), spikes)


def test_a_recurrent_conv2d_term_comes_back(tmp_path):
    """RLeaky's Conv2d term (padding kernel_size // 2) is the subgraph's w_rec as a NIR Conv2d."""
    torch.manual_seed(0)
    net = nn.Sequential(tritonsnn.nn.Conv2d(1, 2, 3, padding=1),
                        tritonsnn.RLeaky(beta=0.8, conv2d_channels=2, kernel_size=3, threshold=0.3, **EXACT),
                        nn.Flatten(), nn.Linear(32, 3), tritonsnn.Leaky(beta=0.9, threshold=0.1, **EXACT))
    x = torch.rand(T, B, 1, 4, 4, generator=torch.Generator().manual_seed(3)) * 3
    graph = tritonsnn.export_to_nir(net, sample_data=x[0])
    w_rec = graph.nodes["1"].nodes["w_rec"]
    assert isinstance(w_rec, nir.Conv2d) and tuple(w_rec.padding) == (1, 1)
    nir.write(tmp_path / "conv_recurrent.nir", graph)
    imported = tritonsnn.import_from_nir(nir.read(tmp_path / "conv_recurrent.nir"))
    assert imported[1].conv2d_channels == 2 and imported[1].kernel_size == (3, 3)
    assert torch.equal(imported[1].recurrent.weight, net[1].recurrent.weight)
    spikes = _run(net, x)
    assert spikes.sum() > 0 and torch.equal(_run(imported, x), spikes)
    w_rec.stride = (2, 2)
    with pytest.raises(NotImplementedError, match="recurrent Conv2d is not RLeaky's"):
        tritonsnn.import_from_nir(graph)


def _readme_net() -> type:
    """The model of the README's torch.compile example, as the README defines it."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "class Net(" in b)
    namespace = {}
    exec(block.split("net = torch.compile")[0], namespace)
    return namespace["Net"]


def test_the_readme_compile_model_exports_and_comes_back(tmp_path):
    """A module whose forward calls its layers (traced), multi-step neurons, and the sum over time
    as NIR's integrator: after T steps the imported model outputs what the model returns. The
    compiled model (the README's `net`) exports as the model it compiles."""
    torch.manual_seed(0)
    net = _readme_net()()
    with pytest.raises(ValueError, match=r"lif1 \(Leaky\) has reset_mechanism='subtract'"):
        tritonsnn.export_to_nir(net)
    graph = tritonsnn.export_to_nir(net, approximate=True, dt=1e-3)
    assert graph.edges == [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "sum_1"),
                           ("sum_1", "output")]
    assert isinstance(graph.nodes["sum_1"], nir.I) and np.allclose(graph.nodes["sum_1"].r, 1e3)
    nir.write(tmp_path / "readme.nir", graph)
    imported = tritonsnn.import_from_nir(nir.read(tmp_path / "readme.nir"), dt=1e-3)
    assert [type(m).__name__ for m in imported] == ["Linear", "Leaky", "Linear", "Synaptic", "Integrator"]
    x = torch.rand(T, B, 700, generator=torch.Generator().manual_seed(4))
    counts = net(x)
    assert counts.sum() > 0 and torch.equal(_run(imported, x)[-1], counts)
    with_sample = tritonsnn.export_to_nir(torch.compile(net), sample_data=x, approximate=True, dt=1e-3)
    assert with_sample.nodes["input"].input_type["input"].tolist() == [700]
    with pytest.raises(ValueError, match="exported at another dt"):
        tritonsnn.import_from_nir(graph, dt=1e-4)  # its recorded decays would not be the graph's taus
    again = tritonsnn.import_from_nir(tritonsnn.export_to_nir(imported, approximate=True, dt=1e-3), dt=1e-3)
    assert torch.equal(_run(again, x)[-1], counts)  # the imported model exports too, its Integrator as I


class SteppedNet(nn.Module):
    """A forward of one step, snnTorch's way without init_hidden: the neuron keeps its own state
    between calls and returns (spk, mem), a flatten as a function, a nested Sequential."""

    def __init__(self):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(8, 5), tritonsnn.Leaky(beta=0.8, threshold=0.4, reset_mechanism="zero",
                                                                reset_delay=False)
        self.block = nn.Sequential(tritonsnn.nn.Linear(5, 3), tritonsnn.Leaky(beta=0.7, threshold=0.2, **EXACT))

    def forward(self, x, unused=None):
        spk1, mem1 = self.lif1(self.fc1(torch.flatten(x, 1)))
        return self.block(spk1)


def test_a_forward_of_one_step_is_traced():
    torch.manual_seed(0)
    net = SteppedNet()
    graph = tritonsnn.export_to_nir(net, sample_data=torch.zeros(B, 2, 4))
    assert graph.edges == [("input", "flatten"), ("flatten", "fc1"), ("fc1", "lif1"), ("lif1", "block.0"),
                           ("block.0", "block.1"), ("block.1", "output")]
    assert isinstance(graph.nodes["block.0"], nir.Affine)  # tritonsnn.nn.Linear is torch's Linear
    imported = tritonsnn.import_from_nir(graph)
    x = torch.rand(T, B, 2, 4, generator=torch.Generator().manual_seed(5)) * 2
    spikes = _run(net, x)
    assert spikes.sum() > 0 and torch.equal(_run(imported, x), spikes)


class FromRest(nn.Module):
    """snnTorch's tutorial style on a whole sequence: the states initialised in the forward."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.lif = tritonsnn.Leaky(beta=0.8, threshold=0.3, step_mode="multi", reset_mechanism="zero",
                                   reset_delay=False)

    def forward(self, x):
        mem = self.lif.init_leaky()
        spk, mem = self.lif(self.fc(x), mem)
        return spk


def test_initial_states_in_the_forward_of_a_sequence_are_rest():
    """A multi-step call from init_leaky() runs the sequence from rest, as NIR's neurons do; a
    single-step one would restart every step, which NIR cannot say (refused in the next test)."""
    torch.manual_seed(0)
    net = FromRest()
    imported = tritonsnn.import_from_nir(tritonsnn.export_to_nir(net))
    x = torch.rand(T, B, 4, generator=torch.Generator().manual_seed(7)) * 2
    spikes = net(x)
    assert spikes.sum() > 0 and torch.equal(_run(imported, x), spikes)


class _Model(nn.Module):
    def __init__(self, forward):
        super().__init__()
        self.fc, self.fc2 = nn.Linear(3, 3), nn.Linear(3, 3)
        self.lif = tritonsnn.Leaky(beta=0.9, **EXACT)
        self.multi = tritonsnn.Leaky(beta=0.9, step_mode="multi", reset_mechanism="zero", reset_delay=False)
        self.count = tritonsnn.Integrator()
        self._forward = forward

    def forward(self, x):
        return self._forward(self, x)


@pytest.mark.parametrize("forward, error", [
    (lambda m, x: torch.stack([m.lif(m.fc(x)) for _ in range(3)]), r"fc is called more than once \(a loop over time"),
    (lambda m, x: m.multi(m.fc(x))[1], r"returns|takes multi's output 1 \(a state\)"),
    (lambda m, x: m.fc2(m.multi(m.fc(x))[1]), r"fc2 takes multi's output 1 \(a state\)"),
    (lambda m, x: torch.relu(m.fc(x)), r"cannot export relu"),
    (lambda m, x: m.fc(x) + m.fc2(x), r"x feeds more than one layer"),
    (lambda m, x: m.lif(m.fc(x)).sum(0), r"sum over time only in a model of step_mode='multi'"),
    (lambda m, x: m.fc(m.multi(m.fc2(x))[0].sum(0)), r"fc comes after the sum over time"),
    (lambda m, x: m.multi(x), r"tuple of outputs whole"),
    (lambda m, x: m.count(m.multi(x)[0]), r"an Integrator sums one step per call"),
    (lambda m, x: m.lif(m.fc(x), lengths=torch.ones(2, dtype=torch.long)), r"lif is called with more than its input"),
    (lambda m, x: m.lif(m.fc(x), m.lif.init_leaky()), r"lif is given its initial states .* one step from rest"),
])
def test_what_a_forward_may_do_is_checked(forward, error):
    with pytest.raises(TypeError, match=error):
        tritonsnn.export_to_nir(_Model(forward), sample_data=torch.zeros(2, 3))


def test_a_forward_needing_more_than_its_input_is_refused():
    class TakesState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = tritonsnn.Leaky(beta=0.9, **EXACT)

        def forward(self, x, mem):
            return self.lif(x, mem)

    with pytest.raises(TypeError, match="needs 'mem' besides its input"):
        tritonsnn.export_to_nir(TakesState(), sample_data=torch.zeros(2, 3))


def test_lapicque_is_a_lif_with_its_r_and_c(tmp_path):
    """Lapicque's circuit as NIR's LIF: r = R, tau = R C dt / time_step; its reset is delayed (as
    in snnTorch), so it needs approximate=True, and its circuit comes back as given (R and C, or
    a learnt beta with R)."""
    torch.manual_seed(0)
    x = torch.rand(T, B, 4, generator=torch.Generator().manual_seed(6)) * 4
    for lapicque in (tritonsnn.Lapicque(R=5.0, C=2e-3, time_step=1e-3, threshold=0.2, init_hidden=True),
                     tritonsnn.Lapicque(beta=0.8, R=2, learn_beta=True, threshold=0.2, init_hidden=True,
                                        reset_mechanism="zero")):
        net = nn.Sequential(nn.Linear(4, 3), lapicque)
        with pytest.raises(ValueError, match=r"1 \(Lapicque\) has .*reset_delay=True"):
            tritonsnn.export_to_nir(net, dt=1e-3)
        graph = tritonsnn.export_to_nir(net, dt=1e-3, approximate=True)
        node = graph.nodes["1"]
        assert isinstance(node, nir.LIF)
        if not lapicque.learn_beta:
            np.testing.assert_allclose(node.r, 5.0, rtol=1e-7)
            np.testing.assert_allclose(node.tau, 5.0 * 2e-3, rtol=1e-7)
        nir.write(tmp_path / "lapicque.nir", graph)
        imported = tritonsnn.import_from_nir(nir.read(tmp_path / "lapicque.nir"), dt=1e-3)
        assert type(imported[1]) is tritonsnn.Lapicque and imported[1].learn_beta == lapicque.learn_beta
        spikes = _run(net, x)
        assert spikes.sum() > 0 and torch.equal(_run(imported, x), spikes)
    node.metadata = {}  # NIR's own LIF with r != tau / dt: no tritonsnn neuron resets at once and scales its input
    with pytest.raises(NotImplementedError, match=r"node '1' has r = .*imports r = tau / dt only"):
        tritonsnn.import_from_nir(graph, dt=1e-3)


def test_snntorchs_export_imports_alike():
    """snnTorch 1.0.0 -> NIR -> tritonsnn: snnTorch's exporter (which writes per-neuron types only
    for per-neuron parameters and needs ignore_dims=[0] for the batch) and tritonsnn's import give
    snnTorch's spikes, for a zero reset applied at once (the one NIR says), recurrent layers too."""
    pytest.importorskip("nirtorch")
    import snntorch
    import snntorch.utils
    from snntorch.export_nir import export_to_nir

    def per_neuron(n, value):
        return torch.full((n,), value)

    zero = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    torch.manual_seed(0)
    theirs = nn.Sequential(
        nn.Linear(5, 4), snntorch.Leaky(beta=per_neuron(4, 0.9), threshold=per_neuron(4, 0.5), **zero),
        nn.Linear(4, 4), snntorch.RLeaky(beta=per_neuron(4, 0.8), threshold=per_neuron(4, 0.3), linear_features=4,
                                         **zero),
        nn.Linear(4, 3), snntorch.Synaptic(alpha=per_neuron(3, 0.7), beta=per_neuron(3, 0.8),
                                           threshold=per_neuron(3, 0.3), **zero))
    graph = export_to_nir(theirs, torch.rand(2, 5), ignore_dims=[0])
    ours = tritonsnn.import_from_nir(graph)
    assert [type(m).__name__ for m in ours] == ["Linear", "Leaky", "Linear", "RLeaky", "Linear", "Synaptic"]
    x = _x() * 2
    snntorch.utils.reset(theirs)
    expected = torch.stack([theirs(x_t) for x_t in x])
    assert expected.sum() > 0 and torch.equal(_run(ours, x), expected)


def test_the_integrator_keeps_its_sum_until_reset():
    count = nn.Sequential(tritonsnn.Integrator(gain=torch.tensor([1.0, 0.5])))
    x = torch.ones(3, 2, requires_grad=True)
    for x_t in x:
        out = count(x_t)
    assert out.tolist() == [3.0, 1.5]
    tritonsnn.utils.detach(count)
    assert not count[0].v.requires_grad and count[0].v.tolist() == [3.0, 1.5]
    tritonsnn.utils.reset(count)
    assert count(x[0]).tolist() == [1.0, 0.5]
