"""The recurrent LIF family — snnTorch's RLeaky and RSynaptic — whose step input includes a
recurrent term of the previous spikes:

- `torch_path.py`: a whole sequence as one autograd Function on the torch path (CPU tensors), the
  recurrent GEMM inside its loop and a hand-written reverse-time backward;
- `README.md`: the equations and the backward derivation.

The modules (`tritonsnn.RLeaky`, `tritonsnn.RSynaptic`, `tritonsnn._recurrent`) step the LIF
family's fused single step where this path does not apply.
"""
