"""Triton kernels of tritonsnn (installed as `tritonsnn.kernels`); launchers live in `tritonsnn`."""
from .alpha import alpha_bwd_kernel, alpha_fwd_kernel
from .bits import pack_bits_kernel, unpack_bits_kernel
from .lif import RESET_NONE, RESET_SUBTRACT, RESET_ZERO, lif_bwd_kernel, lif_fwd_kernel
from .surrogates import SURROGATE_IDS, surrogate_grad_kernel

__all__ = [
    "RESET_NONE",
    "RESET_SUBTRACT",
    "RESET_ZERO",
    "SURROGATE_IDS",
    "alpha_bwd_kernel",
    "alpha_fwd_kernel",
    "lif_bwd_kernel",
    "lif_fwd_kernel",
    "pack_bits_kernel",
    "surrogate_grad_kernel",
    "unpack_bits_kernel",
]
