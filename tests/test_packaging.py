"""The package as it installs: a non-editable install holds every package of the source tree
(`kernels/` as `tritonsnn.kernels`) with its README, requires Triton on Linux only, and imports and
trains a neuron outside the source tree."""
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _source_files() -> dict[str, Path]:
    """Every package's `__init__.py` and README of the source tree, by the path it installs under."""
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    roots = {"tritonsnn": ROOT / "tritonsnn", **{name: ROOT / path for name, path in package_dir.items()}}
    found = {}
    for name, root in roots.items():
        for init in root.rglob("__init__.py"):
            installed = Path(*name.split("."), init.parent.relative_to(root))
            for file in (init, init.parent / "README.md"):
                if file.exists():
                    found[str(installed / file.name)] = file
    return found


def _requires_triton_on_linux_only(metadata: str) -> None:
    """The wheel's Requires-Dist: torch everywhere, Triton where it exists (Linux), nothing else
    outside the extras."""
    from packaging.requirements import Requirement

    requirements = [Requirement(line.split(":", 1)[1]) for line in metadata.splitlines()
                    if line.startswith("Requires-Dist:")]
    for platform, wanted in (("linux", {"torch", "triton"}), ("darwin", {"torch"}), ("win32", {"torch"})):
        core = {r.name for r in requirements
                if r.marker is None or r.marker.evaluate({"sys_platform": platform, "extra": ""})}
        assert core == wanted, (platform, core)


def test_a_non_editable_install_holds_every_package_and_runs_outside_the_source_tree(tmp_path):
    # Built from a copy: a checkout's build/ folder would hand the install stale files.
    source = shutil.copytree(ROOT, tmp_path / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".benchmarks"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=600)
    (metadata,) = target.glob("tritonsnn-*.dist-info/METADATA")
    _requires_triton_on_linux_only(metadata.read_text())
    expected = _source_files()
    assert "tritonsnn/kernels/lif/README.md" in expected
    missing = [path for path in expected if not (target / path).exists()]
    assert not missing
    script = ("import torch, tritonsnn; from pathlib import Path; "
              "assert Path(tritonsnn.__file__).resolve().is_relative_to(Path(r'%s').resolve()); "
              "x = torch.rand(5, 2, 3, requires_grad=True); "
              "spk, mem = tritonsnn.Leaky(beta=0.9, step_mode='multi')(x); (spk.sum() + mem.sum()).backward(); "
              "assert x.grad.shape == x.shape; print('ok')" % target)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
