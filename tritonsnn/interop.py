"""Converting snnTorch models: `tritonsnn.from_snntorch(model)`."""
from __future__ import annotations

import copy

import torch
from torch import nn

from tritonsnn.alpha import Alpha
from tritonsnn.lapicque import Lapicque
from tritonsnn.leaky import Leaky
from tritonsnn.synaptic import Synaptic

__all__ = ["from_snntorch"]


def from_snntorch(model: nn.Module) -> nn.Module:
    """A copy of an snnTorch 1.0.0 model whose ``Leaky``, ``Synaptic``, ``Alpha`` and ``Lapicque``
    neurons are replaced by tritonsnn's fused ones, with the same parameters (values, and whether
    each is learnable), options and surrogate gradient. The copy's ``state_dict`` has the same keys
    and values, so checkpoints load either way; the original model is left untouched.

    Any other snnTorch module (``RLeaky``, ``SConv2dLSTM``, a subclass of a neuron wherever it is
    defined, ...) and any option tritonsnn does not implement (``inhibition``, ``state_quant``) is
    refused with a TypeError naming the module's path, rather than converted approximately.

    Example::

        >>> import snntorch, torch, tritonsnn
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), snntorch.Leaky(beta=0.9, init_hidden=True))
        >>> fused = tritonsnn.from_snntorch(net)
        >>> type(fused[1]).__name__, fused[1].beta.item() == net[1].beta.item()
        ('Leaky', True)
    """
    import snntorch

    converters = {snntorch.Leaky: _leaky, snntorch.Synaptic: _synaptic, snntorch.Alpha: _alpha,
                  snntorch.Lapicque: _lapicque}
    model = copy.deepcopy(model)
    if type(model) in converters or _is_snntorch(model):
        return _convert(model, "the model", converters)
    for path, module in list(model.named_modules()):
        if path and (type(module) in converters or _is_snntorch(module)):
            parent_path, _, name = path.rpartition(".")
            setattr(model.get_submodule(parent_path), name, _convert(module, path, converters))
    return model


def _is_snntorch(module: nn.Module) -> bool:
    """Whether the module's class is snnTorch's or derives from one of snnTorch's (a user's
    subclass of a neuron, defined anywhere)."""
    return any(cls.__module__.split(".")[0] == "snntorch" for cls in type(module).__mro__)


def _convert(module: nn.Module, path: str, converters: dict) -> nn.Module:
    convert = converters.get(type(module))
    if convert is None:
        cls = type(module)
        subclass = next((c for c in converters if issubclass(cls, c)), None)
        why = (f"it subclasses snnTorch's {subclass.__name__}, and tritonsnn cannot know what the "
               "subclass changes; " if subclass else "")
        raise TypeError(
            f"cannot convert {path} ({cls.__module__}.{cls.__qualname__}): {why}tritonsnn fuses "
            f"exactly snnTorch's {', '.join(c.__name__ for c in converters)}; keep it in snnTorch or "
            "replace it by hand")
    for option in ("inhibition", "state_quant"):
        if getattr(module, option, False):
            raise TypeError(f"cannot convert {path}: {option}=True is not implemented by tritonsnn's fused neurons")
    try:
        fused = convert(module, _common(module))
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot convert {path} ({type(module).__name__}): {e}") from e
    _copy_tensors(module, fused)
    return fused.to(_device_of(module))


def _copy_tensors(src: nn.Module, dst: nn.Module) -> None:
    """dst's parameters and persistent buffers become copies of src's, shapes included (snnTorch
    keeps some 0-d values as [1]), under the same names."""
    for name, p in src.named_parameters(recurse=False):
        setattr(dst, name, nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad))
    for name, b in src.named_buffers(recurse=False):
        if name in src.state_dict():
            dst.register_buffer(name, b.detach().clone())


def _device_of(module: nn.Module) -> torch.device:
    tensors = list(module.parameters()) + list(module.buffers())
    return tensors[0].device if tensors else torch.device("cpu")


def _learnable(module: nn.Module, name: str) -> bool:
    return isinstance(getattr(module, name, None), nn.Parameter)


def _value(module: nn.Module, name: str) -> torch.Tensor:
    return getattr(module, name).detach().clone()


def _common(module: nn.Module) -> dict:
    """The SpikingNeuron options every snnTorch neuron carries."""
    disabled = bool(getattr(module, "surrogate_disable", False))
    return dict(
        threshold=_value(module, "threshold"),
        spike_grad=None if disabled else module.spike_grad,
        surrogate_disable=disabled,
        init_hidden=module.init_hidden,
        learn_threshold=_learnable(module, "threshold"),
        reset_mechanism=module.reset_mechanism,
        output=module.output,
        graded_spikes_factor=_value(module, "graded_spikes_factor"),
        learn_graded_spikes_factor=_learnable(module, "graded_spikes_factor"),
    )


def _leaky(module, common) -> Leaky:
    return Leaky(beta=_value(module, "beta"), learn_beta=_learnable(module, "beta"),
                 reset_delay=getattr(module, "reset_delay", True), **common)


def _synaptic(module, common) -> Synaptic:
    return Synaptic(alpha=_value(module, "alpha"), beta=_value(module, "beta"),
                    learn_alpha=_learnable(module, "alpha"), learn_beta=_learnable(module, "beta"),
                    reset_delay=getattr(module, "reset_delay", True), **common)


def _alpha(module, common) -> Alpha:
    return Alpha(alpha=_value(module, "alpha"), beta=_value(module, "beta"),
                 learn_alpha=_learnable(module, "alpha"), learn_beta=_learnable(module, "beta"), **common)


def _lapicque(module, common) -> Lapicque:
    # snnTorch keeps R, C and beta whichever were given; built from R and C, then its exact
    # values of all three are copied in.
    return Lapicque(R=_value(module, "R"), C=_value(module, "C"), time_step=_value(module, "time_step"),
                    learn_beta=_learnable(module, "beta"), **common)
