"""Device choice: a GPU when there is one, else the CPU (d2l's ``try_gpu``)."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from ._checks import check_positive_int

__all__ = ["try_gpu", "seed_everything", "fixed_threads"]


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


@contextlib.contextmanager
def fixed_threads(num_threads: int = 1):
    """Run a block (or, as a decorator, a function) with torch on ``num_threads`` CPU threads.

    Why: a CPU matrix product or reduction split over more threads adds its partial sums in
    another order, so float32 results differ in the last bits, and over a few hundred
    training steps those bits grow into another model (chapter 06: the same seed gave
    exact match 0.904 at one thread count and 0.980 at another). Pinning the count makes
    the same seed give the same numbers on one machine whatever
    ``torch.get_num_threads()`` was (``make test``, ``make notebooks``, a laptop). Another
    CPU, BLAS build, torch version or a GPU may still round differently. One thread is
    also the cheaper choice for this course's small models (no thread start-up per op).

    Args:
        num_threads: threads inside the block (int >= 1). The count in force before is
            restored on exit, also when the block raises.

    Raises:
        TypeError / ValueError: ``num_threads`` not an int >= 1.

    Example::

        with d2lmha.fixed_threads(1):
            history = train(model, task)

    Source: PyTorch docs, "CPU threading and TorchScript inference"
    (https://pytorch.org/docs/stable/notes/cpu_threading_torchscript_inference.html).
    """
    check_positive_int("num_threads", num_threads)
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
