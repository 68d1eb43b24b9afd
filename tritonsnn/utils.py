"""Model-wide state helpers: snnTorch's `utils.reset`, for tritonsnn neurons anywhere in a model.

snnTorch's own `snntorch.utils.reset(net)` looks for snnTorch's neuron classes among the model's
top-level children and resets snnTorch's global list of instances; tritonsnn neurons are neither.
Call these instead (importing tritonsnn also extends snnTorch's helper to tritonsnn neurons; see
`tritonsnn._snntorch_helpers`).
"""
from __future__ import annotations

from torch import nn

from tritonsnn._neuron import SpikingNeuron
from tritonsnn.integrator import Integrator

__all__ = ["detach", "named_neurons", "reset"]


def named_neurons(net: nn.Module) -> list[tuple[str, SpikingNeuron]]:
    """Every tritonsnn neuron of `net` at any depth, with its path in the model ("" for `net`
    itself), as `net.named_modules()` names it.

    Example::

        >>> import torch, tritonsnn as snn
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), snn.Leaky(beta=0.9))
        >>> [(path, type(neuron).__name__) for path, neuron in snn.utils.named_neurons(net)]
        [('1', 'Leaky')]
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    return [(path, module) for path, module in net.named_modules() if isinstance(module, SpikingNeuron)]


def reset(net: nn.Module) -> None:
    """Start every tritonsnn neuron (and :class:`tritonsnn.Integrator`) of `net` (the model itself,
    its children and theirs, at any depth) again from zero states, with no graph behind them:
    snnTorch's ``utils.reset(net)``, which the quickstart calls before each batch of an
    ``init_hidden=True`` model. Other modules are left alone.

    Example::

        >>> import torch, tritonsnn as snn
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), snn.Leaky(beta=0.9, init_hidden=True))
        >>> spk = net(torch.ones(4, 3))
        >>> net[1].mem.shape
        torch.Size([4, 2])
        >>> snn.utils.reset(net)
        >>> net[1].mem.numel()   # empty: the next call starts from zeros of its input's shape
        0
    """
    for stateful in _stateful(net):
        stateful.reset_mem()


def detach(net: nn.Module) -> None:
    """Keep the states of every tritonsnn neuron (and Integrator) of `net` but cut the graph
    behind them: :meth:`SpikingNeuron.detach_hidden` on each, for truncated backpropagation through time
    (``tritonsnn.detach_hidden(net)`` is this function).

    Example::

        >>> import torch, tritonsnn as snn
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), snn.Leaky(beta=0.9, init_hidden=True))
        >>> spk = net(torch.ones(4, 3))
        >>> snn.utils.detach(net)
        >>> net[1].mem.requires_grad
        False
    """
    for stateful in _stateful(net):
        stateful.detach_hidden()


def _stateful(net: nn.Module) -> list[nn.Module]:
    """The neurons of `net` and the integrators `import_from_nir` builds: what keeps a state."""
    return [m for _, m in named_neurons(net)] + [m for m in net.modules() if isinstance(m, Integrator)]
