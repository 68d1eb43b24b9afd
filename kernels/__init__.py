"""The fused kernels of tritonsnn and everything each family needs beside them (installed as
`tritonsnn.kernels`; `kernels/README.md` has the layout, each family's README its equations).

One folder per kernel family — `lif/` (Leaky, Synaptic, Lapicque) and `alpha/` (Alpha) — holds
its `@triton.jit` kernels, their launchers, the vectorised torch twin that CPU tensors run, the
`torch.library` ops with their fakes and autograd, the entry point `tritonsnn.functional` calls,
and the naive reference the tests hold them to. Shared by the families: `common.py` (device
functions), `surrogates.py` (surrogate gradients), `codes.py` (the integer codes). `bits.py`
packs binary activations for `tritonsnn.nn`. Nothing is imported here: Triton loads when a
kernel is first needed (`tritonsnn._ops`).
"""
