"""Triton kernels of tritonsnn (installed as `tritonsnn.kernels`); launchers live in `tritonsnn`."""
from .lif import RESET_NONE, RESET_SUBTRACT, RESET_ZERO, lif_bwd_kernel, lif_fwd_kernel
from .surrogates import SURROGATE_IDS, surrogate_grad_kernel

__all__ = [
    "RESET_NONE",
    "RESET_SUBTRACT",
    "RESET_ZERO",
    "SURROGATE_IDS",
    "lif_bwd_kernel",
    "lif_fwd_kernel",
    "surrogate_grad_kernel",
]
