"""NIR export and import (`tritonsnn.export_to_nir`, `import_from_nir`; the `nir` extra): the exact
mapping of a zero reset applied at once, the recorded settings of everything else, round trips
through a file with the same numbers, dt as a parameter, and refusals that name what they
refuse."""
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
    with pytest.raises(ValueError, match="exports the Linear and one-to-one"):
        tritonsnn.export_to_nir(nn.Sequential(tritonsnn.RLeaky(beta=0.9, conv2d_channels=2, kernel_size=3, **EXACT)),
                                sample_data=torch.zeros(1, 2, 4, 4))
