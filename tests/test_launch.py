"""Launch configurations: every block size and warp count the autotuner may pick computes the
same bits, so tuning can never change a result (fixed-config test), and tuning itself runs on a
GPU."""
import pytest
import torch

import tritonsnn
from tritonsnn import _launch, surrogate
from conftest import DEVICE


def _fwd_bwd():
    """Forward and backward of Leaky, Synaptic and Alpha with per-neuron parameters, on odd
    shapes (a masked tail in every block size)."""
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(9, 3, 37, generator=gen) * 0.7 + 0.3).to(DEVICE).requires_grad_()
    beta = (torch.rand(37, generator=gen) * 0.5 + 0.4).to(DEVICE).requires_grad_()
    thr = torch.tensor(0.8, device=DEVICE, requires_grad=True)
    outs = [*tritonsnn.functional.leaky(x, beta, threshold=thr, spike_grad=surrogate.fast_sigmoid(slope=9)),
            *tritonsnn.functional.synaptic(x, 0.7, beta, threshold=thr, reset_delay=False),
            *tritonsnn.functional.alpha(x, 0.9, 0.8, threshold=thr)]
    weights = [torch.randn(o.shape, generator=gen).to(DEVICE) for o in outs]
    loss = sum((o * w).sum() for o, w in zip(outs, weights))
    return [o.detach() for o in outs] + list(torch.autograd.grad(loss, (x, beta, thr)))


def test_every_config_gives_identical_results(monkeypatch):
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("triton")
    try:
        monkeypatch.setattr(_launch, "choose_config", lambda n, device: _launch.heuristic_config(n, device))
        expected = _fwd_bwd()
        for config in _launch.CONFIGS:
            monkeypatch.setattr(_launch, "choose_config", lambda n, device, c=config: c)
            for got, want in zip(_fwd_bwd(), expected):
                assert torch.equal(got, want), config
    finally:
        tritonsnn.set_backend(previous)


def test_autotuning_only_on_cuda(monkeypatch):
    assert _launch.choose_config(1000, torch.device("cpu")) == (_launch.INTERPRETER_BLOCK, 4)
    if torch.cuda.is_available():
        assert _launch.choose_config(1000, DEVICE) is None
        monkeypatch.setenv("TRITONSNN_AUTOTUNE", "0")
        assert _launch.choose_config(1000, DEVICE) in _launch.CONFIGS


@pytest.mark.skipif(DEVICE.type != "cuda", reason="needs a CUDA device")
def test_autotuned_launch_matches_the_heuristic(monkeypatch):
    tuned = _fwd_bwd()
    monkeypatch.setenv("TRITONSNN_AUTOTUNE", "0")
    for got, want in zip(_fwd_bwd(), tuned):
        assert torch.equal(got, want)
    from tritonsnn.kernels.lif.kernels import lif_fwd_kernel
    best = _launch._tuned(lif_fwd_kernel, _launch.t_bucket(9)).best_config
    assert (best.kwargs["BLOCK"], best.num_warps) in _launch.CONFIGS


