"""Device choice: a GPU when there is one, else the CPU (d2l's ``try_gpu``)."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["try_gpu", "seed_everything"]


def try_gpu(i: int = 0) -> torch.device:
    """Return ``cuda:i`` if that GPU exists, else ``cpu``. Source: d2l.ai section 6.7."""
    if torch.cuda.is_available() and torch.cuda.device_count() > i:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
