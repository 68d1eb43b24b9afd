"""The GPU run: one command, a few minutes on one GPU, nothing but the repository and an installed
torch and triton (`pip install --no-deps --no-build-isolation -e .` first).

    python perf/gpu_check.py OUT_DIR [--budget-s 420] [--skip-tests]
    TRITON_INTERPRET=1 python perf/gpu_check.py OUT_DIR --smoke   # every phase, tiny, on the CPU

Phases, each timed and recorded even if another fails:
1. the test suite on the GPU (the CUDA-only tests included: CUDA graphs, autotuning, kernel
   caches, compiled kernels bitwise equal to eager);
2. large-shape correctness of the Triton kernels against the torch path, fp32 and bf16, for every
   neuron, forward and backward, and with per-sample lengths;
3. int64 offsets: a Leaky layer over a tensor of more than 2^31 elements, its last neurons
   checked against the torch path on just those neurons;
4. SHD-sized Leaky layers (batch 32 and 256 x 256 neurons, T = 100 and 1000) beside the big
   shape, forward+backward, against SpikingJelly 2.0's Triton LIF when it is installed, paired
   as the zero reset with delay against its hard reset with detach_reset=True (the same
   equations: their spikes are compared too);
5. recurrent layers (RLeaky with a Linear term, SpyTorch's SHD layer [100, 256, 200], a
   sparch-like [100, 256, 128], and F = 512 and 1024), forward+backward: the fused kernels
   against the same module stepped (the recurrent term and one fused step launch per step) and
   cuDNN's `nn.RNN` of the same size as a practical floor, and the fused outputs and gradients
   against the torch path;
6. inhibition and SLSTM: the winner-take-all kernels (Leaky, Synaptic) against the oracle's loop
   they replace, the fused SLSTM against its torch path and cuDNN's nn.LSTM, and both against
   the torch path's numbers;
7. the benchmark suite (`tritonsnn.bench`), with the copy bandwidth of the same run, and the
   time-vs-T / time-vs-neurons plot.
It writes OUT_DIR/gpu_check.json (GPU name, versions, commit, every phase's results) and
OUT_DIR/bench.png; copy them to perf/results/ to keep them.

`--smoke` runs every phase but the test suite on the CPU at tiny sizes (`SMOKE`), the Triton
kernels in Triton's interpreter, so that the script's own code is checked where no GPU is
(tests/test_gpu_check.py) and a lent GPU's minutes are not lost to a typo. Its numbers mean
nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What each phase runs: its shapes, dtypes and timing rounds, and the backend the neurons'
    own calls use (set back to it after a phase compares the backends)."""
    large: tuple = (64, 32, 50_000)  # [T, B, N] of the large-shape checks (lengths up to T)
    large_dtypes: tuple = (torch.float32, torch.bfloat16)
    int64: tuple = (33, 2**26)  # [T, N], past 2^31 elements
    shd: tuple = ((100, 32, 256), (1000, 32, 256), (100, 256, 256), (1000, 256, 256), (25, 128, 1000))
    recurrent: tuple = ((100, 256, 200), (100, 256, 128), (100, 256, 512), (100, 256, 1024))
    inhibition: tuple = (("leaky", 100, 256, 200), ("leaky", 100, 32, 4096), ("synaptic", 100, 256, 200))
    slstm: tuple = ((100, 256, 256), (100, 64, 512))
    rounds: int = 10
    backend: str = "auto"


GPU = Sizes()
SMOKE = Sizes(large=(5, 3, 70), large_dtypes=(torch.float32,), int64=(3, 4100), shd=((6, 2, 40),),
              recurrent=((5, 3, 12),), inhibition=(("leaky", 4, 3, 10), ("synaptic", 4, 3, 10)),
              slstm=((4, 3, 8),), rounds=1, backend="triton")
"""Every phase at toy sizes on the CPU: the interpreter runs the kernels (fp32 only: it gets
bf16 wrong), and `backend="triton"` makes the neurons' calls take them, as "auto" does on a GPU."""


