"""Chapter 02's in-the-open implementations equal the package's.

The notebook builds multi-head attention four ways (cells tagged ``in-the-open``): a loop
over heads, the ``transpose_qkv`` fold, einsum and fused ``scaled_dot_product_attention``.
Each must equal ``d2lmha.MultiHeadAttention`` (and the loop/einsum ones the package's
``d2lmha.multihead_loop`` / ``d2lmha.multihead_einsum``) on random inputs and weights,
with and without bias and padding.
"""

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from notebook_defs import load_defs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_multi_head_attention.ipynb"
BATCH, NUM_Q, NUM_K, WIDTH, HEADS = 2, 5, 7, 12, 3


@pytest.fixture(scope="module")
def nb():
    return load_defs(NOTEBOOK)


def test_the_notebook_defines_the_four_versions(nb):
    assert {
        "multihead_loop",
        "multihead_batched",
        "multihead_einsum",
        "multihead_fused",
        "transpose_qkv",
        "transpose_output",
        "project_head",
    } <= set(nb)


@pytest.fixture(params=[False, True], ids=["no bias", "bias"])
def case(request, device):
    d2lmha.seed_everything(0)
    layer = d2lmha.MultiHeadAttention(WIDTH, HEADS, bias=request.param).to(device).eval()
    queries = torch.randn(BATCH, NUM_Q, WIDTH).to(device)
    keys, values = (torch.randn(BATCH, NUM_K, WIDTH).to(device) for _ in range(2))
    return layer, queries, keys, values


LENS = {
    "none": None,
    "batch": torch.tensor([3, 7]),
    "batch, queries": torch.tensor([[1, 2, 3, 4, 5], [7, 6, 5, 4, 3]]),
}


@pytest.mark.parametrize("name", ["multihead_loop", "multihead_batched", "multihead_einsum"])
@pytest.mark.parametrize("lens", list(LENS))
def test_weights_versions_equal_the_package(nb, case, name, lens):
    layer, queries, keys, values = case
    valid_lens = None if LENS[lens] is None else LENS[lens].to(queries.device)
    out, weights = nb[name](layer, queries, keys, values, valid_lens)
    assert_close(out, layer(queries, keys, values, valid_lens))
    assert weights.shape == (BATCH, HEADS, NUM_Q, NUM_K)
    assert_close(weights, layer.attention_weights)
    package = getattr(d2lmha, name, None)  # the loop and einsum versions live there too
    if package is not None:
        assert_close(out, package(layer, queries, keys, values, valid_lens)[0])


@pytest.mark.parametrize("lens", list(LENS))
def test_fused_version_equals_the_package(nb, case, lens):
    layer, queries, keys, values = case
    valid_lens = None if LENS[lens] is None else LENS[lens].to(queries.device)
    out, weights = nb["multihead_fused"](layer, queries, keys, values, valid_lens)
    assert weights is None
    assert_close(out, layer(queries, keys, values, valid_lens, need_weights=False))
    assert_close(out, layer(queries, keys, values, valid_lens), rtol=1e-5, atol=1e-5)


def test_transposes_equal_the_package(nb):
    X = torch.randn(BATCH, NUM_Q, WIDTH)
    folded = nb["transpose_qkv"](X, HEADS)
    assert torch.equal(folded, d2lmha.transpose_qkv(X, HEADS))
    assert torch.equal(
        nb["transpose_output"](folded, HEADS), d2lmha.transpose_output(folded, HEADS)
    )
    assert torch.equal(nb["transpose_output"](folded, HEADS), X)


def test_project_head_is_a_slice_of_the_full_projection(nb, case):
    layer, queries, _, _ = case
    d_k = WIDTH // HEADS
    for i in range(HEADS):
        rows = slice(i * d_k, (i + 1) * d_k)
        assert_close(nb["project_head"](layer.W_q, queries, rows), layer.W_q(queries)[..., rows])
