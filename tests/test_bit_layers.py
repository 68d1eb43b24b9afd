"""1-bit saved spikes: bit-packing, and tritonsnn.nn.Linear / Conv2d, which save a binary input at
1 bit per element and give exactly torch.nn's gradients; non-binary input is detected and saved
as it is."""
import pytest
import torch
from torch import nn

import tritonsnn
from tritonsnn import _bits
from tritonsnn.bench import counting_saved
from conftest import DEVICE


@pytest.mark.parametrize("n", [1, 7, 8, 9, 1000, 2051])
def test_pack_round_trip_and_layout(backend, n):
    x = (torch.rand(n, generator=torch.Generator().manual_seed(n)) > 0.5).float().to(DEVICE)
    packed = _bits.pack(x)
    assert packed.dtype == torch.uint8 and packed.numel() == (n + 7) // 8
    assert torch.equal(_bits.unpack(packed, x.shape, x.dtype), x)
    bits = torch.zeros((n + 7) // 8 * 8)
    bits[:n] = x.cpu()
    expected = (bits.view(-1, 8) * (1 << torch.arange(8))).sum(1).to(torch.uint8)  # element 8i+j in bit j
    assert torch.equal(packed.cpu(), expected)


@pytest.mark.parametrize("value", [0.5, -1.0, 2.0, float("nan"), float("inf")])
def test_non_binary_input_is_detected(backend, value):
    x = torch.zeros(3, 100, device=DEVICE)
    x[2, 57] = value
    assert _bits.pack(x) is None
    x[2, 57] = 1.0
    assert _bits.pack(x) is not None


LAYERS = {
    "linear": (lambda: nn.Linear(64, 16), lambda: tritonsnn.nn.Linear(64, 16), (25, 4, 64)),
    "conv": (lambda: nn.Conv2d(8, 4, 3, padding=1, stride=2), lambda: tritonsnn.nn.Conv2d(8, 4, 3, padding=1, stride=2),
             (6, 8, 9, 9)),
}


@pytest.mark.parametrize("binary", [True, False], ids=["spikes", "real-valued"])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_gradients_equal_torch_nn_and_spikes_are_saved_in_bits(backend, layer, binary):
    make_ref, make_bit, shape = LAYERS[layer]
    torch.manual_seed(0)
    ref = make_ref().to(DEVICE)
    bit = make_bit().to(DEVICE)
    bit.load_state_dict(ref.state_dict())
    assert bit.state_dict().keys() == ref.state_dict().keys()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(shape, generator=gen)
    x = ((x > 0.6).float() if binary else x).to(DEVICE)
    grads, saved = [], []
    for m in (ref, bit):
        xs = x.clone().requires_grad_()
        with counting_saved() as recorded:
            out = m(xs)
        out.backward(torch.randn(out.shape, generator=gen.manual_seed(2)).to(DEVICE))
        grads.append([xs.grad, m.weight.grad, m.bias.grad])
        saved.append(sum(recorded.values()))
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    weight_bytes = ref.weight.numel() * 4
    if binary:
        assert saved[1] == weight_bytes + (x.numel() + 7) // 8
        assert saved[0] >= weight_bytes + x.numel() * 4
    else:
        assert saved[1] == weight_bytes + x.numel() * 4


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_frozen_weights_still_give_the_input_gradient(backend, layer):
    make_ref, make_bit, shape = LAYERS[layer]
    ref, bit = make_ref().to(DEVICE), make_bit().to(DEVICE)
    bit.load_state_dict(ref.state_dict())
    for m in (ref, bit):
        m.requires_grad_(False)
    x = (torch.rand(shape) > 0.5).float().to(DEVICE)
    grads = []
    for m in (ref, bit):
        xs = x.clone().requires_grad_()
        m(xs).square().sum().backward()
        grads.append(xs.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=0)
