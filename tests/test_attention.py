"""Single-head and multi-head attention modules: values, shapes, layouts and errors."""

import math

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from d2lmha import (
    AdditiveAttention,
    DotProductAttention,
    MultiHeadAttention,
    transpose_output,
    transpose_qkv,
)


def test_dot_product_attention_matches_formula(device):
    Q, K, V = (
        torch.randn(2, 3, 8, device=device),
        torch.randn(2, 5, 8, device=device),
        torch.randn(2, 5, 6, device=device),
    )
    attention = DotProductAttention()
    out = attention(Q, K, V)
    weights = torch.softmax(Q @ K.transpose(1, 2) / math.sqrt(8), -1)
    assert_close(attention.attention_weights, weights)
    assert_close(out, weights @ V)
    assert out.shape == (2, 3, 6)


def test_dot_product_attention_4d_and_valid_lens(device):
    Q, K, V = (torch.randn(2, 4, 3, 8, device=device) for _ in range(3))
    attention = DotProductAttention()
    attention(Q, K, V, torch.tensor([1, 3], device=device))
    assert attention.attention_weights.shape == (2, 4, 3, 3)
    assert torch.all(attention.attention_weights[0, :, :, 1:] == 0)


def test_dot_product_attention_dropout_only_in_training():
    attention = DotProductAttention(dropout=0.5)
    Q = torch.randn(1, 4, 8)
    attention.eval()
    assert_close(attention(Q, Q, Q), attention(Q, Q, Q))
    attention.train()
    assert not torch.allclose(attention(Q, Q, Q), attention(Q, Q, Q))


def test_dot_product_attention_width_error():
    with pytest.raises(ValueError, match="queries have width 4 but keys have width 8"):
        DotProductAttention()(torch.randn(1, 2, 4), torch.randn(1, 3, 8), torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="same number of key-value pairs"):
        DotProductAttention()(torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 2, 4))


def test_additive_attention_matches_formula(device):
    attention = AdditiveAttention(num_hiddens=8, query_size=20, key_size=2).to(device)
    Q, K, V = (
        torch.randn(2, 1, 20, device=device),
        torch.randn(2, 10, 2, device=device),
        torch.randn(2, 10, 4, device=device),
    )
    out = attention(Q, K, V, torch.tensor([2, 6], device=device))
    features = torch.tanh(attention.W_q(Q)[:, :, None] + attention.W_k(K)[:, None])
    scores = attention.w_v(features).squeeze(-1)
    expected = d2lmha.masked_softmax(scores, torch.tensor([2, 6], device=device))
    assert_close(attention.attention_weights, expected)
    assert_close(out, expected @ V)
    assert torch.all(attention.attention_weights[0, :, 2:] == 0)


def test_additive_attention_lazy_like_d2l():
    attention = AdditiveAttention(num_hiddens=8)
    out = attention(torch.randn(2, 1, 20), torch.randn(2, 10, 2), torch.randn(2, 10, 4))
    assert out.shape == (2, 1, 4) and attention.W_q.weight.shape == (8, 20)


@pytest.mark.parametrize("bias, expected", [(False, 4 * 512**2), (True, 4 * 512**2 + 4 * 512)])
@pytest.mark.parametrize("heads", [1, 8, 16])
def test_parameter_count_known_before_forward_and_independent_of_heads(bias, expected, heads):
    layer = MultiHeadAttention(512, heads, bias=bias)
    assert sum(p.numel() for p in layer.parameters()) == expected
    assert [n for n, _ in layer.named_children()][:4] == ["W_q", "W_k", "W_v", "W_o"]


def test_transpose_qkv_uses_d2l_layout():
    b, n, h, d = 2, 3, 4, 5
    X = torch.arange(b * n * h * d, dtype=torch.float32).reshape(b, n, h * d)
    folded = transpose_qkv(X, h)
    assert folded.shape == (b * h, n, d)
    for bi in range(b):
        for i in range(h):
            assert torch.equal(folded[bi * h + i], X[bi, :, i * d : (i + 1) * d])
    assert torch.equal(transpose_output(folded, h), X)


def test_transpose_errors():
    with pytest.raises(ValueError, match="num_hiddens=10 is not divisible by num_heads=4"):
        transpose_qkv(torch.randn(2, 3, 10), 4)
    with pytest.raises(ValueError, match="multiple of num_heads=4"):
        transpose_output(torch.randn(6, 3, 10), 4)


