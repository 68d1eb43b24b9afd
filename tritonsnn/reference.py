"""The oracle: snnTorch's equations as a plain PyTorch time loop, autograd through every step.

Slow on purpose and written to be read: one line per equation, no fusion, no hand-written
backward. Every fused implementation is tested against it (outputs, final state, every gradient).
The state and the math stay in fp32 (fp64 for fp64 inputs) across the loop; for low-precision
inputs the membrane is rounded to the input dtype where it is stored, and thresholds compare that
stored value: the documented semantics of the fused kernels (spikes always agree with the stored
membrane the backward reads back). For fp32 inputs this is snnTorch's computation exactly.
With per-sample `lengths`, a sample's state is literally frozen past its length and its outputs
there are zeros (`torch.where`, so no gradient flows from those steps).

Each family's loop lives beside its kernels (`tritonsnn.kernels.lif.naive`,
`tritonsnn.kernels.alpha.naive`, `tritonsnn.kernels.rlif.naive`); this module is their public
face, with the signatures of `tritonsnn.functional`. Each also takes snnTorch's `state_quant` (a
function applied to the states each step), which the modules run through them. The neurons
without a reset (`kernels.lif.naive_integrators`: StateLeaky from its convolution's definition,
DeltaLeaky), the spiking LSTMs (`kernels.lstm.naive`) and AssociativeLeaky
(`kernels.associative.naive`) have theirs beside them too.
"""
from tritonsnn.kernels.alpha.naive import alpha
from tritonsnn.kernels.associative.naive import associative_leaky
from tritonsnn.kernels.lif.naive import lapicque, leaky, synaptic
from tritonsnn.kernels.lif.naive_integrators import delta_leaky, state_leaky
from tritonsnn.kernels.lstm.naive import sconv2dlstm, slstm
from tritonsnn.kernels.rlif.naive import rleaky, rsynaptic

__all__ = ["alpha", "associative_leaky", "delta_leaky", "lapicque", "leaky", "rleaky", "rsynaptic", "sconv2dlstm",
           "slstm", "state_leaky", "synaptic"]
