"""`python -m tritonsnn demo` trains on scikit-learn's digits to >= 90 % test accuracy within a
few epochs, times the fused and the naive epochs, and draws its plot."""
import re

import pytest

from tritonsnn import demo


def test_demo_learns_the_digits(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    plot = tmp_path / "demo.png"
    assert demo.main(["--epochs", "4", "--no-progress", "--plot", str(plot), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"final test accuracy ([\d.]+)%", out).group(1))
    assert accuracy >= 90.0, out
    assert re.search(r"median time per epoch: fused [\d.]+ s \(4 epochs\), "
                     r"naive per-step reference [\d.]+ s \(3 epochs\)", out)
    assert plot.stat().st_size > 10_000
