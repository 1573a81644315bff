"""d2lmha.MultiHeadAttention against torch.nn.MultiheadAttention and d2l 1.0.3's own layer.

Weights are copied from the d2lmha layer into the reference (``d2lmha.to_torch_multihead``,
``benchmarks.d2l_reference.d2l_multihead_from``); outputs, attention weights and gradients
must agree. Also: the loop and einsum versions (``d2lmha.multihead_variants``) agree with
the layer, and refuse bad input.
"""

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from benchmarks.d2l_reference import d2l_available, d2l_multihead_from, d2l_source_path, load_d2l

BATCH, NUM_Q, NUM_K, WIDTH, HEADS = 3, 5, 7, 24, 4
# `make install` installs d2l's source; a conda environment may not have it
needs_d2l = pytest.mark.skipif(not d2l_available(), reason="pip install --no-deps d2l==1.0.3")


def make(device, dtype=torch.float32, bias=True, seed=0):
    d2lmha.seed_everything(seed)
    layer = d2lmha.MultiHeadAttention(WIDTH, HEADS, bias=bias).to(device, dtype).eval()
    queries = torch.randn(BATCH, NUM_Q, WIDTH, dtype=dtype).to(device)
    keys = torch.randn(BATCH, NUM_K, WIDTH, dtype=dtype).to(device)
    values = torch.randn(BATCH, NUM_K, WIDTH, dtype=dtype).to(device)
    return layer, queries, keys, values


