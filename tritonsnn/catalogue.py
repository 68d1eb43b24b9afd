"""The neuron catalogue: one entry per neuron, read by the tests and the benchmark instead of a
table per neuron in each of them. An entry names the neuron's functional form, its naive
reference, its module, its states and typical settings; adding a neuron here enrols it in every
cross-cutting test (per-sample lengths, storage dtypes, op checks, compilation, ahead-of-time
compilation and traffic, reliability) and in `python -m tritonsnn bench`.

Example::

    >>> import tritonsnn
    >>> from tritonsnn.catalogue import NEURONS
    >>> leaky = NEURONS["leaky"]
    >>> spk, mem = leaky.call(tritonsnn.functional, torch.full((3, 1), 0.5), threshold=1.0)
    >>> mem.flatten()
    tensor([0.5000, 0.9500, 1.3550])
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import torch

from tritonsnn.alpha import Alpha
from tritonsnn.associative import AssociativeLeaky
from tritonsnn.deltaleaky import DeltaLeaky
from tritonsnn.lapicque import Lapicque
from tritonsnn.leaky import Leaky
from tritonsnn.leakyparallel import LeakyParallel
from tritonsnn.rleaky import RLeaky
from tritonsnn.rsynaptic import RSynaptic
from tritonsnn.slstm import SConv2dLSTM, SLSTM
from tritonsnn.stateleaky import LinearLeaky, StateLeaky
from tritonsnn.synaptic import Synaptic


@dataclass(frozen=True)
class Neuron:
    """One neuron of the catalogue.

    `name` is its functional form's (`tritonsnn.functional.<name>`) and its reference's
    (`tritonsnn.reference.<name>`); `states` the state sequences that form returns after the
    spikes, under the names it takes their initial values by; `params` its decays as the
    functional form takes them; `threshold` and `input_scale` settings under which inputs
    `N(scale / 2, scale)` spike often; `module_params` the module's constructor arguments for the
    same neuron with its decays learnable; `family` the kernel folder (`tritonsnn/kernels/<family>/`)
    and `ops` its `torch.ops.tritonsnn` forward and backward; `snntorch` snnTorch 1.0.0's class of
    the same neuron (what `tritonsnn.from_snntorch` converts, what the tests compare with);
    `model_bytes` the bytes its forward and backward move per neuron-step in fp32 (the time loops'
    traffic that `kernels/<family>/aot.py` declares, plus any pass outside them), the benchmark's
    bandwidth model."""

    name: str
    module: type
    states: tuple[str, ...]
    params: dict
    threshold: float
    input_scale: float
    module_params: dict
    family: str
    ops: tuple[str, str]
    snntorch: str
    model_bytes: tuple[int, int]
    reset_delay: bool = True  # whether it takes reset_delay

    def call(self, impl: ModuleType, x: torch.Tensor, states=None, **kwargs):
        """(spk, *state sequences) of `impl`'s form of the neuron (`tritonsnn.functional` or
        `tritonsnn.reference`) over x, from the initial `states` (in `self.states` order; None:
        zeros), with the catalogue's decays and threshold unless `kwargs` gives others."""
        given = {"threshold": self.threshold, **self.params, **kwargs}
        if states is not None:
            given.update(zip(self.states, states))
        return getattr(impl, self.name)(x, **given)

    def make(self, **kwargs) -> torch.nn.Module:
        """The module of the neuron, its decays learnable, with `kwargs` on top."""
        return self.module(**{"threshold": self.threshold, **self.module_params, **kwargs})


NEURONS = {n.name: n for n in (
    Neuron("leaky", Leaky, ("mem",), {"beta": 0.9}, 0.7, 0.6, {"beta": 0.85, "learn_beta": True},
           "lif", ("lif_fwd", "lif_bwd"), "Leaky", (12, 12)),
    Neuron("synaptic", Synaptic, ("syn", "mem"), {"alpha": 0.8, "beta": 0.9}, 0.7, 0.4,
           {"alpha": 0.8, "beta": 0.85, "learn_alpha": True, "learn_beta": True},
           "lif", ("lif_fwd", "lif_bwd"), "Synaptic", (16, 12)),
    Neuron("lapicque", Lapicque, ("mem",), {"beta": 0.9}, 0.2, 2.0, {"beta": 0.9, "learn_beta": True},
           "lif", ("lif_fwd", "lif_bwd"), "Lapicque", (20, 20), reset_delay=False),  # + scaling x by dt/C, and back
    Neuron("alpha", Alpha, ("syn_exc", "syn_inh", "mem"), {"alpha": 0.9, "beta": 0.8}, 0.2, 0.8,
           {"alpha": 0.9, "beta": 0.8, "learn_alpha": True, "learn_beta": True},
           "alpha", ("alpha_fwd", "alpha_bwd"), "Alpha", (20, 12), reset_delay=False),
)}
"""Every neuron tritonsnn fuses, by functional name."""

INTEGRATORS = {"state_leaky": StateLeaky, "delta_leaky": DeltaLeaky}
"""The neurons without a reset, by functional name: their time loop is the LIF family's membrane
with reset "none" (`kernels.lif.dispatch.integrate`), their spikes elementwise functions of it
computed after it. They take no reset, per-sample lengths or storage options, so they are not in
NEURONS, whose entries every cross-cutting test runs with those."""

SNNTORCH_CLASSES = {**{n.snntorch: n.module for n in NEURONS.values()}, "RLeaky": RLeaky, "RSynaptic": RSynaptic,
                    "StateLeaky": StateLeaky, "LinearLeaky": LinearLeaky, "DeltaLeaky": DeltaLeaky, "SLSTM": SLSTM,
                    "SConv2dLSTM": SConv2dLSTM, "LeakyParallel": LeakyParallel, "AssociativeLeaky": AssociativeLeaky}
"""Every snnTorch 1.0.0 neuron tritonsnn has, by snnTorch's class name, and its tritonsnn class
(what `tritonsnn.from_snntorch` converts)."""

RECURRENT_FAMILY = "rlif"
"""The kernel folder of RLeaky and RSynaptic, which the catalogue does not hold: their recurrent
term is a layer of the module, not a parameter of a functional form. Its ops and kernels are
registered and compiled beside the catalogued families' (`tritonsnn._ops`, `tritonsnn.aot`)."""

RESETS = ("subtract", "zero", "none")


def cases() -> list[tuple[str, str, bool]]:
    """Every (neuron, reset mechanism, reset_delay) the neurons take."""
    return [(name, reset, delay) for name, n in NEURONS.items() for reset in RESETS
            for delay in ((True, False) if n.reset_delay else (True,))]

