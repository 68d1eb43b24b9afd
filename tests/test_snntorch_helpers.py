"""snnTorch's model helpers on tritonsnn neurons: `tritonsnn.utils.reset`/`detach` reach every
neuron of a model, and ported code that still calls `snntorch.utils.reset` or
`snntorch.backprop.BPTT` gets snnTorch's numbers whichever of the two libraries is imported first
(no state carried silently from one batch into the next)."""
import os
import subprocess
import sys
import textwrap
import types
import warnings

import pytest
import torch

import tritonsnn as snn
from tritonsnn import _snntorch_helpers


def _nested_net():
    inner = torch.nn.Sequential(torch.nn.Linear(3, 4), snn.Synaptic(alpha=0.7, beta=0.8, init_hidden=True))
    return torch.nn.Sequential(inner, torch.nn.Linear(4, 2), snn.Leaky(beta=0.9, init_hidden=True))


def test_reset_reaches_neurons_at_every_depth():
    net = _nested_net()
    first = net(torch.ones(5, 3) * 3)
    net(torch.ones(5, 3) * 3)
    snn.utils.reset(net)
    assert all(state.numel() == 0 for state in (net[0][1].syn, net[0][1].mem, net[2].mem))
    torch.testing.assert_close(net(torch.ones(5, 3) * 3), first)  # as from a fresh model


def test_detach_keeps_the_states_and_cuts_the_graph():
    net = _nested_net()
    net(torch.ones(5, 3))
    before = net[0][1].mem.clone()
    assert net[0][1].mem.requires_grad
    snn.utils.detach(net)
    assert not any(s.requires_grad for s in (net[0][1].syn, net[0][1].mem, net[2].mem))
    torch.testing.assert_close(net[0][1].mem, before)
    assert snn.detach_hidden is snn.utils.detach


@pytest.mark.parametrize("helper", [snn.utils.reset, snn.utils.detach])
def test_a_model_is_required(helper):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        helper([snn.Leaky(beta=0.5)])


def test_snntorch_reset_is_extended_once():
    from snntorch import utils

    assert getattr(utils.reset, _snntorch_helpers._MARK)
    reset = utils.reset
    _snntorch_helpers.install()
    _snntorch_helpers.EXTENSIONS["snntorch.utils"](utils)
    assert utils.reset is reset and not getattr(utils.reset.__wrapped__, _snntorch_helpers._MARK, False)


def test_snntorchs_truncated_bptt_refuses_tritonsnn_neurons_by_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # snnTorch's, on its first import
        from snntorch import backprop
    import snntorch.functional as SF

    net = _nested_net()
    data = [(torch.rand(6, 4, 3), torch.randint(0, 2, (4,)))]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for call in (lambda: backprop.TBPTT(net, data, optimizer, SF.ce_rate_loss(), K=2),
                 lambda: backprop.RTRL(net, data, optimizer, SF.ce_rate_loss())):
        with pytest.raises(ValueError, match=r"tritonsnn's \(0.1, 2\).*tritonsnn.utils.detach"):
            call()


def test_snntorchs_nir_export_refuses_tritonsnn_neurons_rather_than_dropping_them():
    exported = []
    export_nir = types.SimpleNamespace(export_to_nir=lambda module, *args, **kwargs: exported.append(module))
    _snntorch_helpers.EXTENSIONS["snntorch.export_nir"](export_nir)  # nir itself is not a test dependency
    plain = torch.nn.Sequential(torch.nn.Linear(2, 2))
    export_nir.export_to_nir(plain, torch.zeros(1, 2))
    assert exported == [plain]
    with pytest.raises(TypeError, match=r"tritonsnn.s neurons \(0.1, 2\).*use tritonsnn.export_to_nir"):
        export_nir.export_to_nir(_nested_net(), torch.zeros(1, 3))


# Runs in a fresh interpreter, so that the import order is the script's own. Each library's model is
# built from the same seed; under no_grad a missed reset would carry the membrane into batch 2.
_PORTED = """
import sys, torch
if sys.argv[1] == "snntorch-first":
    from snntorch import backprop, utils
    import snntorch, snntorch.functional as SF, tritonsnn
else:
    import tritonsnn
    from snntorch import backprop, utils
    import snntorch, snntorch.functional as SF

def model(lib):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), lib.Leaky(beta=0.8, init_hidden=True),
                               torch.nn.Linear(8, 2), lib.Synaptic(alpha=0.5, beta=0.8, init_hidden=True, output=True))

torch.manual_seed(1)
x = torch.rand(2, 6, 4, 3) * 3
data = [(torch.rand(6, 4, 3) * 3, torch.randint(0, 2, (4,))) for _ in range(3)]
results = {}
for lib in (snntorch, tritonsnn):
    net = model(lib)
    with torch.no_grad():
        mems = []
        for batch in x:
            utils.reset(net)
            mems.append(torch.stack([net(x_t)[2] for x_t in batch]))
    net = model(lib)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    losses = [float(backprop.BPTT(net, data, optimizer, SF.ce_rate_loss(), num_steps=False, time_var=True,
                                  time_first=True)) for epoch in range(3)]
    results[lib.__name__] = torch.stack(mems), losses, [p.detach().clone() for p in net.parameters()]
(m1, l1, p1), (m2, l2, p2) = results["snntorch"], results["tritonsnn"]
assert m1.abs().sum() > 0 and len(set(l1)) == 3, "the check needs activity and a moving loss"
torch.testing.assert_close(m2, m1, rtol=1e-5, atol=1e-6)
torch.testing.assert_close(torch.tensor(l2), torch.tensor(l1), rtol=1e-5, atol=1e-6)
for a, b in zip(p2, p1):  # nine SGD steps of fp32 rounding in a different summation order
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
print("ok")
"""


@pytest.mark.parametrize("order", ["snntorch-first", "tritonsnn-first"])
def test_ported_code_calling_snntorchs_reset_and_bptt_gets_snntorchs_numbers(order):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_PORTED), order], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
