"""The README's Python example and the docstring examples run as written."""
import doctest
import importlib
import re
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("module", [tritonsnn.functional, tritonsnn.leaky, tritonsnn.synaptic, tritonsnn.lapicque,
                                    tritonsnn.interop, tritonsnn._neuron, tritonsnn.nn,
                                    importlib.import_module("tritonsnn.alpha"),
                                    importlib.import_module("tritonsnn.kernels.lif.naive"),
                                    importlib.import_module("tritonsnn.kernels.alpha.naive"),
                                    tritonsnn.surrogate, tritonsnn.backend])
def test_docstring_examples(module):
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("auto")
    try:
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    finally:
        tritonsnn.set_backend(previous)
    assert result.failed == 0
