"""Without Triton (macOS, Windows, or a Linux install without it), in a fresh interpreter where
`import triton` fails: tritonsnn imports, every neuron runs forward and backward on the torch path
with the reference's numbers, torch.compile and from_snntorch work, a surrogate registers with no
Triton gradient, `python -m tritonsnn info` says Triton is missing, and asking for the Triton
backend is a clear error. (That the installed package requires Triton on Linux only is checked in
tests/test_packaging.py.)"""
import os
import subprocess
import sys
import textwrap

_WITHOUT_TRITON = """
import sys
sys.modules["triton"] = None  # as if not installed: `import triton` fails, find_spec finds nothing
import torch, snntorch, tritonsnn, tritonsnn.info
from tritonsnn.catalogue import NEURONS

gen = torch.Generator().manual_seed(0)
for n in NEURONS.values():
    x = (torch.randn(6, 2, 5, generator=gen) * n.input_scale + n.input_scale / 2).requires_grad_()
    got, want = n.call(tritonsnn.functional, x), n.call(tritonsnn.reference, x)
    grads = [torch.autograd.grad(sum(o.sum() for o in out), x)[0] for out in (got, want)]
    for a, b in zip([*got, grads[0]], [*want, grads[1]]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    module = torch.compile(n.make(step_mode="multi"), fullgraph=True)
    sum(o.sum() for o in module(x)).backward()

net = torch.nn.Sequential(torch.nn.Linear(3, 4), snntorch.Leaky(beta=0.9))
fused = tritonsnn.from_snntorch(net)
spk, mem = fused(torch.rand(2, 3))
assert isinstance(fused[1], tritonsnn.Leaky) and tritonsnn.nn.Linear(3, 2)(torch.rand(1, 3)).shape == (1, 2)

Box, box = tritonsnn.surrogate.register("Box", None, lambda x, width: (x.abs() < width) * (0.5 / width), width=0.5)
spk, mem = tritonsnn.functional.leaky(torch.rand(4, 3, requires_grad=True), 0.9, spike_grad=box(width=0.3))

report = tritonsnn.info.report()
assert "triton not installed" in report and "cpu: torch path" in report, report
tritonsnn.set_backend("triton")
try:
    tritonsnn.functional.leaky(torch.rand(4, 3), 0.9)
except RuntimeError as e:
    assert "Triton is not installed" in str(e), e
else:
    raise AssertionError("the Triton backend ran without Triton")
assert "triton" not in [m.split(".")[0] for m, v in sys.modules.items() if v is not None]
print("ok")
"""


def test_everything_but_the_kernels_runs_without_triton():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_WITHOUT_TRITON)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-4000:]
    assert "find_triton_kernels" not in proc.stderr  # torch's notice that a triton_op has no kernels
