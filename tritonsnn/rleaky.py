"""`tritonsnn.RLeaky`: snnTorch's recurrent leaky integrate-and-fire neuron (`tritonsnn._recurrent`)."""
from __future__ import annotations

import torch

from tritonsnn import _checks
from tritonsnn._neuron import constructor
from tritonsnn._recurrent import RECURRENT_DEFAULTS, RecurrentLIF
from tritonsnn.kernels.lif import dispatch as lif_family
from tritonsnn.kernels.rlif import naive
from tritonsnn.leaky import _parameters


class RLeaky(RecurrentLIF):
    """Leaky integrate-and-fire neuron whose previous spikes feed back into its input, with
    snnTorch 1.0.0's constructor, state_dict and results.

    Per step, with b = clamp(beta, 0, 1), r = H(U[t-1] - threshold) and the recurrent term
    R (``recurrent``: a Linear or Conv2d layer, or V elementwise with ``all_to_all=False``)::

        I[t] = X[t] + R(S[t-1])                 (S[0] = 0: a layer's R starts as its bias)
        subtract: U[t] = b U[t-1] + I[t] - r threshold
        zero:     U[t] = (1 - r) (b U[t-1] + I[t])   (the input is zeroed too, unlike Leaky)
        none:     U[t] = b U[t-1] + I[t]
        S[t] = H(U[t] - threshold) * graded_spikes_factor

    Calls: ``spk, mem = rlif(x_t, spk, mem)`` one step at a time, or with ``step_mode="multi"``
    ``spk_seq, mem_seq = rlif(x_seq, spk0, mem0)`` over a time-major ``x_seq: [T, *neurons]``;
    state handling, ``init_hidden``, ``output`` and per-sample ``lengths`` as for
    :class:`tritonsnn.Leaky`. ``learn_recurrent`` (default True) makes the recurrent weights
    (or V) learnable. A whole sequence with a Linear term or V runs as one fused kernel on a GPU
    (the recurrent product inside its time loop) and as one Function on the CPU; otherwise each
    step runs the recurrent term and then the fused update. ``graded_spikes_factor`` is an
    addition to snnTorch's signature.

    Example::

        >>> import torch, tritonsnn as snn
        >>> rlif = snn.RLeaky(beta=0.9, all_to_all=False, V=0.5, learn_recurrent=False)
        >>> spk, mem = rlif.init_rleaky()
        >>> for x_t in torch.full((3, 1), 0.6):
        ...     spk, mem = rlif(x_t, spk, mem)
        >>> spk, mem
        (tensor([1.]), tensor([1.1260]))
    """

    state_names = ("spk", "mem")
    step_settings = RecurrentLIF.step_settings + ("reset_delay",)
    step_inputs = ("beta", "threshold", "graded_spikes_factor")
    __signature__ = constructor("beta", "V", "all_to_all", "linear_features", "conv2d_channels", "kernel_size",
                                "threshold", "spike_grad", "surrogate_disable", "init_hidden", "inhibition",
                                "learn_beta", "learn_threshold", "learn_recurrent", "reset_mechanism", "state_quant",
                                "output", "reset_delay", "graded_spikes_factor", "learn_graded_spikes_factor",
                                **RECURRENT_DEFAULTS)

    def init_rleaky(self):
        """snnTorch's name for :meth:`reset_mem`: returns the (empty) ``(spk, mem)``."""
        return self.reset_mem()

    def forward(self, input_: torch.Tensor, spk: torch.Tensor | None = None, mem: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None):
        return self._forward_recurrent(input_, (spk, mem), lengths)

    def _lif_parameters(self, x):
        return _parameters(x, self.beta, self.threshold, self.graded_spikes_factor)

    def _naive(self, x, term, spk0, starts):
        (mem0,) = starts
        return naive.rleaky(x, self.beta, term, spk=spk0, mem=mem0, threshold=self.threshold,
                            spike_grad=self._surrogate(), reset_mechanism=self.reset_mechanism,
                            reset_delay=self._delayed(), graded_spikes_factor=self.graded_spikes_factor,
                            state_quant=self.state_quant or None, inhibition=self.inhibition)

    def _cell(self, cur, starts, lengths, parameters):
        (mem0,) = starts
        dtypes = _checks.storage_dtypes(cur, None, self.save_dtype, parameters["gsf"], ())
        spk, mem_seq, _ = lif_family.run(x=cur, mem0=mem0, syn0=None, alpha=None, **parameters,
                                         reset=_checks.reset_code(self.reset_mechanism),
                                         reset_delay=self._delayed(), reset_input=True, dtypes=dtypes,
                                         surrogate=self._surrogate(), lengths=lengths)
        return spk, mem_seq
