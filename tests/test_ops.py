"""The torch.library ops: schemas, fake and autograd registrations, and what the forward saves for
the backward (torch.compile and torch.export: test_compile.py)."""
import pytest
import torch

import tritonsnn
from tritonsnn import surrogate
from conftest import DEVICE
from helpers import assert_close

ON_GPU = DEVICE.type == "cuda"


def _fwd_args(delay, backend, mem0=True, stochastic=False, synaptic=False, lengths=False):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 4, generator=gen).to(DEVICE).requires_grad_()
    m0 = torch.randn(3, 4, generator=gen).to(DEVICE).requires_grad_() if mem0 else None
    s0 = torch.randn(3, 4, generator=gen).to(DEVICE).requires_grad_() if synaptic and mem0 else None
    alpha = torch.rand(4, generator=gen).to(DEVICE).requires_grad_() if synaptic else None
    decay = torch.rand(4, generator=gen).to(DEVICE).requires_grad_()
    thr = torch.tensor(1.0, device=DEVICE, requires_grad=True)
    gsf = torch.tensor(1.5, device=DEVICE)
    sg = surrogate.SSO(mean=0.1, variance=0.3) if stochastic else surrogate.atan()
    seed = torch.tensor([7], device=DEVICE) if stochastic else None
    lens = torch.tensor([5, 2, 0], device=DEVICE) if lengths else None
    return (x, m0, s0, alpha, decay, thr, gsf, 1 if synaptic else 0, delay, synaptic, x.dtype, x.dtype,
            sg.kernel_id, sg.kernel_params(x), seed, backend, lens)


def _bwd_args(fwd_args, param_grad, with_grads):
    (x, m0, s0, alpha, decay, thr, gsf, reset, delay, reset_input, _, _, sg_id, sg_params, seed,
     backend, lens) = fwd_args
    with torch.no_grad():
        spk, mem, h, syn = torch.ops.tritonsnn.lif_fwd(*fwd_args)
    g_mem = torch.randn_like(mem) if with_grads else None
    g_syn = torch.randn_like(syn) if with_grads and alpha is not None else None

    def d(t):
        return None if t is None else t.detach()
    return (torch.randn_like(spk), g_mem, g_syn, mem, h, syn, d(m0), d(s0), d(alpha), d(decay),
            d(thr), gsf, reset, delay, reset_input, sg_id, sg_params, seed, param_grad,
            alpha is not None and param_grad, backend, lens)


def _without_backend(args):
    """The arguments of an op's opaque torch twin: the op's, less the backend (second to last)."""
    return (*args[:-2], args[-1])


def _opcheck_utils(backend):
    # The Triton interpreter reads real data pointers, so fake-tensor tracing of the Triton branch
    # only runs on a GPU; on CPU the interpreter path checks schema and autograd registration.
    if backend == "triton" and not ON_GPU:
        return ("test_schema", "test_autograd_registration")
    return ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


@pytest.mark.parametrize("delay,mem0,stochastic,synaptic,lengths", [
    (True, True, False, False, False), (True, False, False, False, False), (False, True, False, False, False),
    (False, False, True, False, False), (True, True, False, True, False), (False, False, False, True, False),
    (True, True, False, False, True), (False, True, False, True, True)])
@pytest.mark.parametrize("backend_name", ["auto", "triton", "torch"])
def test_opcheck(delay, mem0, stochastic, synaptic, lengths, backend_name):
    args = _fwd_args(delay, backend_name, mem0, stochastic, synaptic, lengths)
    utils = _opcheck_utils("triton" if backend_name == "auto" and ON_GPU else backend_name)
    torch.library.opcheck(torch.ops.tritonsnn.lif_fwd, args, test_utils=utils)
    for param_grad in (True, False):
        for with_grads in (True, False):
            bwd = _bwd_args(args, param_grad, with_grads)
            torch.library.opcheck(torch.ops.tritonsnn.lif_bwd, bwd, test_utils=utils)
            if backend_name == "torch":
                torch.library.opcheck(torch.ops.tritonsnn.lif_bwd_torch, _without_backend(bwd))
    if backend_name == "torch":
        # The opaque torch implementation inside the ops: differentiable only through lif_fwd.
        inner = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in (*args[:12], args[-1]))
        torch.library.opcheck(torch.ops.tritonsnn.lif_fwd_torch, inner)


@pytest.mark.parametrize("synaptic,one_to_one,lengths", [
    (False, False, False), (True, False, True), (False, True, True), (True, True, False)])
