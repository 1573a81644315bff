"""Speed and memory of d2lmha's multi-head attention, as ratios against PyTorch's layer.

Run ``make bench`` (``python -m benchmarks``; ``--quick`` for a smoke run). Modules:
``speed`` (paired, interleaved timings with ``torch.utils.benchmark``), ``memory`` (peak
memory of the weights and fused paths), ``flops`` (achieved GFLOP/s against a matmul),
``report`` (machine description, markdown) and ``d2l_reference`` (d2l 1.0.3's own
``MultiHeadAttention``, loaded without ``import d2l.torch``).
"""