def test_tuning_is_keyed_by_t_bucket_and_every_flag():
    from tritonsnn.kernels.lif.kernels import lif_bwd_kernel
    assert [_launch.t_bucket(t) for t in (1, 16, 17, 128, 129, 1024, 1025, 10**6)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert _launch._tuned(lif_bwd_kernel, 0) is not _launch._tuned(lif_bwd_kernel, 1)
    keys = _launch._tuned(lif_bwd_kernel, 0).keys
    assert keys[0] == "N" and {"RESET", "RESET_DELAY", "SYNAPTIC", "HAS_LEN", "SG_FN", "THR_PER_NEURON"} <= set(keys)
    assert "BLOCK" not in keys


def test_small_layers_split_the_backward_over_time():
    """An SHD layer (batch 32 x 256 neurons) fills at least 2 programs per SM in the backward on
    both reference GPUs (the forward, not affine, stays one program per block); big layers and
    short sequences keep the plain scan; chunks never fall under MIN_CHUNK_STEPS steps."""
    from tritonsnn import aot
    for arch, gpu in aot.REFERENCE_GPUS.items():
        programs = aot.shd_programs(gpu["sms"])
        assert programs["forward"] < 2, arch
        for T in (100, 1000):
            assert programs[f"backward T={T}"] >= 2, (arch, programs)
        assert _launch.chunks_for(128 * 1000, 1000, gpu["sms"]) == 1
        assert _launch.chunks_for(32 * 256, 2 * _launch.MIN_CHUNK_STEPS - 1, gpu["sms"]) == 1
        for T in (16, 40, 100, 1000, 10**5):
            assert T // _launch.chunks_for(256, T, gpu["sms"]) >= _launch.MIN_CHUNK_STEPS
    assert _launch.backward_chunks(256, 1000, torch.device("cpu")) == 1


def _record_launches(monkeypatch, record):
    """Route every kernel launch through `record(kernel, kwargs)` before it runs."""
    real = _launch.wrap_triton

    class Recorder:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            def run(**kwargs):
                record(self.kernel, kwargs)
                return real(self.kernel)[grid](**kwargs)
            return run

    monkeypatch.setattr(_launch, "wrap_triton", Recorder)


def test_every_launch_names_fp_fusion(monkeypatch):
    """Every kernel launch names `enable_fp_fusion` itself, so that Triton's default (off from
    3.10) cannot change the bits of an eager run; the static report compiles with the same."""
    from tritonsnn.kernels.lif import launch as lif_launch
    seen = []
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("triton")
    try:
        _record_launches(monkeypatch, lambda kernel, kwargs: seen.append(kwargs.get("enable_fp_fusion")))
        _fwd_bwd()
        plain = len(seen)
        monkeypatch.setattr(lif_launch, "backward_chunks", lambda n, T, device: 3)
        _fwd_bwd()
    finally:
        tritonsnn.set_backend(previous)
    assert plain >= 6 and len(seen) > 2 * plain and set(seen) == {_launch.FP_FUSION}


def test_alignment_is_what_divides_n_and_every_per_neuron_stride():
    """N_DIV, the divisibility the kernels hint (`kernels.common.aligned`): the largest power of
    two up to 16 dividing N and the time strides of the tensors read per neuron; a broadcast
    gradient's stride (one scalar per step) and an absent tensor's (0) do not lower it."""
    from tritonsnn.kernels.lif.kernels import lif_bwd_kernel, lif_fwd_kernel
    assert _launch.alignment(lif_fwd_kernel, {"N": 1300, "stride_x_t": 1300}) == 4  # 13 x 100 neurons
    assert _launch.alignment(lif_fwd_kernel, {"N": 96, "stride_x_t": 200}) == 8
    assert _launch.alignment(lif_fwd_kernel, {"N": 4096, "stride_x_t": 4096}) == 16
    assert _launch.alignment(lif_fwd_kernel, {"N": 111, "stride_x_t": 111}) == 1
    bwd = {"N": 64, "stride_gs_t": 1, "GS_BCAST": True, "stride_gm_t": 0, "GM_BCAST": False, "stride_gi_t": 0}
    assert _launch.alignment(lif_bwd_kernel, bwd) == 16
    assert _launch.alignment(lif_bwd_kernel, {**bwd, "GS_BCAST": False}) == 1
    assert _launch.alignment(lif_bwd_kernel, {**bwd, "stride_gs_t": 2, "GS_BCAST": False}) == 2


def test_launches_hint_the_layouts_alignment(monkeypatch):
    """Each launch passes the N_DIV of its own tensors, and the kernels give the torch path's
    numbers at every alignment: N % 16 == 4, odd N, and an input sliced from wider rows (time
    stride 40 = 8 x 5 over 32 neurons; the backward's tensors are contiguous)."""
    seen = []

    def fwd_bwd(x, backend):
        previous = tritonsnn.get_backend()
        tritonsnn.set_backend(backend)
        try:
            x = x.detach().requires_grad_()
            outs = [*tritonsnn.functional.leaky(x, 0.8, reset_delay=False), *tritonsnn.functional.synaptic(x, 0.7, 0.8),
                    *tritonsnn.functional.alpha(x, 0.9, 0.8)]
            loss = sum((o * torch.linspace(-1, 1, o.numel(), device=o.device).reshape(o.shape)).sum() for o in outs)
            return [o.detach() for o in outs] + [torch.autograd.grad(loss, x)[0]]
        finally:
            tritonsnn.set_backend(previous)

    gen = torch.Generator().manual_seed(5)
    cases = [((7, 3, 100), None, 4, 4), ((7, 3, 37), None, 1, 1), ((7, 1, 40), 32, 8, 16)]
    for shape, width, fwd_div, bwd_div in cases:
        x = (torch.randn(shape, generator=gen) + 0.4).to(DEVICE)[..., :width]
        seen.clear()
        want = fwd_bwd(x, "torch")
        with monkeypatch.context() as m:
            _record_launches(m, lambda kernel, kwargs: seen.append(("fwd" in kernel.__name__, kwargs["N_DIV"])))
            got = fwd_bwd(x, "triton")
        assert sorted(set(seen)) == sorted({(True, fwd_div), (False, bwd_div)}) and len(seen) >= 6, (shape, seen)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
