"""Chapter 07 builds causal self-attention with a key/value cache in the open (a loop over
tokens that concatenates each new token's K and V); these tests hold it to the package's
path (``MultiHeadAttention.forward(..., cache=d2lmha.KVCache())``) and to one full causal
pass, on sizes and K/V head counts the chapter does not use."""

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from notebook_defs import load_defs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_inference.ipynb"


@pytest.fixture(scope="module")
def nb():
    return load_defs(NOTEBOOK)


def test_the_chapter_defines_what_it_builds(nb):
    assert "causal_attention_with_cache" in nb


@pytest.mark.parametrize(
    "num_hiddens, num_heads, num_kv_heads, bias",
    [
        (8, 1, None, False),
        (24, 6, None, True),
        (24, 6, 3, True),
        (32, 8, 2, False),
        (16, 4, 1, True),
    ],
)
def test_loop_matches_the_package_cache_and_the_full_pass(
    nb, device, num_hiddens, num_heads, num_kv_heads, bias
):
    torch.manual_seed(0)
    layer = (
        d2lmha.MultiHeadAttention(num_hiddens, num_heads, bias=bias, num_kv_heads=num_kv_heads)
        .to(device)
        .eval()
    )
    X = torch.randn(3, 7, num_hiddens).to(device)
    with torch.no_grad():
        ours, (K, V) = nb["causal_attention_with_cache"](layer, X)
        cache = d2lmha.KVCache()
        package = torch.cat(
            [
                layer(X[:, t : t + 1], X[:, t : t + 1], X[:, t : t + 1], cache=cache)
                for t in range(7)
            ],
            dim=1,
        )
        full = layer(X, X, X, mask=d2lmha.causal_mask(7, device=device))
    kv = num_kv_heads or num_heads
    assert list(K.shape) == list(V.shape) == [3, kv, 7, num_hiddens // num_heads]
    assert_close(ours, package, rtol=1e-5, atol=1e-5)
    assert_close(ours, full, rtol=1e-5, atol=1e-5)
    assert_close(K, cache.keys, rtol=1e-6, atol=1e-6)
    assert_close(V, cache.values, rtol=1e-6, atol=1e-6)


def test_a_loop_that_forgot_the_cache_differs(nb, device):
    """The check can fail: attending to the new token only is not the causal pass."""
    torch.manual_seed(1)
    layer = d2lmha.MultiHeadAttention(16, 4).to(device).eval()
    X = torch.randn(2, 5, 16).to(device)
    with torch.no_grad():
        ours, _ = nb["causal_attention_with_cache"](layer, X)
        no_cache = torch.cat(
            [layer(X[:, t : t + 1], X[:, t : t + 1], X[:, t : t + 1]) for t in range(5)], dim=1
        )
    assert (ours[:, 1:] - no_cache[:, 1:]).abs().max() > 1e-3