def _new_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _elapsed_ms(fn, device: torch.device) -> float:
    """fn()'s time in ms: CUDA events on a GPU, the wall clock elsewhere."""
    if device.type != "cuda":
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_tests(timeout_s: float) -> dict:
    """The test suite on the GPU; on a timeout, what it printed so far (stopped, not lost)."""
    # The AOT and PTX-traffic tests compile for sm_80/sm_90 on the CPU and run in CPU-only CI.
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
                             "--ignore=tests/test_aot.py", "--ignore=tests/test_traffic.py",
                             "--ignore=tests/test_gpu_report.py"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        code = "timeout"
    return {"returncode": code, "tail": out[-5000:]}


def _both_backends(fn, x, sizes: Sizes):
    """fn(x) with the Triton kernels and with the torch path: outputs and the gradient of x."""
    import tritonsnn

    results = []
    for backend in ("triton", "torch"):
        tritonsnn.set_backend(backend)
        xs = x.detach().requires_grad_()
        outs = fn(xs)
        gen = _new_generator(x.device, 1)
        loss = sum((o.float() * torch.randn(o.shape, device=x.device, generator=gen)).sum() for o in outs)
        loss.backward()
        results.append(([o.detach() for o in outs], xs.grad))
    tritonsnn.set_backend(sizes.backend)
    return results


def large_shapes(device: torch.device, sizes: Sizes) -> list[dict]:
    import tritonsnn

    F = tritonsnn.functional
    T, B, N = sizes.large
    lengths = torch.randint(0, T + 1, (B,), device=device, generator=_new_generator(device, 2))
    neurons = {"leaky": lambda x: F.leaky(x, 0.9, threshold=0.7),
               "leaky_lengths": lambda x: F.leaky(x, 0.9, threshold=0.7, lengths=lengths),
               "synaptic_lengths": lambda x: F.synaptic(x, 0.8, 0.9, lengths=lengths),
               "alpha_lengths": lambda x: F.alpha(x, 0.9, 0.8, threshold=0.2, lengths=lengths),
               "leaky_zero_immediate": lambda x: F.leaky(x, 0.9, reset_mechanism="zero", reset_delay=False),
               "synaptic": lambda x: F.synaptic(x, 0.8, 0.9),
               "lapicque": lambda x: F.lapicque(x, beta=0.9, threshold=0.2),
               "alpha": lambda x: F.alpha(x, 0.9, 0.8, threshold=0.2)}
    out = []
    for dtype in sizes.large_dtypes:
        for name, fn in neurons.items():
            x = (torch.randn(T, B, N, device=device, generator=_new_generator(device, 0)) * 0.6 + 0.3).to(dtype)
            (o_t, g_t), (o_c, g_c) = _both_backends(fn, x, sizes)
            spikes_differ = (o_t[0] != o_c[0]).float().mean().item()
            worst = max(((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-6)).item()
                        for a, b in zip(o_t[1:], o_c[1:]))
            grad_rel = ((g_t.float() - g_c.float()).norm() / g_c.float().norm()).item()
            ok = spikes_differ < 1e-4 and worst < (1e-5 if dtype == torch.float32 else 2e-2) and \
                grad_rel < (1e-4 if dtype == torch.float32 else 5e-2)
            out.append({"neuron": name, "dtype": str(dtype), "shape": list(x.shape), "ok": ok,
                        "spike_mismatch_fraction": spikes_differ, "state_max_rel_err": worst,
                        "grad_rel_err": grad_rel})
            del x, o_t, o_c, g_t, g_c
            _free(device)
    return out


