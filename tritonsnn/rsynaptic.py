"""`tritonsnn.RSynaptic`: snnTorch's recurrent synaptic-conductance LIF neuron (`tritonsnn._recurrent`)."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._neuron import constructor
from tritonsnn._recurrent import RECURRENT_DEFAULTS, RecurrentLIF
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.kernels.rlif import naive
from tritonsnn.synaptic import _parameters


class RSynaptic(RecurrentLIF):
    """Synaptic-conductance LIF neuron whose previous spikes feed back into its synaptic current,
    with snnTorch 1.0.0's constructor, state_dict and results.

    Per step, with a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1), r = H(U[t-1] - threshold) and
    the recurrent term R (as for :class:`tritonsnn.RLeaky`)::

        I[t] = a I[t-1] + X[t] + R(S[t-1])       (never reset; S[0] = 0)
        subtract: U[t] = b U[t-1] + I[t] - r threshold
        zero:     U[t] = (1 - r) (b U[t-1] + I[t])
        none:     U[t] = b U[t-1] + I[t]
        S[t] = H(U[t] - threshold) * graded_spikes_factor

    Calls: ``spk, syn, mem = rsyn(x_t, spk, syn, mem)``, or with ``step_mode="multi"``
    ``spk_seq, syn_seq, mem_seq = rsyn(x_seq, spk0, syn0, mem0)``; otherwise as
    :class:`tritonsnn.RLeaky`. ``reset_delay=False`` changes nothing, as in snnTorch 1.0.0, whose
    RSynaptic applies that reset to its local copies of the arguments and returns the states
    without it (and fails where no ``spk`` is passed); use ``Synaptic`` with an explicit
    recurrent term for the immediate reset.

    Example::

        >>> import torch, tritonsnn as snn
        >>> rsyn = snn.RSynaptic(alpha=0.8, beta=0.9, all_to_all=False, V=0.5, learn_recurrent=False)
        >>> spk, syn, mem = rsyn.init_rsynaptic()
        >>> for x_t in torch.full((3, 1), 0.4):
        ...     spk, syn, mem = rsyn(x_t, spk, syn, mem)
        >>> spk, syn, mem
        (tensor([1.]), tensor([1.4760]), tensor([1.4480]))
    """

    state_names = ("spk", "syn", "mem")
    step_inputs = ("alpha", "beta", "threshold", "graded_spikes_factor")
    __signature__ = constructor("alpha", "beta", "V", "all_to_all", "linear_features", "conv2d_channels",
                                "kernel_size", "threshold", "spike_grad", "surrogate_disable", "init_hidden",
                                "inhibition", "learn_alpha", "learn_beta", "learn_threshold", "learn_recurrent",
                                "reset_mechanism", "state_quant", "output", "reset_delay", "graded_spikes_factor",
                                "learn_graded_spikes_factor", **RECURRENT_DEFAULTS)

    def _setup(self, o: dict) -> None:
        super()._setup(o)
        self._register("alpha", o["alpha"], o["learn_alpha"])

    def init_rsynaptic(self):
        """snnTorch's name for :meth:`reset_mem`: returns the (empty) ``(spk, syn, mem)``."""
        return self.reset_mem()

    def forward(self, input_: torch.Tensor, spk: torch.Tensor | None = None, syn: torch.Tensor | None = None,
                mem: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        return self._forward_recurrent(input_, (spk, syn, mem), lengths)

    def _lif_parameters(self, x):
        return _parameters(x, self.alpha, self.beta, self.threshold, self.graded_spikes_factor)

    def _delayed(self):
        return True  # snnTorch's reset_delay=False resets copies it then drops (see the class)

    def _naive(self, x, term, spk0, starts):
        syn0, mem0 = starts
        return naive.rsynaptic(x, self.alpha, self.beta, term, spk=spk0, syn=syn0, mem=mem0, threshold=self.threshold,
                               spike_grad=self._surrogate(), reset_mechanism=self.reset_mechanism,
                               graded_spikes_factor=self.graded_spikes_factor, state_quant=self.state_quant or None,
                               inhibition=self.inhibition)

    def _cell(self, cur, starts, lengths, parameters):
        syn0, mem0 = starts
        dtypes = _checks.storage_dtypes(cur, None, self.save_dtype, parameters["gsf"], ())
        spk, mem_seq, syn_seq = lif_family.run(x=cur, mem0=mem0, syn0=syn0, **parameters,
                                               reset=_checks.reset_code(self.reset_mechanism), reset_delay=True,
                                               reset_input=True, dtypes=dtypes, surrogate=self._surrogate(),
                                               lengths=lengths)
        return spk, syn_seq, mem_seq
