"""Long sequences: truncated backpropagation through time with detach_hidden, equal to the naive
reference with the state detached every K steps, and activation memory that follows K, not T."""
import torch
from torch import nn

import tritonsnn
from tritonsnn import reference
from tritonsnn.bench import counting_saved
from conftest import DEVICE
from helpers import assert_close

T, K, B, N_IN, N = 40, 10, 3, 6, 5


def _data():
    gen = torch.Generator().manual_seed(4)
    return (torch.randn(T, B, N_IN, generator=gen) + 0.4).to(DEVICE), torch.randn(T, B, N, generator=gen).to(DEVICE)


def _fc():
    torch.manual_seed(0)
    return nn.Linear(N_IN, N).to(DEVICE)


def test_truncated_bptt_equals_the_reference_detached_every_k_steps(backend):
    x, target = _data()
    fc, lif = _fc(), tritonsnn.Leaky(beta=0.85, learn_beta=True, init_hidden=True, output=True,
                                      step_mode="multi").to(DEVICE)
    for chunk, y in zip(x.split(K), target.split(K)):
        lif.detach_hidden()
        spk, mem = lif(fc(chunk))
        ((spk + mem - y) ** 2).mean().backward()

    fc_r = _fc()
    beta = torch.tensor(0.85, device=DEVICE, requires_grad=True)
    state = None
    for chunk, y in zip(x.split(K), target.split(K)):
        state = None if state is None else state.detach()
        spk, mem = reference.leaky(fc_r(chunk), beta, mem=state)
        ((spk + mem - y) ** 2).mean().backward()
        state = mem[-1]
    for got, want, name in ((fc.weight.grad, fc_r.weight.grad, "weight"), (fc.bias.grad, fc_r.bias.grad, "bias"),
                            (lif.beta.grad, beta.grad, "beta")):
        assert_close(got, want, 1e-4, name)


def test_activation_memory_follows_the_chunk_not_the_sequence(backend):
    x, _ = _data()
    fc, lif = _fc(), tritonsnn.Leaky(beta=0.85, init_hidden=True, step_mode="multi").to(DEVICE)
    per_chunk = []
    for chunk in x.split(K):
        lif.detach_hidden()
        with counting_saved() as saved:
            out = lif(fc(chunk))
        out.sum().backward()
        per_chunk.append(sum(saved.values()))
    # Every chunk after the first also saves its initial state; nothing grows with the chunk index
    # (a carried state that viewed the previous chunk's sequence would keep that alive).
    assert len(set(per_chunk[1:])) == 1 and per_chunk[1] - per_chunk[0] == B * N * 4
    assert per_chunk[0] < 2 * K * B * (N_IN + N) * 4 + 4096  # the chunk's input and membrane, ~K
