"""The first-order LIF family — snnTorch's Leaky, Synaptic and Lapicque — from kernel to oracle:

- `kernels.py`: `lif_fwd_kernel` / `lif_bwd_kernel`, the whole time loop in one launch each;
- `launch.py`: their launchers (layout, buffers, constexpr flags);
- `torch_path.py`: the same algorithm as vectorised torch code (CPU tensors, the torch backend),
  and the forward-mode tangents;
- `op.py`: the `torch.library` ops `tritonsnn::lif_fwd` / `lif_bwd`, their fakes and autograd;
- `dispatch.py`: `run`, what `tritonsnn.functional` calls: the op, or the unfused backward of a
  Python surrogate, with forward-mode AD where it records;
- `naive.py`: the naive reference (`tritonsnn.reference.leaky`, `synaptic`, `lapicque`);
- `aot.py`: the kernels' flags for ahead-of-time compilation and their time loops' memory model;
- `README.md`: the equations and the backward derivation.
"""
