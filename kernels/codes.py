"""The integer codes the kernels specialise on, in one table each, for every backend: the
kernels (as constexprs, `kernels/common.py`), the torch twins, the naive reference and the
argument checks all read them from here. Plain Python, so it imports without Triton."""

RESET_SUBTRACT = 0
RESET_ZERO = 1
RESET_NONE = 2
RESET_CODES = {"subtract": RESET_SUBTRACT, "zero": RESET_ZERO, "none": RESET_NONE}
"""snnTorch's reset_mechanism names and their codes (snnTorch's `reset_dict`)."""
