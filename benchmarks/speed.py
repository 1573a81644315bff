"""Paired, interleaved timings of every multi-head attention version against PyTorch's.

For each size point, every implementation runs on the same weights and inputs. In each
round the implementations are timed one after another (the order rotates from round to
round), and each one's time is divided by the time of ``torch.nn.MultiheadAttention``
*in the same round*; the reported ratio is the median over rounds. Pairing within a
round cancels most of the drift of a shared machine; the absolute times are reported
too, but only the ratios are comparable between machines.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch
from torch.utils import benchmark

import d2lmha

from .d2l_reference import d2l_available, d2l_multihead_from

__all__ = ["Point", "IMPLEMENTATIONS", "GOALS", "build_implementations", "time_point"]

#: implementation name -> the torch baseline it is compared with ("d2l 1.0.3" only when
#: d2l's source is installed)
IMPLEMENTATIONS = {
    "torch weights": "torch weights",
    "torch fused": "torch fused",
    "d2lmha loop": "torch weights",
    "d2lmha einsum": "torch weights",
    "d2lmha weights": "torch weights",
    "d2lmha fused": "torch fused",
    "d2l 1.0.3": "torch weights",
}
#: goals on CPU: the largest acceptable median ratio against the baseline
GOALS = {"d2lmha weights": 1.2, "d2lmha fused": 1.0}


@dataclass(frozen=True)
class Point:
    """One size point: ``batch`` sequences of ``length`` tokens, ``width`` = d_model, ``heads``.

    ``padded`` gives every sequence a random valid length in ``[length/2, length]``
    (``valid_lens`` for d2lmha/d2l, ``key_padding_mask`` for torch).
    """

    batch: int
    length: int
    width: int
    heads: int
    padded: bool = False

    def __str__(self) -> str:
        text = f"B={self.batch} T={self.length} D={self.width} h={self.heads}"
        return text + (" padded" if self.padded else "")


def build_implementations(point: Point, device, dtype=torch.float32, seed: int = 0):
    """Every implementation of ``point`` on one set of weights, as zero-argument forwards.

    Returns:
        ``(forwards, inputs)``: ``forwards`` maps each name of :data:`IMPLEMENTATIONS` to
        ``(forward, module)``, where ``forward()`` returns the output
        ``[batch, length, width]`` and ``module`` holds the parameters it uses;
        ``inputs`` is the self-attention input ``X`` ``[batch, length, width]``.
    """
    d2lmha.seed_everything(seed)
    layer = d2lmha.MultiHeadAttention(point.width, point.heads).to(device, dtype).eval()
    reference = d2lmha.to_torch_multihead(layer)
    X = torch.randn(point.batch, point.length, point.width, dtype=dtype).to(device)
    lens = key_padding = None
    if point.padded:
        lens = torch.randint(point.length // 2, point.length + 1, (point.batch,)).to(device)
        key_padding = ~d2lmha.valid_lens_mask(lens, 1, point.length)[:, 0]
    forwards = {
        "torch weights": (
            lambda: reference(
                X, X, X, key_padding_mask=key_padding, need_weights=True, average_attn_weights=False
            )[0],
            reference,
        ),
        "torch fused": (
            lambda: reference(X, X, X, key_padding_mask=key_padding, need_weights=False)[0],
            reference,
        ),
        "d2lmha loop": (lambda: d2lmha.multihead_loop(layer, X, X, X, lens)[0], layer),
        "d2lmha einsum": (lambda: d2lmha.multihead_einsum(layer, X, X, X, lens)[0], layer),
        "d2lmha weights": (lambda: layer(X, X, X, lens), layer),
        "d2lmha fused": (lambda: layer(X, X, X, lens, need_weights=False), layer),
    }
    if d2l_available():
        d2l_layer = d2l_multihead_from(layer)
        forwards["d2l 1.0.3"] = (lambda: d2l_layer(X, X, X, lens), d2l_layer)
    return forwards, X


def _step(forward, module, X, backward: bool):
    """A zero-argument callable: forward only (no autograd), or forward and backward."""
    if not backward:

        def run():
            with torch.no_grad():
                forward()

        return run
    X.requires_grad_(True)
    inputs = [X, *module.parameters()]
    grad = torch.ones_like(X)

    def run():
        # autograd.grad does not accumulate into .grad, so every call does the same work
        torch.autograd.grad(forward(), inputs, grad)

    return run


def time_point(point: Point, device, rounds: int, target_s: float, backward: bool):
    """Paired, interleaved timings of all implementations at one point.

    Args:
        point: the sizes.
        device: where to run.
        rounds: number of rounds (each round times every implementation once).
        target_s: seconds each timing should last (sets how many calls it averages).
        backward: time forward + backward instead of forward only (under ``no_grad``).

    Returns:
        dict name -> ``{"ms": median seconds per call × 1e3, "ratio": median over rounds
        of time / baseline time in the same round, "ratio min", "ratio max": the smallest
        and largest of those per-round ratios}``.
    """
    forwards, X = build_implementations(point, device)
    threads = torch.get_num_threads()
    timers, numbers = {}, {}
    for name, (forward, module) in forwards.items():
        timer = benchmark.Timer(
            "run()", globals={"run": _step(forward, module, X, backward)}, num_threads=threads
        )
        timer.timeit(1)  # warm-up (lazy init, caches)
        once = timer.timeit(1).mean
        timers[name], numbers[name] = timer, max(1, math.ceil(target_s / max(once, 1e-9)))
    names = list(forwards)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(timers[name].timeit(numbers[name]).mean)
    result = {}
    for name in names:
        baseline = times[IMPLEMENTATIONS[name]]
        ratios = [t / b for t, b in zip(times[name], baseline, strict=True)]
        result[name] = {
            "ms": statistics.median(times[name]) * 1e3,
            "ratio": statistics.median(ratios),
            "ratio min": min(ratios),
            "ratio max": max(ratios),
        }
    return result
