"""Peak memory that PyTorch allocates during one call, on a CPU or a CUDA device.

Used by chapter 02 (the weights path against the fused ``scaled_dot_product_attention``
path) and by ``benchmarks/memory.py``.

Measurement: on CUDA, ``torch.cuda.max_memory_allocated`` above the allocation at the
start. On CPU, ``torch.profiler`` with ``profile_memory=True`` records every allocation and
free made by PyTorch's CPU allocator; the running sum of those records, in time order,
peaks at the call's peak allocation above the start. Memory that is not allocated by
PyTorch (Python objects, NumPy arrays) is not counted. The C++ log lines that the profiler
writes to file descriptor 2 while it runs are muted.

Source: PyTorch documentation, ``torch.profiler`` (``profile_memory``) and
``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import contextlib
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["peak_bytes"]


def peak_bytes(forward, device) -> int:
    """Peak bytes allocated by PyTorch during ``forward()`` (run under ``no_grad``).

    Args:
        forward: zero-argument callable.
        device: ``torch.device`` the work runs on (``cuda`` or ``cpu``).

    Returns:
        Peak allocation above the allocation when the call started, in bytes (an
        ``int`` >= 0).

    Raises:
        TypeError: ``forward`` is not callable or ``device`` is not a ``torch.device``
            (checked before anything runs).
    """
    if not callable(forward):
        raise TypeError(f"forward must be a zero-argument callable, got {type(forward).__name__}")
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device, got {type(device).__name__}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        with torch.no_grad():
            forward()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - start
    # The profiler and the allocator write C++ log lines (start, stop, "memory block of
    # unknown size") straight to file descriptor 2: they are not results, so they are muted.
    # Python exceptions and warnings still reach the caller.
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with torch.no_grad():
            forward()
    records = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
        key=lambda e: e.start_ns(),
    )
    running = peak = 0
    for record in records:
        running += record.nbytes()
        peak = max(peak, running)
    return peak


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null for the block (C++ log lines included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
