"""tritonsnn: spiking neurons whose whole time loop runs as one fused Triton kernel.

A drop-in for snnTorch's neurons and surrogates (`import tritonsnn as snn`), with a vectorised torch
path for CPU tensors and `torch.library` ops that `torch.compile` traces without graph breaks.
"""
from tritonsnn import _ops, _snntorch_helpers, functional, nn, reference, surrogate, utils
from tritonsnn._neuron import LIF, SpikingNeuron
from tritonsnn._ops import register as register_ops
from tritonsnn.alpha import Alpha
from tritonsnn.associative import AssociativeLeaky
from tritonsnn.backend import get_backend, set_backend
from tritonsnn.bntt import BatchNormTT1d, BatchNormTT2d
from tritonsnn.deltaleaky import DeltaLeaky
from tritonsnn.graded_spikes import GradedSpikes
from tritonsnn.integrator import Integrator
from tritonsnn.interop import from_snntorch
from tritonsnn.lapicque import Lapicque
from tritonsnn.leaky import Leaky
from tritonsnn.leakyparallel import LeakyParallel
from tritonsnn.rleaky import RLeaky
from tritonsnn.rsynaptic import RSynaptic
from tritonsnn.slstm import SConv2dLSTM, SLSTM
from tritonsnn.stateleaky import LinearLeaky, StateLeaky
from tritonsnn.synaptic import Stein, Synaptic
from tritonsnn.utils import detach as detach_hidden

__version__ = "0.1.0"


def __getattr__(name: str):
    # NIR's export and import load numpy (and, when called, nir) only when asked for.
    if name in ("export_to_nir", "import_from_nir"):
        from tritonsnn import nir_io
        return getattr(nir_io, name)
    raise AttributeError(f"module 'tritonsnn' has no attribute {name!r}")


_ops.install()
_snntorch_helpers.install()

__all__ = ["Alpha", "AssociativeLeaky", "BatchNormTT1d", "BatchNormTT2d", "DeltaLeaky", "GradedSpikes", "Integrator",
           "LIF", "Lapicque", "Leaky", "LeakyParallel", "LinearLeaky", "RLeaky", "RSynaptic", "SConv2dLSTM", "SLSTM",
           "SpikingNeuron", "StateLeaky", "Stein", "Synaptic", "detach_hidden", "export_to_nir", "from_snntorch",
           "functional", "get_backend", "import_from_nir", "nn", "reference", "register_ops", "set_backend",
           "surrogate", "utils"]
