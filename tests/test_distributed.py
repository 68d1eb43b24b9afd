"""Multi-process training with PyTorch's own engine: two CPU processes (gloo) train a tritonsnn
model under DistributedDataParallel, and their averaged gradients equal one process's gradients
on the concatenated batch."""
import faulthandler
import os
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import tritonsnn

WORLD = 2


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 16)
        self.lif1 = tritonsnn.Leaky(beta=0.9, learn_beta=True, step_mode="multi")
        self.fc2 = nn.Linear(16, 4)
        self.lif2 = tritonsnn.Synaptic(alpha=0.8, beta=0.85, learn_threshold=True, step_mode="multi")

    def forward(self, x):
        spk, _ = self.lif1(self.fc1(x))
        spk, _, mem = self.lif2(self.fc2(spk))
        return spk.sum(0) + mem.mean(0)


def _data():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 6, 10, generator=gen) + 0.3, torch.randn(6, 4, generator=gen)


def _model():
    torch.manual_seed(0)
    return Net()


def _worker(rank: int, store: str, out: str) -> None:
    # A stuck worker prints where it is stuck and exits, instead of hanging the run.
    faulthandler.dump_traceback_later(90, exit=True)
    # Gloo connects the ranks over the interface named here (loopback), not over whatever address
    # the host name resolves to; a file store: no port to race for, and no rendezvous server
    # living in one of the ranks.
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    try:
        _train_half(rank, out)
        dist.barrier()  # leave together
    finally:
        dist.destroy_process_group()
    # Leave without the interpreter's teardown: a worker once hung after destroy_process_group
    # in a destructor run as its frame unwound (faulthandler: no Python frame below spawn's
    # _wrap). Everything this process owes is written by now.
    os._exit(0)


def _train_half(rank: int, out: str) -> None:
    """One DDP step on this rank's half of the batch; rank 0 saves the gradients. The DDP model
    (and its reducer) dies with this call, while the process group is still alive."""
    model = nn.parallel.DistributedDataParallel(_model())
    x, y = _data()
    half = x.shape[1] // WORLD
    mine = slice(rank * half, (rank + 1) * half)
    loss = nn.functional.mse_loss(model(x[:, mine]), y[mine])
    loss.backward()
    if rank == 0:
        torch.save({n: p.grad for n, p in model.module.named_parameters()}, out)


def test_ddp_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    out = str(tmp_path / "grads.pt")
    workers = mp.spawn(_worker, args=(str(tmp_path / "store"), out), nprocs=WORLD, join=False)
    deadline = time.monotonic() + 150
    while not workers.join(timeout=5):  # a hung worker fails the test instead of the run
        if time.monotonic() > deadline:
            for p in workers.processes:
                p.kill()
            pytest.fail("the DDP workers did not finish within 150 s")
    ddp_grads = torch.load(out)
    model = _model()
    x, y = _data()
    nn.functional.mse_loss(model(x), y).backward()
    assert ddp_grads.keys() == dict(model.named_parameters()).keys()
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp_grads[name], p.grad, rtol=1e-5, atol=1e-6, msg=name)