def test_opcheck_rlif(synaptic, one_to_one, lengths):
    """The recurrent family's ops (the Triton backend's only: `kernels/rlif/op.py`), RLeaky and
    RSynaptic, Linear and one-to-one terms, with every initial state, and their backward with
    and without the parameters' sums."""
    gen = torch.Generator().manual_seed(2)

    def randn(*shape, grad=True):
        return torch.randn(shape, generator=gen).to(DEVICE).requires_grad_(grad)
    T, B, F = 5, 3, 4
    x = randn(T, B, F)
    spk0 = (torch.rand(B, F, generator=gen) > 0.5).float().to(DEVICE)
    syn0, alpha = (randn(B, F), torch.tensor(0.7, device=DEVICE, requires_grad=True)) if synaptic else (None, None)
    weight, bias, V = (None, None, randn(F)) if one_to_one else (randn(F, F), randn(F), None)
    decay, thr = (torch.tensor(v, device=DEVICE, requires_grad=True) for v in (0.8, 0.5))
    atan = surrogate.atan()
    lens = torch.tensor([5, 2, 0], device=DEVICE) if lengths else None
    args = (x, spk0, syn0, randn(B, F), weight, bias, V, alpha, decay, thr, torch.tensor(1.0, device=DEVICE), 0,
            atan.kernel_id, atan.kernel_params(x), lens)
    utils = _opcheck_utils("triton")
    torch.library.opcheck(torch.ops.tritonsnn.rlif_fwd, args, test_utils=utils)
    detached = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
    with torch.no_grad():
        spk, syn, mem = torch.ops.tritonsnn.rlif_fwd(*detached)
    x, spk0, syn0, mem0, weight, bias, V, alpha, decay, thr, gsf, reset, sg_id, sg_params, lens = detached
    for param_grad in (True, False):
        bwd = (torch.randn_like(spk), torch.randn_like(syn) if synaptic else None, torch.randn_like(mem), mem, mem0,
               weight, V, alpha, decay, thr, gsf, reset, sg_id, sg_params, param_grad, lens)
        torch.library.opcheck(torch.ops.tritonsnn.rlif_bwd, bwd, test_utils=utils)


def test_every_op_is_opchecked():
    """The ops in the namespace are exactly the ones the opcheck tests here cover."""
    ops = {n for n in dir(torch.ops.tritonsnn) if isinstance(getattr(torch.ops.tritonsnn, n), torch._ops.OpOverloadPacket)}
    assert ops == {"lif_fwd", "lif_bwd", "lif_fwd_torch", "lif_bwd_torch",
                   "alpha_fwd", "alpha_bwd", "alpha_fwd_torch", "alpha_bwd_torch", "rlif_fwd", "rlif_bwd"}


def test_saved_for_backward_is_the_membrane_only(backend):
    """Per neuron-step, the forward saves exactly U's dtype size (plus the 0-d parameters and the
    surrogate's two fp64 parameters, a tensor the surrogate already holds)."""
    for dtype in (torch.float32, torch.float16):
        T, B, N = 6, 4, 10
        x = torch.randn(T, B, N, dtype=dtype, device=DEVICE, requires_grad=True)
        beta, thr, gsf = (torch.tensor(v, device=DEVICE) for v in (0.9, 1.0, 1.0))
        saved = {}

        def pack(t):
            saved[t.data_ptr()] = t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            spk, mem = tritonsnn.functional.leaky(x, beta, threshold=thr, graded_spikes_factor=gsf)
        params = sum(p.numel() * p.element_size() for p in (beta, thr, gsf)) + 2 * 8
        assert sum(saved.values()) == T * B * N * x.element_size() + params
        spk.sum().backward()


def test_inference_saves_nothing(backend):
    saved = []
    with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        tritonsnn.functional.leaky(torch.randn(4, 3, device=DEVICE), 0.9)
    assert saved == []


@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA device")
def test_one_kernel_for_every_T():
    """T is a runtime argument (not specialised): after the first call, with its autotuning, no
    sequence length compiles anything new."""
    from tritonsnn.kernels.lif.kernels import lif_fwd_kernel

    def compiled():
        return sum(len(c) for c in lif_fwd_kernel.device_caches[DEVICE.index or 0][0].values())

    tritonsnn.functional.leaky(torch.randn(1, 256, device=DEVICE), 0.9)
    first = compiled()
    for T in (2, 3, 16, 17, 100, 1000):
        tritonsnn.functional.leaky(torch.randn(T, 256, device=DEVICE), 0.9)
    assert compiled() == first


