"""How a kernel family describes its kernels for ahead-of-time compilation (`tritonsnn.aot`):
each family's `aot.py` declares, per kernel, the flags its variants are formed from
(`KernelFlags`), and the cases whose time-loop memory traffic the PTX must match (`Traffic`).
This module is neutral: it imports no family and no Triton."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    kernel: str
    dtype: str  # of the input, its gradient, and (unless `save`) everything else
    flags: tuple[tuple[str, object], ...] = field(default_factory=tuple)
    save: str = ""  # dtype of the stored state sequences (save_dtype), when not `dtype`
    spike: str = ""  # binary spike dtype ("bool", "u8"), when not `dtype`
    per_neuron: bool = False  # parameters (decays, threshold, ...) one per neuron, not scalars
    # The largest power of two (up to 16) dividing N and the time strides: the launcher's N_DIV.
    # At 16 Triton's JIT marks them divisible itself; below, only the kernel's hint says so.
    n_div: int = 16

    def describe(self) -> str:
        stored = "".join(f", {k}={v}" for k, v in (("save", self.save), ("spike", self.spike),
                                                    ("per_neuron", self.per_neuron),
                                                    ("n_div", self.n_div if self.n_div != 16 else 0)) if v)
        return f"{self.kernel}[{self.dtype}{stored}, " + ", ".join(f"{k}={v}" for k, v in self.flags) + "]"


@dataclass(frozen=True)
class KernelFlags:
    """How a kernel's variants are formed: `core` flags change the time step's math; each
    `presence` flag adds an optional tensor and the code reading or writing it; `optional` lists,
    per flag value, the pointers that are then absent (constexpr None). `name` is the
    `@triton.jit` function's, `module` where it lives."""

    name: str
    module: str
    core: dict
    presence: tuple
    defaults: tuple  # the core settings the neurons use by default
    # pointer argument -> role: "data" (the variant's dtype), "state" (save dtype), "spike", "acc",
    # "param", "sg", "seed", or a fixed dtype ("i64", "u8", "i32")
    pointers: dict
    optional: tuple  # (flag, value, pointers absent when the flag has that value)
    surrogate: bool = False
    requires: dict = field(default_factory=dict)  # presence flag -> core flag it needs
    dtypes: tuple = ("fp32", "fp16", "bf16", "fp64")  # the input dtypes its launcher passes it
    storage: bool = True  # whether it takes the storage options (save_dtype, binary spikes)
    # Constexprs and compile options the launcher fixes, for a kernel without the neuron
    # families' BLOCK (the recurrent family's tiles, for one).
    fixed: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def variant(self, dtype: str, core: tuple, present=(), sg=None, save="", spike="",
                per_neuron=False, n_div=16) -> Variant:
        """The variant of this kernel with the `core` settings, the `present`
        optional tensors (a flag whose core flag is off stays off), surrogate `sg` (a registry
        name; ATan by default), the stored dtypes, scalar or per-neuron parameters, and the
        divisibility of N and the time strides (`n_div`)."""
        flags = dict(zip(self.core, core))
        for name in self.presence:
            flags[name] = name in present and flags.get(self.requires.get(name), True)
        if self.surrogate:
            flags["SURROGATE"] = "ATan" if sg is None else sg  # SG_FN and STOCHASTIC in `aot.source`
        return Variant(self.name, dtype, tuple(flags.items()), save, spike, per_neuron, n_div)


@dataclass(frozen=True)
class Traffic:
    """A variant and the memory model its time loop must match: the element size in bytes of
    every tensor it reads (`loads`) and writes (`stores`) once per neuron and step, and the scalar
    loads per thread and step (a gradient broadcast over the neurons is one value per step)."""

    variant: Variant
    loads: tuple[int, ...]
    stores: tuple[int, ...]
    scalars: int = 0
