"""Run a function on a module once it has been imported: now, if it already is; else right after
it first runs. tritonsnn uses it to extend snnTorch's helpers (`_snntorch_helpers`) and to
register its ops before torch.compile or torch.export trace (`_ops`), without importing either
itself."""
from __future__ import annotations

import importlib.abc
import sys
from typing import Callable

_CALLBACKS: dict[str, list[Callable]] = {}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a module with callbacks, it lets the other finders find it and
    runs the callbacks as soon as the module has executed."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _CALLBACKS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            for callback in _CALLBACKS.pop(fullname, ()):
                callback(module)

        spec.loader.exec_module = exec_module
        return spec


def when_imported(name: str, callback: Callable) -> None:
    """`callback(module)` once module `name` is imported (at once if it is)."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    _CALLBACKS.setdefault(name, []).append(callback)
    if not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
