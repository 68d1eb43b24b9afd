"""The package as it installs: every source package declared in pyproject.toml, and a
non-editable install that imports and trains a neuron outside the source tree."""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_dirs(config) -> dict[str, Path]:
    """Every package of the source tree, by the name it installs under."""
    roots = {"tritonsnn": ROOT / "tritonsnn", **{name: ROOT / path for name, path in config["package-dir"].items()}}
    found = {}
    for name, root in roots.items():
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            found[".".join((name, *relative))] = init.parent
    return found


def test_every_package_is_declared():
    config = _config()
    assert set(_package_dirs(config)) == set(config["packages"])


def test_every_kernel_readme_ships():
    config = _config()
    for name, path in _package_dirs(config).items():
        if (path / "README.md").exists() and name.startswith("tritonsnn.kernels"):
            assert config["package-data"].get(name) == ["README.md"], name


def test_a_non_editable_install_runs_outside_the_source_tree(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, capture_output=True, timeout=600)
    script = ("import torch, tritonsnn; from pathlib import Path; "
              "assert Path(tritonsnn.__file__).resolve().is_relative_to(Path(r'%s').resolve()); "
              "assert (Path(tritonsnn.kernels.__file__).parent / 'lif' / 'README.md').exists(); "
              "x = torch.rand(5, 2, 3, requires_grad=True); "
              "spk, mem = tritonsnn.Leaky(beta=0.9, step_mode='multi')(x); (spk.sum() + mem.sum()).backward(); "
              "assert x.grad.shape == x.shape; print('ok')" % target)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
