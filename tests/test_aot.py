"""Every kernel variant compiles ahead of time for sm_80 and sm_90, without a GPU.

The test process runs Triton in interpreter mode, which cannot compile, so the compilation runs in
a child process with TRITON_INTERPRET unset (`python -m tritonsnn.aot`)."""
import json
import os
import subprocess
import sys

from tritonsnn import aot
from tritonsnn.kernels.surrogates import SURROGATE_IDS, USER_ID


def test_every_variant_compiles_for_sm80_and_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "tritonsnn.aot", "--arch", "80", "90"],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.stdout.strip(), proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["failed"] == [], "\n".join(report["failed"][:20])
    assert report["variants"] == {"sm_80": len(aot.variants()), "sm_90": len(aot.variants())}
    assert proc.returncode == 0


def test_variants_cover_every_flag_value():
    seen = {}
    for v in aot.variants():
        for name, value in v.flags:
            seen.setdefault((v.kernel, name), set()).add(value)
        seen.setdefault((v.kernel, "dtype"), set()).add(v.dtype)
    assert seen[("leaky_bwd_kernel", "SURROGATE")] == set(SURROGATE_IDS.values()) | {USER_ID}
    assert seen[("leaky_fwd_kernel", "RESET")] == {0, 1, 2}
    assert seen[("leaky_bwd_kernel", "dtype")] == set(aot.DTYPES)
    for flag in ("RESET_DELAY", "HAS_MEM0", "HAS_GM", "PARAM_GRAD"):
        assert seen[("leaky_bwd_kernel", flag)] == {True, False}
    for sg in SURROGATE_IDS.values():  # every surrogate in both code paths and accumulation dtypes
        paths = {(v.dtype, dict(v.flags)["RESET_DELAY"]) for v in aot.variants()
                 if v.kernel == "leaky_bwd_kernel" and dict(v.flags)["SURROGATE"] == sg}
        assert {("fp32", True), ("fp32", False), ("fp64", True), ("fp64", False)} <= paths
