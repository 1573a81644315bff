"""Achieved GFLOP/s of the fused path, as a fraction of this machine's matmul GFLOP/s.

The fused path's FLOPs are those of its matrix products, counted by
``torch.utils.flop_counter.FlopCounterMode`` on the weights path (the same products;
the counter does not see inside the CPU ``scaled_dot_product_attention`` kernel) and
checked against ``8·B·T·d² + 4·B·T²·d``. The machine's reference is a square float32
matmul of the same device, timed with ``torch.utils.benchmark``.
"""

from __future__ import annotations

import torch
from torch.utils import benchmark
from torch.utils.flop_counter import FlopCounterMode

import d2lmha

__all__ = ["matmul_gflops", "attention_flops", "fused_gflops"]


def _seconds(f, min_run_time: float) -> float:
    """Median seconds per call of ``f()`` under ``no_grad``, all threads."""
    timer = benchmark.Timer("f()", globals={"f": f}, num_threads=torch.get_num_threads())
    with torch.no_grad():
        f()
        return timer.blocked_autorange(min_run_time=min_run_time).median


def matmul_gflops(n: int, device, min_run_time: float = 0.5) -> float:
    """GFLOP/s of an ``n × n`` by ``n × n`` float32 matmul (``2 n³`` FLOPs per call)."""
    A, B = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / _seconds(lambda: A @ B, min_run_time) / 1e9


def attention_flops(batch: int, length: int, width: int, heads: int) -> int:
    """Matmul FLOPs of one self-attention forward, counted on d2lmha's weights path.

    Raises:
        RuntimeError: the count differs from ``8·B·T·d² + 4·B·T²·d``.
    """
    layer = d2lmha.MultiHeadAttention(width, heads).eval()
    X = torch.randn(batch, length, width, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        layer.to("meta")(X, X, X)
    counted = counter.get_total_flops()
    formula = 8 * batch * length * width**2 + 4 * batch * length**2 * width
    if counted != formula:
        raise RuntimeError(f"FlopCounterMode counted {counted} FLOPs, formula gives {formula}")
    return counted


def fused_gflops(
    batch: int,
    length: int,
    width: int,
    heads: int,
    device,
    matmul_n: int,
    min_run_time: float = 0.5,
) -> dict:
    """GFLOP/s of d2lmha's fused forward and of torch's, against the matmul reference.

    Returns:
        dict with ``matmul GFLOP/s``, ``d2lmha fused GFLOP/s``, ``torch fused GFLOP/s`` and
        the two fractions of the matmul figure.
    """
    flops = attention_flops(batch, length, width, heads)
    d2lmha.seed_everything(0)
    layer = d2lmha.MultiHeadAttention(width, heads).to(device).eval()
    reference = d2lmha.to_torch_multihead(layer)
    X = torch.randn(batch, length, width).to(device)
    peak = matmul_gflops(matmul_n, device, min_run_time)
    ours = flops / _seconds(lambda: layer(X, X, X, need_weights=False), min_run_time) / 1e9
    theirs = flops / _seconds(lambda: reference(X, X, X, need_weights=False), min_run_time) / 1e9
    return {
        "matmul GFLOP/s": peak,
        "d2lmha fused GFLOP/s": ours,
        "torch fused GFLOP/s": theirs,
        "d2lmha fused / matmul": ours / peak,
        "torch fused / matmul": theirs / peak,
    }
