"""Every kernel variant compiles ahead of time for sm_80 and sm_90, without a GPU.

The test process runs Triton in interpreter mode, which cannot compile, so the compilation runs in
a child process with TRITON_INTERPRET unset (`python -m tritonsnn.aot`)."""
import itertools
import json
import os
import subprocess
import sys

from tritonsnn import aot


def test_every_variant_compiles_for_sm80_and_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "tritonsnn.aot", "--arch", "80", "90"],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.stdout.strip(), proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["failed"] == [], "\n".join(report["failed"][:20])
    assert report["variants"] == {"sm_80": len(aot.variants()), "sm_90": len(aot.variants())}
    assert proc.returncode == 0


def test_variants_cover_every_flag_value_in_context():
    variants = aot.variants()
    for kernel, spec in aot.KERNELS.items():
        mine = [dict(v.flags) for v in variants if v.kernel == kernel]
        cores = {tuple(f[name] for name in spec.core) for f in mine}
        assert len(cores) == len(list(itertools.product(*spec.core.values())))  # every core combination
        for name in spec.presence:
            assert {f[name] for f in mine} == {True, False}
        assert {v.dtype for v in variants if v.kernel == kernel} == set(spec.dtypes) <= set(aot.DTYPES)
    assert {"ATan", "StochasticSpikeOperator", "Disabled", "LIF.Heaviside"} <= set(aot.SURROGATES)
    for sg in aot.SURROGATES:  # each in both code paths and accumulation dtypes
        paths = {(v.dtype, dict(v.flags)["RESET_DELAY"]) for v in variants
                 if v.kernel == "lif_bwd_kernel" and dict(v.flags)["SURROGATE"] == sg}
        assert {("fp32", True), ("fp32", False), ("fp64", True), ("fp64", False)} <= paths
