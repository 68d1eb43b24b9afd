"""The README's Python example and the docstring examples run as written."""
import doctest
import importlib
import re
from pathlib import Path

import pytest
import torch

import tritonsnn

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_has_exactly_two_setup_commands():
    setup = README.read_text().split("## Set up")[1].split("\n## ")[0]
    assert len(re.findall(r"```bash\n", setup)) == 2


MODULES = [tritonsnn.functional, tritonsnn.leaky, tritonsnn.synaptic, tritonsnn.lapicque, tritonsnn.interop,
           tritonsnn._neuron, tritonsnn.nn, tritonsnn.backend, importlib.import_module("tritonsnn.alpha"),
           importlib.import_module("tritonsnn.kernels.lif.naive"),
           importlib.import_module("tritonsnn.kernels.alpha.naive"), tritonsnn.utils, tritonsnn._snntorch_api,
           tritonsnn.bntt, tritonsnn.graded_spikes, tritonsnn.rleaky, tritonsnn.rsynaptic, tritonsnn._recurrent,
           importlib.import_module("tritonsnn.kernels.rlif.naive"), importlib.import_module("tritonsnn.stateleaky"),
           importlib.import_module("tritonsnn.deltaleaky"),
           importlib.import_module("tritonsnn.kernels.lif.naive_integrators"),
           importlib.import_module("tritonsnn.slstm"), importlib.import_module("tritonsnn.kernels.lstm.naive"),
           importlib.import_module("tritonsnn.leakyparallel"), importlib.import_module("tritonsnn.associative"),
           importlib.import_module("tritonsnn.kernels.associative.naive"),
           importlib.import_module("tritonsnn.nir_io"), importlib.import_module("tritonsnn.integrator")]


def _run(tests) -> int:
    """Run doctests with the backend users get; the number that failed."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("auto")
    try:
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        for test in tests:
            runner.run(test)
        return runner.failures
    finally:
        tritonsnn.set_backend(previous)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    assert _run(doctest.DocTestFinder().find(module)) == 0


def test_public_surrogate_examples():
    """The surrogate package's public names (factories, classes, functions defined in its
    submodules), with the package's namespace, as users read them."""
    finder, globs = doctest.DocTestFinder(), vars(tritonsnn.surrogate)
    tests = [t for name in tritonsnn.surrogate.__all__ if name != "slope"
             for t in finder.find(getattr(tritonsnn.surrogate, name), name, globs=dict(globs, torch=torch))]
    assert len(tests) > 30 and _run(tests) == 0
