"""snnTorch's spiking LSTMs, SLSTM and SConv2dLSTM: an LSTM cell whose hidden state fires and
resets. `naive.py` holds the oracle (`tritonsnn.reference.slstm`, `sconv2dlstm`) and the time
loop the modules run with the input's part of the gates computed for every step at once; no
kernel yet (the recurrent product is cuBLAS's or cuDNN's, step by step).
"""
