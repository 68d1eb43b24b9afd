"""The package list, found in the tree rather than listed: `kernels/` installs as
`tritonsnn.kernels` (pyproject.toml's package-dir), so a new kernel family folder ships with no
line here or there. Everything else about the build is in pyproject.toml."""
from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["tritonsnn", "tritonsnn.*"]),
                "tritonsnn.kernels", *(f"tritonsnn.kernels.{name}" for name in find_packages("kernels"))])
