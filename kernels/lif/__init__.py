"""The first-order LIF family — snnTorch's Leaky, Synaptic and Lapicque — from kernel to oracle:

- `kernels.py`: `lif_fwd_kernel` / `lif_bwd_kernel`, the whole time loop in one launch each;
- `launch.py`: their launchers (layout, buffers, constexpr flags);
- `torch_path.py`: the same algorithm as vectorised torch code (CPU tensors, the torch backend),
  and the forward-mode tangents;
- `fused.py`: the fused forward and backward (Triton or torch path) and their autograd formulas,
  run eagerly as one autograd Function (`Eager`);
- `op.py`: the same as the `torch.library` ops `tritonsnn::lif_fwd` / `lif_bwd` (what compilers
  see), with their fakes;
- `dispatch.py`: `run`, what `tritonsnn.functional` calls: the fused neuron, or the unfused
  backward of a Python surrogate, with forward-mode AD where it records;
- `naive.py`: the naive reference (`tritonsnn.reference.leaky`, `synaptic`, `lapicque`);
- `naive_integrators.py`: the oracles of StateLeaky and DeltaLeaky, which run this family's
  membrane without a reset (`dispatch.integrate`);
- `wta_kernels.py`, `wta.py`: the winner-take-all kernels of Leaky and Synaptic with snnTorch's
  `inhibition`, and their launcher and autograd Function;
- `aot.py`: the kernels' flags for ahead-of-time compilation and their time loops' memory model;
- `README.md`: the equations and the backward derivation.
"""