def test_multihead_weights_shape_and_fused_path(device):
    layer = MultiHeadAttention(16, 4, bias=True).to(device).eval()
    X = torch.randn(2, 5, 16, device=device)
    Y = torch.randn(2, 7, 16, device=device)
    lens = torch.tensor([3, 7], device=device)
    out = layer(X, Y, Y, lens)
    assert out.shape == (2, 5, 16)
    assert layer.attention_weights.shape == (2, 4, 5, 7)
    assert torch.all(layer.attention_weights[0, :, :, 3:] == 0)
    fused = layer(X, Y, Y, lens, need_weights=False)
    assert layer.attention_weights is None
    assert_close(fused, out, rtol=1e-5, atol=1e-5)


def test_multihead_empty_rows_agree_and_stay_finite(device):
    layer = MultiHeadAttention(8, 2, bias=True).to(device)
    X = torch.randn(2, 3, 8, device=device, requires_grad=True)
    lens = torch.tensor([[0, 1, 3], [2, 0, 3]], device=device)
    slow = layer(X, X, X, lens)
    fast = layer(X, X, X, lens, need_weights=False)
    assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    assert_close(slow[0, 0], layer.W_o.bias)  # no key -> zero context -> only the bias
    fast.sum().backward()
    assert torch.isfinite(X.grad).all()


def test_causal_mask_shared_by_heads(device):
    layer = MultiHeadAttention(8, 2).to(device)
    X = torch.randn(1, 4, 8, device=device)
    out = layer(X, X, X, mask=d2lmha.causal_mask(4, device=device))
    assert torch.all(layer.attention_weights.triu(1) == 0)
    fused = layer(X, X, X, mask=d2lmha.causal_mask(4, device=device), need_weights=False)
    assert_close(fused, out, rtol=1e-5, atol=1e-5)
    # the first query sees only itself, in every head
    assert_close(layer(X[:, :1], X[:, :1], X[:, :1]), out[:, :1], rtol=1e-5, atol=1e-5)


def test_head_mask_removes_heads(device):
    layer = MultiHeadAttention(8, 2).to(device)
    X = torch.randn(3, 4, 8, device=device)
    gate = torch.tensor([1.0, 0.0], device=device)
    out = layer(X, X, X, head_mask=gate)
    V = layer.W_v(X)[..., :4]
    context = layer.attention_weights[:, 0] @ V
    expected = context @ layer.W_o.weight[:, :4].T
    assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert_close(layer(X, X, X, head_mask=gate, need_weights=False), out, rtol=1e-5, atol=1e-5)
    per_item = layer(X, X, X, head_mask=torch.tensor([[1.0, 0.0]] * 3, device=device))
    assert_close(per_item, out)


@pytest.mark.parametrize(
    "call, error, text",
    [
        (
            lambda: MultiHeadAttention(100, 3),
            ValueError,
            "num_hiddens=100 is not divisible by num_heads=3",
        ),
        (lambda: MultiHeadAttention(8, 0), ValueError, "num_heads=0"),
        (lambda: MultiHeadAttention(8.0, 2), TypeError, "num_hiddens must be an int"),
        (
            lambda: MultiHeadAttention(8, 2)(
                torch.randn(1, 2, 6), torch.randn(1, 2, 8), torch.randn(1, 2, 8)
            ),
            ValueError,
            "queries have width 6 but this layer was built for query_size=8",
        ),
        (
            lambda: MultiHeadAttention(8, 2)(
                torch.randn(1, 2, 8), torch.randn(1, 2, 8), torch.randn(1, 2, 8), torch.tensor([3])
            ),
            ValueError,
            "number of keys",
        ),
        (
            lambda: MultiHeadAttention(8, 2)(
                torch.randn(1, 2, 8),
                torch.randn(1, 2, 8),
                torch.randn(1, 2, 8),
                head_mask=torch.ones(3),
            ),
            ValueError,
            "head_mask",
        ),
    ],
)
def test_multihead_errors(call, error, text):
    with pytest.raises(error, match=text):
        call()


def test_errors_come_before_any_work(monkeypatch):
    layer = MultiHeadAttention(8, 2)
    calls = []
    monkeypatch.setattr(layer.W_q, "forward", lambda X: calls.append(X) or X)
    with pytest.raises(ValueError):
        layer(torch.randn(1, 2, 8), torch.randn(1, 3, 8), torch.randn(1, 3, 8), torch.tensor([4]))
    assert calls == []