def int64_offsets(device: torch.device, sizes: Sizes) -> dict:
    """A [T, N] Leaky layer with T*N > 2^31 elements (fp16: 4.3 GB per sequence, 2.2e9 elements at
    the GPU's sizes): the last neurons, whose offsets exceed 2^31, against the torch path run on
    those neurons alone."""
    import tritonsnn

    T, N = sizes.int64
    gen = _new_generator(device, 0)
    x = (torch.randn(T, N, device=device, dtype=torch.float16, generator=gen) * 0.6 + 0.3).requires_grad_()
    tritonsnn.set_backend("triton")
    spk, mem = tritonsnn.functional.leaky(x, 0.9)
    g = torch.ones_like(spk)
    spk.backward(g)
    tail = slice(N - 4096, N)
    got = (spk[:, tail].clone(), mem[:, tail].clone(), x.grad[:, tail].clone())
    del spk, mem, g
    x_tail = x.detach()[:, tail].clone().requires_grad_()
    del x
    _free(device)
    tritonsnn.set_backend("torch")
    spk_r, mem_r = tritonsnn.functional.leaky(x_tail, 0.9)
    spk_r.backward(torch.ones_like(spk_r))
    tritonsnn.set_backend(sizes.backend)
    ok = torch.equal(got[0], spk_r) and torch.allclose(got[1].float(), mem_r.float(), atol=2e-3) and \
        torch.allclose(got[2].float(), x_tail.grad.float(), atol=2e-3, rtol=2e-2)
    return {"elements": T * N, "ok": bool(ok)}


def _spikingjelly_hard_reset(device: torch.device):
    """SpikingJelly's multi-step LIFNode on its Triton backend as tritonsnn's Leaky with beta 0.9
    and a zero reset with delay: H = 0.9 V + X (tau 10, decay_input=False), V = H (1 - S), the
    reset detached; None when SpikingJelly is not installed, or off a GPU (its Triton backend
    needs one)."""
    if device.type != "cuda":
        return None
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except ImportError:
        return None
    lif = neuron.LIFNode(tau=10.0, decay_input=False, v_reset=0.0, detach_reset=True,
                         surrogate_function=surrogate.ATan(), step_mode="m", backend="triton").to(device)

    def run(x):
        lif.reset()
        return lif(x)
    return run


