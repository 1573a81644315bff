"""Peak memory of one forward pass: the weights path against the fused path.

The weights path materialises the ``[batch, heads, T, T]`` scores and weights; the fused
``scaled_dot_product_attention`` works through the keys in blocks and never holds them.
Each path's peak is reported next to the analytic size of one attention matrix,
``batch · heads · T² · bytes per element``.

Measurement: :func:`d2lmha.memory.peak_bytes` (CUDA: ``max_memory_allocated``; CPU:
``torch.profiler`` memory records), the same function chapter 02 uses.
"""

from __future__ import annotations

import torch

import d2lmha
from d2lmha.memory import peak_bytes  # noqa: F401  (re-exported: the benchmark's measure)

__all__ = ["peak_bytes", "attention_matrix_bytes", "memory_table"]


def attention_matrix_bytes(batch: int, heads: int, length: int, dtype=torch.float32) -> int:
    """Bytes of one ``[batch, heads, length, length]`` tensor of ``dtype``."""
    return batch * heads * length * length * torch.empty((), dtype=dtype).element_size()


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
        rows.append(
            {
                "path": name,
                "attention matrix MiB": matrix / 2**20,
                "peak MiB": peak / 2**20,
                "peak / matrix": peak / matrix,
            }
        )
    return rows
