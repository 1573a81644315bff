"""Grouped-query and multi-query attention: the grouping (query head i reads K/V head
i // g), equality with explicitly repeated K/V heads, with the loop and einsum versions and
with scaled_dot_product_attention(enable_gqa=True); parameter counts; mean-pooling
conversion; errors."""

import pytest
import torch
from torch.nn import functional as F
from torch.testing import assert_close

import d2lmha
from d2lmha.gqa import convert_to_gqa, mean_pool_kv_heads
from d2lmha.multihead_variants import multihead_einsum, multihead_loop, to_torch_multihead


def make(device, num_kv_heads, bias=True, d=48, h=12):
    torch.manual_seed(0)
    return (
        d2lmha.MultiHeadAttention(d, h, bias=bias, num_kv_heads=num_kv_heads)
        .double()
        .to(device)
        .eval()
    )


@pytest.mark.parametrize("num_kv_heads", [12, 6, 4, 3, 2, 1])
def test_gqa_equals_repeated_kv_heads_and_enable_gqa(device, num_kv_heads):
    layer = make(device, num_kv_heads)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(2, 5, 48, generator=g, dtype=torch.float64).to(device)
    Y = torch.randn(2, 7, 48, generator=g, dtype=torch.float64).to(device)
    valid_lens = torch.tensor([7, 3], device=device)
    out = layer(X, Y, Y, valid_lens)
    weights = layer.attention_weights
    assert weights.shape == (2, 12, 5, 7)
    # explicitly: query head i against K/V head i // g, written out with a loop
    group = 12 // num_kv_heads
    Q = layer.W_q(X).unflatten(-1, (12, 4)).transpose(1, 2)
    K = layer.W_k(Y).unflatten(-1, (num_kv_heads, 4)).transpose(1, 2)
    V = layer.W_v(Y).unflatten(-1, (num_kv_heads, 4)).transpose(1, 2)
    keep = d2lmha.valid_lens_mask(valid_lens, 5, 7)
    heads = []
    for i in range(12):
        scores = Q[:, i] @ K[:, i // group].transpose(1, 2) / 2.0
        w = scores.masked_fill(~keep, float("-inf")).softmax(-1)
        assert_close(w, weights[:, i])
        heads.append(w @ V[:, i // group])
    assert_close(out, layer.W_o(torch.cat(heads, -1)))
    # torch's own grouping
    ref = F.scaled_dot_product_attention(Q, K, V, attn_mask=keep[:, None], enable_gqa=True)
    assert_close(out, layer.W_o(ref.transpose(1, 2).flatten(-2)))
    assert_close(layer(X, Y, Y, valid_lens, need_weights=False), out)
    for version in (multihead_loop, multihead_einsum):
        o, w = version(layer, X, Y, Y, valid_lens)
        assert_close(o, out)
        assert_close(w, weights)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_kv_heads", [None, 8, 4, 2, 1])
def test_parameter_count(num_kv_heads, bias):
    d, h = 64, 8
    layer = d2lmha.MultiHeadAttention(d, h, bias=bias, num_kv_heads=num_kv_heads)
    kv = h if num_kv_heads is None else num_kv_heads
    d_k = d // h
    expected = 2 * d * d + 2 * d * kv * d_k + (2 * d + 2 * kv * d_k if bias else 0)
    assert sum(p.numel() for p in layer.parameters()) == expected
    assert layer.num_kv_heads == kv and layer.group_size == h // kv


def test_num_kv_heads_none_is_todays_layer():
    torch.manual_seed(0)
    a = d2lmha.MultiHeadAttention(32, 4, bias=True)
    torch.manual_seed(0)
    b = d2lmha.MultiHeadAttention(32, 4, bias=True, num_kv_heads=4)
    X = torch.randn(2, 3, 32)
    assert_close(a(X, X, X), b(X, X, X), rtol=0, atol=0)
    assert "num_kv_heads" not in repr(a)


@pytest.mark.parametrize("num_kv_heads", [12, 6, 3, 1])
def test_mean_pooling_conversion(device, num_kv_heads):
    layer = make(device, None)
    X = torch.randn(2, 6, 48, dtype=torch.float64, device=device)
    before = layer(X, X, X)
    new = mean_pool_kv_heads(layer, num_kv_heads)
    assert new.num_kv_heads == num_kv_heads and layer.num_kv_heads == 12  # layer unchanged
    assert_close(layer(X, X, X), before, rtol=0, atol=0)
    group = 12 // num_kv_heads
    W = layer.W_k.weight.unflatten(0, (12, 4))
    for j in range(num_kv_heads):
        assert_close(
            new.W_k.weight.unflatten(0, (num_kv_heads, 4))[j],
            W[j * group : (j + 1) * group].mean(0),
        )
    assert_close(new.W_q.weight, layer.W_q.weight, rtol=0, atol=0)
    assert_close(new.W_o.weight, layer.W_o.weight, rtol=0, atol=0)
    if num_kv_heads == 12:
        assert_close(new(X, X, X), before)
    # a model converted as a whole: every layer, the original untouched
    model = torch.nn.Sequential(layer)
    converted = convert_to_gqa(model, num_kv_heads)
    assert converted[0].num_kv_heads == num_kv_heads and model[0] is layer


def test_real_model_converts_and_mqa_differs_most(minilm):
    model, tokenizer = minilm
    sentences = ["The cat sat on the mat.", "A dog barked at the postman."]
    full = d2lmha.sentence_embeddings(model, tokenizer, sentences)
    cosines = []
    for kv in (12, 6, 3, 1):
        converted = convert_to_gqa(model, kv)
        assert all(blk.attention.num_kv_heads == kv for blk in converted.blks)
        emb = d2lmha.sentence_embeddings(converted, tokenizer, sentences)
        cosines.append((emb * full).sum(-1).mean().item())
    assert cosines[0] == pytest.approx(1.0, abs=1e-5)
    assert cosines[-1] < cosines[0]


def test_errors():
    with pytest.raises(ValueError, match="num_kv_heads=5 must divide num_heads=8"):
        d2lmha.MultiHeadAttention(32, 8, num_kv_heads=5)
    with pytest.raises(ValueError, match="num_kv_heads=0"):
        d2lmha.MultiHeadAttention(32, 8, num_kv_heads=0)
    with pytest.raises(TypeError, match="num_kv_heads must be an int"):
        d2lmha.MultiHeadAttention(32, 8, num_kv_heads=2.0)
    gqa = d2lmha.MultiHeadAttention(32, 8, bias=True, num_kv_heads=2)
    with pytest.raises(ValueError, match="enable_gqa"):
        to_torch_multihead(gqa)
    with pytest.raises(ValueError, match="one K/V head per query head"):
        d2lmha.pruning.prune_heads(gqa, [0])
    with pytest.raises(ValueError, match="already has num_kv_heads=2"):
        mean_pool_kv_heads(gqa, 1)
    with pytest.raises(ValueError, match="must divide"):
        mean_pool_kv_heads(d2lmha.MultiHeadAttention(32, 8), 3)
    with pytest.raises(ValueError, match="no d2lmha.MultiHeadAttention"):
        convert_to_gqa(torch.nn.Linear(2, 2), 1)
    with pytest.raises(ValueError, match="projected_kv must be a pair"):
        X = torch.randn(1, 3, 32)
        gqa(X, X, X, projected_kv=(torch.zeros(1, 8, 3, 4), torch.zeros(1, 8, 3, 4)))
