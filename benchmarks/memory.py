"""Peak memory of one forward pass: the weights path against the fused path.

The weights path materialises the ``[batch, heads, T, T]`` scores and weights; the fused
``scaled_dot_product_attention`` works through the keys in blocks and never holds them.
Each path's peak is reported next to the analytic size of one attention matrix,
``batch · heads · T² · bytes per element``.

Measurement: on CUDA, ``torch.cuda.max_memory_allocated`` above the allocation at the
start. On CPU, ``torch.profiler`` with ``profile_memory=True`` records every allocation and
free made by PyTorch's CPU allocator; the running sum of those records, in time order,
peaks at the forward's peak allocation above the start.
"""
from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile

import d2lmha

__all__ = ["peak_bytes", "attention_matrix_bytes", "memory_table"]


def attention_matrix_bytes(batch: int, heads: int, length: int, dtype=torch.float32) -> int:
    """Bytes of one ``[batch, heads, length, length]`` tensor of ``dtype``."""
    return batch * heads * length * length * torch.empty((), dtype=dtype).element_size()


def peak_bytes(forward, device) -> int:
    """Peak bytes allocated by PyTorch during ``forward()`` (run under ``no_grad``).

    Args:
        forward: zero-argument callable.
        device: ``torch.device`` the work runs on (``cuda`` or ``cpu``).

    Returns:
        Peak allocation above the allocation when the call started, in bytes (>= 0).
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        with torch.no_grad():
            forward()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - start
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with torch.no_grad():
            forward()
    records = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                     key=lambda e: e.start_ns())
    running = peak = 0
    for record in records:
        running += record.nbytes()
        peak = max(peak, running)
    return peak


def memory_table(batch: int, length: int, width: int, heads: int, device):
    """Peak memory of d2lmha's weights and fused paths (and torch's) at one size.

    Returns:
        A list of row dicts: ``path``, ``attention matrix MiB`` (analytic), ``peak MiB``
        (measured) and ``peak / matrix``.
    """
    d2lmha.seed_everything(0)
    layer = d2lmha.MultiHeadAttention(width, heads).to(device).eval()
    reference = d2lmha.to_torch_multihead(layer)
    X = torch.randn(batch, length, width).to(device)
    paths = {
        "d2lmha weights": lambda: layer(X, X, X),
        "d2lmha fused": lambda: layer(X, X, X, need_weights=False),
        "torch weights": lambda: reference(X, X, X, average_attn_weights=False),
        "torch fused": lambda: reference(X, X, X, need_weights=False),
    }
    matrix = attention_matrix_bytes(batch, heads, length)
    rows = []
    for name, forward in paths.items():
        peak = peak_bytes(forward, device)
        rows.append({"path": name, "attention matrix MiB": matrix / 2**20,
                     "peak MiB": peak / 2**20, "peak / matrix": peak / matrix})
    return rows