@pytest.mark.parametrize("backend_name", ["auto", "triton", "torch"])
@pytest.mark.parametrize("decays_learnable,lengths", [(True, False), (False, False), (True, True)])
def test_opcheck_alpha(backend_name, decays_learnable, lengths):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, 4, generator=gen).to(DEVICE).requires_grad_()
    states = [torch.randn(3, 4, generator=gen).to(DEVICE).requires_grad_() for _ in range(2)]
    a, b = (torch.tensor(v, device=DEVICE, requires_grad=decays_learnable) for v in (0.9, 0.7))
    tau = (torch.log(a) / (torch.log(b) - torch.log(a)) + 1).detach().requires_grad_(decays_learnable)
    thr, gsf = torch.tensor(0.3, device=DEVICE, requires_grad=True), torch.tensor(1.0, device=DEVICE)
    atan = surrogate.atan()
    lens = torch.tensor([1, 5, 3], device=DEVICE) if lengths else None
    args = (x, *states, None, a, b, tau, thr, gsf, 1, x.dtype, x.dtype, decays_learnable, atan.kernel_id,
            atan.kernel_params(x), None, backend_name, lens)
    utils = _opcheck_utils("triton" if backend_name == "auto" and ON_GPU else backend_name)
    torch.library.opcheck(torch.ops.tritonsnn.alpha_fwd, args, test_utils=utils)
    with torch.no_grad():
        spk, exc, inh, mem, _, _ = torch.ops.tritonsnn.alpha_fwd(*args)
    detached = [t.detach() for t in (*states, a, b, tau, thr)]
    bwd = (torch.randn_like(spk), torch.randn_like(exc), None, torch.randn_like(mem), mem, exc, inh,
           detached[0], detached[1], None, *detached[2:], gsf, 1, atan.kernel_id, atan.kernel_params(x), None,
           True, decays_learnable, backend_name, lens)
    torch.library.opcheck(torch.ops.tritonsnn.alpha_bwd, bwd, test_utils=utils)
    if backend_name == "torch":
        torch.library.opcheck(torch.ops.tritonsnn.alpha_fwd_torch,
                              tuple(t.detach() if isinstance(t, torch.Tensor) else t for t in (*args[:13], lens)))
        torch.library.opcheck(torch.ops.tritonsnn.alpha_bwd_torch, _without_backend(bwd))


def test_incoming_gradient_broadcast_over_neurons_stays_a_view():
    from tritonsnn._launch import incoming_grad

    g = torch.tensor(2.0).expand(5, 3, 4)  # what spk.sum() hands the backward
    g2, stride_t, bcast = incoming_grad(g)
    assert bcast and stride_t == 0 and g2.data_ptr() == g.data_ptr() and g2.shape == (5, 12)
    per_step = torch.arange(5.0).reshape(5, 1, 1).expand(5, 3, 4)  # spk.sum((1, 2))
    g2, stride_t, bcast = incoming_grad(per_step)
    assert bcast and stride_t == 1 and g2.data_ptr() == per_step.data_ptr()
    over_time = torch.randn(3, 4).expand(5, 3, 4)  # spk.sum(0)
    g2, stride_t, bcast = incoming_grad(over_time)
    assert not bcast and stride_t == 0 and g2.data_ptr() == over_time.data_ptr()


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("neuron", ["leaky", "synaptic", "alpha"])
def test_broadcast_gradients_match_materialised_ones(backend, neuron, padded):
    """spk.sum() and mem.mean() hand the backward stride-0 gradients; the kernels read them in
    place and must give what the same gradients give as full tensors (also past the per-sample
    lengths of a padded batch, where both are ignored)."""
    torch.manual_seed(0)
    x = torch.randn(6, 3, 5, device=DEVICE, requires_grad=True)
    kw = {"lengths": torch.tensor([6, 2, 0], device=DEVICE)} if padded else {}
    run = {"leaky": lambda: tritonsnn.functional.leaky(x, 0.8, threshold=0.5, **kw),
           "synaptic": lambda: tritonsnn.functional.synaptic(x, 0.7, 0.8, threshold=0.5, **kw)[::2],
           "alpha": lambda: tritonsnn.functional.alpha(x, 0.9, 0.8, threshold=0.3, **kw)[::3]}[neuron]
    grads = []
    for broadcast in (True, False):
        spk, mem = run()
        if broadcast:
            loss = spk.sum() + 3 * mem.mean()
        else:
            loss = (spk * torch.ones_like(spk)).sum() + (mem * torch.full_like(mem, 3 / mem.numel())).sum()
        grads.append(torch.autograd.grad(loss, x)[0])
    assert_close(grads[0], grads[1], 1e-6, "dx")


@pytest.mark.parametrize("backend_name", ["triton", "torch"])
@pytest.mark.parametrize("spike_dtype,save_dtype", [(torch.float32, torch.float16), (torch.uint8, torch.float32),
                                                    (torch.bool, torch.float16)])
def test_opcheck_storage_dtypes(backend_name, spike_dtype, save_dtype):
    args = list(_fwd_args(True, backend_name))
    args[10:12] = spike_dtype, save_dtype
    if not spike_dtype.is_floating_point:  # binary spikes: inference only
        args = [a.detach() if isinstance(a, torch.Tensor) else a for a in args]
    utils = _opcheck_utils(backend_name)
    torch.library.opcheck(torch.ops.tritonsnn.lif_fwd, tuple(args), test_utils=utils)
    spk, mem, _, _ = torch.ops.tritonsnn.lif_fwd(*args)
    assert (spk.dtype, mem.dtype) == (spike_dtype, save_dtype)
