"""NIR's fields as arrays and back, and the settings NIR's neurons compute."""
from __future__ import annotations

import numpy as np
import torch

# What NIR's LIF and CubaLIF compute: a reset to v_reset in the step the neuron fires.
EXACT = {"reset_mechanism": "zero", "reset_delay": False}


def array(t, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter broadcast to the layer's neurons (`shape`, without the batch), as float32."""
    return np.broadcast_to(np.asarray(torch.as_tensor(t).detach().cpu(), dtype=np.float32), shape).copy()


def weight(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def pair(value) -> np.ndarray:
    """A 2-d size (an int, a pair, or the array a NIR file holds) as an int array [2]."""
    value = np.asarray(value, dtype=np.int64).reshape(-1)
    return np.repeat(value, 2) if value.size == 1 else value


def pair_tuple(value) -> tuple[int, int]:
    return tuple(pair(value).tolist())


def tensor(value) -> torch.Tensor:
    """A NIR field (an array, or a number) as an fp32 tensor."""
    return torch.as_tensor(np.asarray(value, dtype=np.float32))


def close(a, b) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=1e-5, atol=0))
