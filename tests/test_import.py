"""`import tritonsnn` loads neither Triton nor torch._dynamo / torch._inductor: the ops are
registered when first needed (`tritonsnn._ops`), and a model compiled, exported or run eagerly
first, in a fresh interpreter, finds them and gives the reference's numbers."""
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("triton", "torch._dynamo", "torch._inductor")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env, timeout=600)


def test_import_loads_no_triton_dynamo_or_inductor():
    proc = _python(f"""
        import sys, tritonsnn
        print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in {HEAVY!r})))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"


def test_eager_training_loads_no_dynamo_or_inductor():
    """Eager calls run the fused neurons' autograd Functions (no torch.library op, no registration)."""
    proc = _python(f"""
        import sys, torch, tritonsnn
        for neuron in (tritonsnn.Leaky(beta=0.9), tritonsnn.Synaptic(alpha=0.8, beta=0.9),
                       tritonsnn.Lapicque(beta=0.9), tritonsnn.Alpha(alpha=0.9, beta=0.8)):
            x = torch.rand(3, 4, requires_grad=True)
            spk, *states = neuron(x)
            (spk.sum() + states[-1].sum()).backward()
            assert x.grad is not None
        print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in {HEAVY!r})))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"


_FIRST_USE = """
import sys, torch, tritonsnn
first = sys.argv[1]
lif = tritonsnn.Synaptic(alpha=0.8, beta=0.9, step_mode="multi")
x = torch.rand(6, 2, 3) * 2
if first == "torch.compile":
    out = torch.compile(lif, fullgraph=True)(x)
elif first == "torch._inductor.config":  # inductor imported before torch._dynamo has finished
    import torch._inductor.config
    out = torch.compile(lif, fullgraph=True)(x)
elif first == "torch.export":
    out = torch.export.export(lif, (x,)).module()(x)
else:
    out = lif(x)
ref = tritonsnn.reference.synaptic(x, 0.8, 0.9)
for a, b in zip(out, ref):
    torch.testing.assert_close(a, b)
print("ok")
"""


@pytest.mark.parametrize("first", ["eager", "torch.compile", "torch._inductor.config", "torch.export"])
def test_the_first_use_registers_the_ops(first):
    proc = _python(_FIRST_USE, first)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
