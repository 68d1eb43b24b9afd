"""Converting snnTorch models: `tritonsnn.from_snntorch(model)`."""
from __future__ import annotations

import copy
import inspect
import sys

import torch
from torch import nn

from tritonsnn._neuron import ADDITIONS
from tritonsnn.catalogue import SNNTORCH_CLASSES
from tritonsnn.graded_spikes import GradedSpikes
from tritonsnn.rleaky import RLeaky
from tritonsnn.rsynaptic import RSynaptic

__all__ = ["from_snntorch"]


def from_snntorch(model: nn.Module) -> nn.Module:
    """A copy of an snnTorch 1.0.0 model whose neurons (each in `tritonsnn.catalogue.SNNTORCH_CLASSES`:
    ``Leaky``, ``Synaptic``, ``Alpha``, ``Lapicque``; ``RLeaky`` and ``RSynaptic`` with their
    recurrent weights or V; ``StateLeaky``, ``LinearLeaky``, ``DeltaLeaky``, ``SLSTM``,
    ``SConv2dLSTM``, ``LeakyParallel`` and ``AssociativeLeaky`` with their layers' weights) are
    replaced by tritonsnn's, with the same parameters (values, and whether each is learnable),
    options and surrogate gradient. The copy's ``state_dict`` has the same keys and values, so
    checkpoints load either way; the original model is left untouched. (The neurons are rebuilt,
    not copied: snnTorch's ``Lapicque(beta=..., learn_beta=True)`` holds a non-leaf tensor that
    cannot be deep-copied.)
    snnTorch's ``GradedSpikes`` becomes tritonsnn's, with the same weights; its ``BatchNormTT1d``
    and ``BatchNormTT2d`` are torch's own modules and are copied as they are.

    Any other snnTorch module (a subclass of a neuron wherever it is defined, ...) and any option
    tritonsnn does not implement (such as an inhibition snnTorch's neuron ignores) is refused with a
    TypeError naming the module's path, rather than converted approximately; a ``state_quant``
    function is kept.

    Example::

        >>> import snntorch, torch, tritonsnn
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), snntorch.Leaky(beta=0.9, init_hidden=True))
        >>> fused = tritonsnn.from_snntorch(net)
        >>> type(fused[1]).__name__, fused[1].beta.item() == net[1].beta.item()
        ('Leaky', True)
    """
    import snntorch

    converters = {getattr(snntorch, name): cls for name, cls in SNNTORCH_CLASSES.items()}
    if type(model) in converters or _is_snntorch(model):
        return _convert(model, "the model", converters)
    # Each neuron's replacement enters the copy in its place (deepcopy's memo), shared as it was;
    # what a replaced neuron contains (a recurrent neuron's layer) is rebuilt with it.
    fused, replaced = {}, []
    for path, module in model.named_modules():
        if path and not any(path.startswith(prefix + ".") for prefix in replaced) and (
                type(module) in converters or _is_snntorch(module)):
            fused[id(module)] = _convert(module, path, converters)
            replaced.append(path)
    return copy.deepcopy(model, memo=fused)


def _is_snntorch(module: nn.Module) -> bool:
    """Whether the module's class is snnTorch's or derives from one of snnTorch's (a user's
    subclass of a neuron, defined anywhere)."""
    return any(cls.__module__.split(".")[0] == "snntorch" for cls in type(module).__mro__)


def _convert(module: nn.Module, path: str, converters: dict) -> nn.Module:
    if type(module) is sys.modules["snntorch"].GradedSpikes:  # a layer, not a neuron: copied over
        layer = GradedSpikes(module.size, constant_factor=1.0)
        _copy_tensors(module, layer)
        return layer.to(_device_of(module))
    fused_class = converters.get(type(module))
    if fused_class is None:
        cls = type(module)
        subclass = next((c for c in converters if issubclass(cls, c)), None)
        why = (f"it subclasses snnTorch's {subclass.__name__}, and tritonsnn cannot know what the "
               "subclass changes; " if subclass else "")
        raise TypeError(
            f"cannot convert {path} ({cls.__module__}.{cls.__qualname__}): {why}tritonsnn fuses "
            f"exactly snnTorch's {', '.join(c.__name__ for c in converters)}; keep it in snnTorch or "
            "replace it by hand")
    try:
        fused = fused_class(**_arguments(fused_class, module))
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot convert {path} ({type(module).__name__}): {e}") from e
    _copy_tensors(module, fused)
    if isinstance(fused, (RLeaky, RSynaptic)):
        if fused.all_to_all:
            _copy_layer(module.recurrent, fused.recurrent)
        else:  # a one-to-one term holds the neuron's own V, as snnTorch's does
            fused.recurrent.V = fused.V
    for name in fused.snntorch_layers:
        if getattr(fused, name) is not None:  # (an optional layer, such as AssociativeLeaky's to_q)
            _copy_layer(getattr(module, name), getattr(fused, name))
    return fused.to(_device_of(module))


def _copy_layer(src: nn.Module, dst: nn.Module) -> None:
    """A layer's weights, and whether each is learnt."""
    dst.load_state_dict(src.state_dict())
    for mine, theirs in zip(dst.parameters(), src.parameters()):
        mine.requires_grad_(theirs.requires_grad)


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


def _arguments(cls: type, module: nn.Module) -> dict:
    """The arguments of `cls`'s constructor that rebuild the snnTorch neuron `module`: for each of
    the parameters cls shares with snnTorch, a copy of the tensor module holds under that name
    (beta, threshold, ...), whether it is learnable (``learn_<name>``), or the option's value
    (an option module lacks keeps cls's default); the surrogate, unless module disables it; and
    what cls reads from snnTorch's neuron in its own way (`SpikingNeuron.snntorch_arguments`)."""
    parameters = inspect.signature(cls).parameters
    disabled = bool(getattr(module, "surrogate_disable", False))
    given = {"surrogate_disable": disabled, "spike_grad": None if disabled else getattr(module, "spike_grad", None),
             **cls.snntorch_arguments(module)}
    arguments = {name: value for name, value in given.items() if name in parameters}
    for name, parameter in parameters.items():
        if name in arguments or name in ADDITIONS or name in cls.derived_from_others:
            continue
        if name.startswith("learn_"):
            arguments[name] = isinstance(getattr(module, name[len("learn_"):], None), nn.Parameter)
        elif isinstance(getattr(module, name, None), torch.Tensor):
            arguments[name] = getattr(module, name).detach().clone()
        else:
            arguments[name] = getattr(module, name, parameter.default)
    return arguments
