"""snnTorch's spiking LSTMs, SLSTM and SConv2dLSTM: an LSTM cell whose hidden state fires and
resets.

- `kernels.py`: SLSTM's fused kernels, the recurrent product, gates, reset and spike inside one
  time loop forward and backward;
- `launch.py`: their launchers (imported when a kernel runs: Triton is optional);
- `fused.py`: their autograd Function, with the GEMMs around them, and where they apply;
- `aot.py`: their flags for ahead-of-time compilation;
- `naive.py`: the oracle (`tritonsnn.reference.slstm`, `sconv2dlstm`) and the time loop the
  modules run elsewhere;
- `README.md`: the equations and the backward derivation.

SConv2dLSTM has no kernel: its recurrent term is a convolution per step, cuDNN's.
"""