def torch_masks(valid_lens, mask, num_keys):
    """d2lmha keep-masks -> torch's 'may not attend' masks."""
    key_padding = (
        None if valid_lens is None else ~d2lmha.valid_lens_mask(valid_lens, 1, num_keys)[:, 0]
    )
    return key_padding, None if mask is None else ~mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("masking", ["none", "padding", "causal", "padding+causal"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_equals_torch_multihead_attention(device, dtype, bias, masking, need_weights):
    layer, queries, keys, values = make(device, dtype, bias)
    reference = d2lmha.to_torch_multihead(layer)
    valid_lens = torch.tensor([2, 7, 4], device=device) if "padding" in masking else None
    mask = d2lmha.causal_mask(NUM_Q, NUM_K, device=device) if "causal" in masking else None
    key_padding, attn_mask = torch_masks(valid_lens, mask, NUM_K)
    ours = layer(queries, keys, values, valid_lens, need_weights=need_weights, mask=mask)
    theirs, theirs_weights = reference(
        queries,
        keys,
        values,
        key_padding_mask=key_padding,
        attn_mask=attn_mask,
        need_weights=need_weights,
        average_attn_weights=False,
    )
    assert_close(ours, theirs)
    if need_weights:
        assert layer.attention_weights.shape == (BATCH, HEADS, NUM_Q, NUM_K)
        assert_close(layer.attention_weights, theirs_weights)
    else:
        assert layer.attention_weights is None and theirs_weights is None


@pytest.mark.parametrize("need_weights", [True, False])
def test_gradients_equal_torch(device, need_weights):
    layer, queries, keys, values = make(device, torch.float64)
    reference = d2lmha.to_torch_multihead(layer)
    valid_lens = torch.tensor([2, 7, 4], device=device)
    key_padding, _ = torch_masks(valid_lens, None, NUM_K)
    X = queries.clone().requires_grad_(True)
    Y = X.detach().clone().requires_grad_(True)
    layer(X, keys, values, valid_lens, need_weights=need_weights).pow(2).sum().backward()
    reference(Y, keys, values, key_padding_mask=key_padding, need_weights=need_weights)[0].pow(
        2
    ).sum().backward()
    assert_close(X.grad, Y.grad)
    W_grads = torch.cat([layer.W_q.weight.grad, layer.W_k.weight.grad, layer.W_v.weight.grad])
    assert_close(W_grads, reference.in_proj_weight.grad)
    assert_close(layer.W_o.weight.grad, reference.out_proj.weight.grad)


def test_to_torch_multihead_other_key_and_value_widths(device):
    d2lmha.seed_everything(0)
    layer = d2lmha.MultiHeadAttention(8, 2, bias=True, key_size=5, value_size=3).to(device)
    reference = d2lmha.to_torch_multihead(layer)
    assert not reference._qkv_same_embed_dim and reference.training
    Q, K, V = (
        torch.randn(2, 4, 8, device=device),
        torch.randn(2, 6, 5, device=device),
        torch.randn(2, 6, 3, device=device),
    )
    assert_close(layer(Q, K, V), reference(Q, K, V)[0])


def test_to_torch_multihead_errors():
    with pytest.raises(TypeError, match="d2lmha.MultiHeadAttention"):
        d2lmha.to_torch_multihead(torch.nn.Linear(4, 4))
    with pytest.raises(ValueError, match="query_size=6 must equal num_hiddens=8"):
        d2lmha.to_torch_multihead(d2lmha.MultiHeadAttention(8, 2, query_size=6))


# --- d2l 1.0.3 ------------------------------------------------------------------------


@needs_d2l
def test_d2l_reference_is_loaded_from_the_installed_source():
    assert d2l_source_path().name == "torch.py" and d2l_source_path().parent.name == "d2l"
    d2l = load_d2l()
    assert issubclass(d2l.MultiHeadAttention, torch.nn.Module)
    assert d2l.MultiHeadAttention.__init__.__code__.co_filename == str(d2l_source_path())
    with pytest.raises(KeyError, match="not_a_d2l_name"):
        load_d2l(("not_a_d2l_name",))
    with pytest.raises(TypeError, match="d2lmha.MultiHeadAttention"):
        d2l_multihead_from(torch.nn.Linear(4, 4))


@needs_d2l
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("lens", ["none", "batch", "batch, queries"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_equals_d2l_multihead_attention(device, bias, lens, need_weights):
    layer, queries, keys, values = make(device, bias=bias)
    reference = d2l_multihead_from(layer)
    valid_lens = {
        "none": None,
        "batch": torch.tensor([2, 7, 4]),
        "batch, queries": torch.randint(1, NUM_K + 1, (BATCH, NUM_Q)),
    }[lens]
    valid_lens = None if valid_lens is None else valid_lens.to(device)
    ours = layer(queries, keys, values, valid_lens, need_weights=need_weights)
    assert_close(ours, reference(queries, keys, values, valid_lens))
    d2l_weights = reference.attention.attention_weights  # (batch*heads, q, k)
    assert d2l_weights.shape == (BATCH * HEADS, NUM_Q, NUM_K)
    if need_weights:
        assert_close(layer.attention_weights, d2l_weights.reshape(BATCH, HEADS, NUM_Q, NUM_K))


@needs_d2l
def test_transpose_functions_equal_d2l_methods(device):
    layer, queries, _, _ = make(device)
    reference = d2l_multihead_from(layer)
    X = layer.W_q(queries)
    assert torch.equal(d2lmha.transpose_qkv(X, HEADS), reference.transpose_qkv(X))
    folded = d2lmha.transpose_qkv(X, HEADS)
    assert torch.equal(d2lmha.transpose_output(folded, HEADS), reference.transpose_output(folded))


# --- loop and einsum versions ---------------------------------------------------------


@pytest.mark.parametrize("version", [d2lmha.multihead_loop, d2lmha.multihead_einsum])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("masking", ["none", "batch", "batch, queries", "per-head"])
def test_loop_and_einsum_equal_the_layer(device, version, dtype, bias, masking):
    layer, queries, keys, values = make(device, dtype, bias)
    valid_lens = mask = None
    if masking == "batch":
        valid_lens = torch.tensor([2, 7, 0], device=device)  # 0: a row with no key
    elif masking == "batch, queries":
        valid_lens = torch.randint(0, NUM_K + 1, (BATCH, NUM_Q)).to(device)
    elif masking == "per-head":  # [batch, heads, q, k]
        mask = torch.rand(BATCH, HEADS, NUM_Q, NUM_K).to(device) > 0.3
    out, weights = version(layer, queries, keys, values, valid_lens, mask)
    assert_close(out, layer(queries, keys, values, valid_lens, mask=mask))
    assert_close(weights, layer.attention_weights)


@pytest.mark.parametrize("version", [d2lmha.multihead_loop, d2lmha.multihead_einsum])
def test_loop_and_einsum_errors(version):
    layer = d2lmha.MultiHeadAttention(8, 2)
    X = torch.randn(1, 3, 8)
    with pytest.raises(TypeError, match="layer must be a d2lmha.MultiHeadAttention"):
        version(torch.nn.Linear(8, 8), X, X, X)
    with pytest.raises(ValueError, match="dropout=0.1 and is in training mode"):
        version(d2lmha.MultiHeadAttention(8, 2, dropout=0.1), X, X, X)
    with pytest.raises(ValueError, match="queries have width 6"):
        version(layer, torch.randn(1, 3, 6), X, X)
    with pytest.raises(ValueError, match="valid_lens"):
        version(layer, X, X, X, torch.tensor([4]))