def shd_layers(device: torch.device, sizes: Sizes) -> list[dict]:
    """Forward+backward time per layer shape, the implementations timed round by round in turn
    (A B A B ...) with CUDA events, median ms; the bandwidth tritonsnn's time implies under the
    memory model (24 B per neuron-step forward+backward, fp32); and whether the pair's spikes
    agree."""
    import tritonsnn

    impls = {"tritonsnn": lambda x: tritonsnn.functional.leaky(x, 0.9, reset_mechanism="zero")[0]}
    sj = _spikingjelly_hard_reset(device)
    if sj is not None:
        impls["spikingjelly"] = sj
    out = []
    rounds = 2 * sizes.rounds
    for shape in sizes.shd:
        gen = _new_generator(device, 0)
        x = torch.randn(shape, device=device, generator=gen) * 0.6 + 0.3
        grad = torch.randn(shape, device=device, generator=gen)
        spikes = {name: fn(x).detach() for name, fn in impls.items()}
        times = {name: [] for name in impls}
        for _ in range(3 + rounds):
            for name, fn in impls.items():
                xs = x.detach().requires_grad_()
                times[name].append(_elapsed_ms(lambda: fn(xs).backward(grad), device))
        row = {"shape": list(shape), "median_ms": {n: sorted(t[3:])[len(t[3:]) // 2] for n, t in times.items()}}
        row["tritonsnn_GBps_model"] = 24 * x.numel() / (row["median_ms"]["tritonsnn"] * 1e-3) / 1e9
        if sj is not None:
            row["speedup_vs_spikingjelly"] = row["median_ms"]["spikingjelly"] / row["median_ms"]["tritonsnn"]
            row["spikes_equal"] = bool(torch.equal(spikes["tritonsnn"], spikes["spikingjelly"].to(torch.float32)))
        out.append(row)
    return out


def _median_ms(fns: dict, rounds: int, device: torch.device) -> dict:
    """Median forward+backward ms of each `fn()` (which returns a loss), timed in turn round by
    round (`_elapsed_ms`) after three warm-up rounds."""
    times = {name: [] for name in fns}
    for _ in range(3 + rounds):
        for name, fn in fns.items():
            times[name].append(_elapsed_ms(lambda: fn().backward(), device))
    return {name: sorted(t[3:])[len(t[3:]) // 2] for name, t in times.items()}


def recurrent_layers(device: torch.device, sizes: Sizes) -> list[dict]:
    """RLeaky (Linear term) layers, forward+backward: fused kernels, the same module stepped, and
    cuDNN's tanh RNN of the same size; and the fused results against the torch path's."""
    import tritonsnn
    from tritonsnn.kernels.rlif import fused

    out = []
    # SpyTorch's SHD layer, a sparch-like one, and wider ones: with a Linear term each program
    # re-reads W (4 F^2 bytes) every step, so somewhere above F = 200 cuBLAS's per-step GEMM
    # should win; these rows say where.
    for T, B, F in sizes.recurrent:
        torch.manual_seed(0)
        layer = tritonsnn.RLeaky(beta=0.9, linear_features=F, step_mode="multi", learn_beta=True).to(device)
        rnn = torch.nn.RNN(F, F).to(device)
        x = (torch.randn(T, B, F, device=device) * 0.6 + 0.3).requires_grad_()

        def fused_loss():
            return _loss(layer(x))

        def stepped_loss():
            applies, fused.applies = fused.applies, lambda *a: False
            try:
                return _loss(layer(x))
            finally:
                fused.applies = applies

        row = {"shape": [T, B, F], "median_ms": _median_ms(
            {"fused": fused_loss, "stepped": stepped_loss, "cudnn_rnn": lambda: rnn(x)[0].sum()}, sizes.rounds,
            device)}
        row["fused_vs_stepped"] = row["median_ms"]["stepped"] / row["median_ms"]["fused"]
        row["fused_us_per_step"] = row["median_ms"]["fused"] * 1e3 / T
        row["cudnn_rnn_us_per_step"] = row["median_ms"]["cudnn_rnn"] * 1e3 / T
        row.update(_parity(layer, x, lambda m, x: list(m(x)), sizes))
        out.append(row)
    return out


def _parity(module, x, fn, sizes: Sizes) -> dict:
    """fn(module, x) on the Triton backend against the torch path: differing spikes, and the max
    relative difference of every other output and gradient (x's and the parameters')."""
    import tritonsnn

    results = {}
    for backend in ("triton", "torch"):
        tritonsnn.set_backend(backend)
        module.zero_grad()
        x.grad = None
        outputs = fn(module, x)
        _loss(outputs).backward()
        results[backend] = [o.detach() for o in outputs] + [x.grad.clone()] + [
            p.grad.clone() for p in module.parameters() if p.grad is not None]
    tritonsnn.set_backend(sizes.backend)
    got, want = results["triton"], results["torch"]
    return {"spikes_differing": int((got[0] != want[0]).sum()),
            "max_rel_diff": [float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
                             for a, b in zip(got[1:], want[1:])]}


def _loss_on(backend: str, layer, x, sizes: Sizes):
    """A function that runs `layer(x)` on `backend` and returns its `_loss`."""
    def run():
        import tritonsnn

        tritonsnn.set_backend(backend)
        try:
            return _loss(layer(x))
        finally:
            tritonsnn.set_backend(sizes.backend)
    return run


def inhibition_and_slstm(device: torch.device, sizes: Sizes) -> list[dict]:
    """The winner-take-all kernels (Leaky and Synaptic with inhibition) against the oracle's loop
    they replace, and the fused SLSTM against its torch path (one LSTMCell per step) and cuDNN's
    nn.LSTM of the same size as a floor (no reset, no spikes): forward+backward medians and the
    fused results against the torch path's."""
    import tritonsnn

    out = []
    for name, T, B, N in sizes.inhibition:
        torch.manual_seed(0)
        make = tritonsnn.Leaky if name == "leaky" else tritonsnn.Synaptic
        decays = dict(beta=0.9) if name == "leaky" else dict(alpha=0.8, beta=0.9)
        layer = make(**decays, inhibition=True, step_mode="multi", learn_threshold=True).to(device)
        x = (torch.randn(T, B, N, device=device) * 0.6 + 0.3).requires_grad_()
        row = {"neuron": f"{name} inhibition", "shape": [T, B, N], "median_ms": _median_ms(
            {"fused": _loss_on("triton", layer, x, sizes), "oracle_loop": _loss_on("torch", layer, x, sizes)},
            sizes.rounds, device)}
        row["fused_vs_oracle_loop"] = row["median_ms"]["oracle_loop"] / row["median_ms"]["fused"]
        row.update(_parity(layer, x, lambda m, x: list(m(x)), sizes))
        out.append(row)
    for T, B, H in sizes.slstm:
        torch.manual_seed(0)
        layer = tritonsnn.SLSTM(H, H, threshold=0.1, reset_mechanism="subtract", step_mode="multi").to(device)
        lstm = torch.nn.LSTM(H, H).to(device)
        x = (torch.randn(T, B, H, device=device)).requires_grad_()
        row = {"neuron": "slstm", "shape": [T, B, H], "median_ms": _median_ms(
            {"fused": _loss_on("triton", layer, x, sizes), "torch_path": _loss_on("torch", layer, x, sizes),
             "cudnn_lstm": lambda: lstm(x)[0].sum()}, sizes.rounds, device)}
        row["fused_vs_torch_path"] = row["median_ms"]["torch_path"] / row["median_ms"]["fused"]
        row.update(_parity(layer, x, lambda m, x: list(m(x)), sizes))
        out.append(row)
    return out


def _loss(outputs):
    """The spikes' sum and a small square of every state (the membrane last), so every output
    sends a gradient back."""
    spk, *states = outputs
    return spk.sum() + 0.01 * sum(state.square().sum() for state in states)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting phases after this")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--smoke", action="store_true",
                        help="every phase but the tests at toy sizes on the CPU (needs TRITON_INTERPRET=1)")
    args = parser.parse_args(argv)
    if args.smoke and os.environ.get("TRITON_INTERPRET") != "1":
        parser.error("--smoke runs the kernels in Triton's interpreter: set TRITON_INTERPRET=1")
    args.out.mkdir(parents=True, exist_ok=True)
    import tritonsnn
    from tritonsnn import bench

    bench.steady_allocator()
    device, sizes = (torch.device("cpu"), SMOKE) if args.smoke else (torch.device("cuda"), GPU)
    tritonsnn.set_backend(sizes.backend)
    report = {"gpu": "none (--smoke)" if args.smoke else torch.cuda.get_device_name(device),
              "versions": bench.versions(), "commit": _commit(), "phases": {}}
    start = time.time()

    def phase(name, fn):
        if time.time() - start > args.budget_s:
            report["phases"][name] = {"skipped": "time budget spent"}
            return
        t0 = time.time()
        try:
            report["phases"][name] = {"result": fn()}
        except Exception:
            report["phases"][name] = {"error": traceback.format_exc()[-3000:]}
        report["phases"][name]["seconds"] = round(time.time() - t0, 1)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
        print(f"[{time.time() - start:6.1f} s] {name}: {json.dumps(report['phases'][name], default=str)[:400]}",
              flush=True)

    if not (args.skip_tests or args.smoke):
        phase("tests", lambda: run_tests(timeout_s=max(60.0, args.budget_s * 0.4)))
    for name, fn in (("large_shapes", large_shapes), ("int64_offsets", int64_offsets), ("shd_layers", shd_layers),
                     ("recurrent_layers", recurrent_layers), ("inhibition_and_slstm", inhibition_and_slstm)):
        phase(name, lambda fn=fn: fn(device, sizes))
    if args.smoke:  # the suite's CPU cases run in CI already: one, on the torch path, shows the plumbing
        tritonsnn.set_backend("auto")
        phase("bench", lambda: bench.run_suite(device, rounds=1, select="^leaky fwd\\+bwd"))
    else:
        phase("bench", lambda: bench.run_suite(device, full=True, rounds=5,
                                               seconds=max(60.0, args.budget_s - (time.time() - start) - 40)))
        phase("plot", lambda: bench.plot(device, str(args.out / "bench.png"), rounds=3))
    failed = [n for n, p in report["phases"].items()
              if "error" in p or (isinstance(p.get("result"), dict) and p["result"].get("returncode", 0) != 0)]
    print(f"done in {time.time() - start:.0f} s; phases failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
