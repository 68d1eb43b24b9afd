"""snnTorch's model helpers made to see tritonsnn neurons, or to refuse them by name.

snnTorch's helpers find neurons by testing modules against snnTorch's own classes, and reset or
detach them through snnTorch's global list of instances; a tritonsnn neuron is neither, so ported
code calling them would silently carry each neuron's state from one batch into the next, or
drop the neuron from an exported graph. Importing tritonsnn therefore extends them, in snnTorch's
modules, the moment each module is loaded (now, if it already is; else when it is first
imported), leaving snnTorch's own neurons handled exactly as before:

- `snntorch.utils.reset(net)` does what it did, then :func:`tritonsnn.utils.reset`;
- `snntorch.utils._final_layer_check`, which `snntorch.backprop` asks how many outputs the last
  layer returns, counts a tritonsnn neuron's as snnTorch's (spikes plus one per state), so
  `backprop.BPTT` trains tritonsnn neurons with snnTorch's numbers;
- `snntorch.backprop.TBPTT` (and `RTRL`, its K=1 case) refuses a model with tritonsnn neurons
  when it truncates (K below the sequence): it detaches through snnTorch's classes only;
- `snntorch.export_nir.export_to_nir` refuses a model with tritonsnn neurons, which it would
  leave out of the graph, and names `tritonsnn.export_to_nir`.
"""
from __future__ import annotations

import functools

from torch import nn

from tritonsnn import utils
from tritonsnn._after_import import when_imported
from tritonsnn._neuron import SpikingNeuron

_MARK = "__tritonsnn_extended__"


def _fused_neurons(net) -> list[str]:
    """The paths of `net`'s tritonsnn neurons, for an error message (none if `net` is no model)."""
    found = utils.named_neurons(net) if isinstance(net, nn.Module) else []
    return [path or type(neuron).__name__ for path, neuron in found]


def _replace(module, name: str, make) -> None:
    """Set `module.name` to `make(original)`, marked, with the original's name and docstring."""
    original = getattr(module, name)
    if getattr(original, _MARK, False):
        return
    extended = functools.wraps(original)(make(original))
    extended.__doc__ = (original.__doc__ or "") + "\n\n(Extended by tritonsnn to its neurons.)"
    setattr(extended, _MARK, True)
    setattr(module, name, extended)


def _extend_utils(snntorch_utils) -> None:
    def reset(original):
        def call(net):
            original(net)
            utils.reset(net)
        return call

    def final_layer_check(original):
        def call(net):
            children = list(net._modules.values())
            if children and isinstance(children[-1], SpikingNeuron):
                return 1 + len(children[-1].state_names)
            return original(net)
        return call

    _replace(snntorch_utils, "reset", reset)
    _replace(snntorch_utils, "_final_layer_check", final_layer_check)


def _extend_backprop(backprop) -> None:
    def tbptt(original):
        def call(net, dataloader, optimizer, criterion, num_steps=False, time_var=True, time_first=True,
                 regularization=False, device="cpu", K=1):
            neurons = _fused_neurons(net)
            if neurons and K and K != num_steps:
                raise ValueError(
                    f"snntorch.backprop.TBPTT (and RTRL) with K={K} detaches the states every K steps through "
                    f"snnTorch's own neuron classes only, which would leave tritonsnn's ({', '.join(neurons)}) "
                    "attached; write the loop and call tritonsnn.utils.detach(net) every K steps (README: "
                    "snnTorch's helpers), or use snntorch.backprop.BPTT")
            return original(net, dataloader, optimizer, criterion, num_steps, time_var, time_first, regularization,
                            device, K)
        return call

    _replace(backprop, "TBPTT", tbptt)


def _extend_export_nir(export_nir) -> None:
    def export_to_nir(original):
        def call(module, *args, **kwargs):
            neurons = _fused_neurons(module)
            if neurons:
                raise TypeError(
                    f"snntorch's export_to_nir does not know tritonsnn's neurons ({', '.join(neurons)}) and would "
                    "leave them out of the graph: use tritonsnn.export_to_nir(module, sample_data, dt=..., "
                    "approximate=...)")
            return original(module, *args, **kwargs)
        return call

    _replace(export_nir, "export_to_nir", export_to_nir)


EXTENSIONS = {"snntorch.utils": _extend_utils, "snntorch.backprop": _extend_backprop,
              "snntorch.export_nir": _extend_export_nir}
"""snnTorch's modules tritonsnn extends, each with what extends it (idempotent)."""


def install() -> None:
    """Extend each of snnTorch's modules in EXTENSIONS now if it is loaded, else when it is."""
    for name, extend in EXTENSIONS.items():
        when_imported(name, extend)
