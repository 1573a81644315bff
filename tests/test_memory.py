"""d2lmha.memory.peak_bytes: measures what it says, prints nothing, refuses bad input."""

import pytest
import torch

import d2lmha
from benchmarks.memory import peak_bytes as bench_peak_bytes


def test_one_function_for_chapter_and_benchmark():
    assert bench_peak_bytes is d2lmha.memory.peak_bytes


def test_peak_counts_the_largest_live_allocation(device):
    n = 1_000_000

    def two_tensors_one_at_a_time():
        a = torch.ones(n, device=device)
        del a
        b = torch.ones(2 * n, device=device)
        return b.sum()

    peak = d2lmha.memory.peak_bytes(two_tensors_one_at_a_time, device)
    assert 8 * n <= peak < 12 * n  # the 2n tensor, not the sum 3n of both


def test_attention_weights_path_needs_more_than_fused(device):
    layer = d2lmha.MultiHeadAttention(16, 2).to(device).eval()
    X = torch.randn(1, 256, 16, device=device)
    weights = d2lmha.memory.peak_bytes(lambda: layer(X, X, X), device)
    fused = d2lmha.memory.peak_bytes(lambda: layer(X, X, X, need_weights=False), device)
    assert weights >= 2 * 256 * 256 * 2 * 4 > fused


def test_prints_nothing(capfd, device):
    d2lmha.memory.peak_bytes(lambda: torch.ones(10, device=device), device)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize(
    "forward, device, text",
    [
        (None, torch.device("cpu"), "forward must be a zero-argument callable"),
        (lambda: None, "cpu", "device must be a torch.device"),
    ],
)
def test_bad_input_raises_before_any_work(forward, device, text):
    with pytest.raises(TypeError, match=text):
        d2lmha.memory.peak_bytes(forward, device)
