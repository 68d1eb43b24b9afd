"""The `torch.library` ops (`torch.ops.tritonsnn.*`), registered when first needed rather than by
`import tritonsnn`: registering a `triton_op` imports torch._dynamo and torch._inductor, and the
kernels import Triton — seconds a script pays before it has built a model, and that the torch
path (CPU tensors) never needs.

Only traced code needs them (:func:`traced`): an eager call runs each family's autograd Function
over the same implementation (`tritonsnn/kernels/<family>/fused.py`). They are registered by the
first traced call, by :func:`register`, or as soon as torch._dynamo is imported (torch.compile
and torch.export import it before they trace, so the traced code finds the ops already there).
"""
from __future__ import annotations

import importlib
import logging

import torch

from tritonsnn._after_import import when_imported
from tritonsnn.backend import fake, triton_installed

_registered = False


def register() -> None:
    """Register every kernel family's ops (`tritonsnn/kernels/<family>/op.py`); idempotent.

    Example::

        >>> import torch, tritonsnn
        >>> tritonsnn.register_ops()
        >>> torch.ops.tritonsnn.lif_fwd
        <OpOverloadPacket(op='tritonsnn.lif_fwd')>
    """
    global _registered
    if _registered:
        return
    _registered = True  # before the imports: they import torch._dynamo, whose hook calls back here
    from tritonsnn.catalogue import NEURONS, RECURRENT_FAMILY

    # Without Triton (macOS, Windows) torch logs that it finds no kernels in each triton_op: true,
    # and expected, since those ops then run the torch path.
    log = logging.getLogger("torch._library.triton")
    level = log.level
    if not triton_installed():
        log.setLevel(logging.ERROR)
    try:
        for family in (*sorted({n.family for n in NEURONS.values()}), RECURRENT_FAMILY):
            importlib.import_module(f"tritonsnn.kernels.{family}.op")
    except BaseException:
        _registered = False
        raise
    finally:
        log.setLevel(level)


def traced(t: torch.Tensor) -> bool:
    """Whether this call is being traced rather than run: by torch.compile or torch.export, under a
    dispatch mode (FakeTensorMode, make_fx's proxies, FlopCounterMode...), on a fake tensor, or
    inside a torch.func transform. Traced code must see the registered ops; everything else takes
    the eager autograd Functions, which skip the operator dispatch (a few C-level reads)."""
    return tracing() or fake(t)


def tracing() -> bool:
    """`traced` for a tensor known not to be fake (a plain `torch.Tensor`)."""
    return (torch.compiler.is_compiling() or torch._C._len_torch_dispatch_stack() > 0
            or torch._C._are_functorch_transforms_active())


def ops():
    """`torch.ops.tritonsnn`, the ops registered first if they are not yet."""
    if not _registered:
        if torch.compiler.is_compiling():
            raise RuntimeError(
                "tritonsnn's ops were not registered before torch.compile traced a neuron; call "
                "tritonsnn.register_ops() first")
        register()
    return torch.ops.tritonsnn


def install() -> None:
    """Register the ops, and the torch.compile backend "tritonsnn" (`tritonsnn.time_batching`),
    once torch._dynamo is imported (now, if it is)."""
    when_imported("torch._dynamo", lambda module: register())
    when_imported("torch._dynamo", lambda module: _register_backend())


def _register_backend() -> None:
    from tritonsnn import time_batching

    time_batching.register()
