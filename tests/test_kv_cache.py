"""d2lmha.KVCache: incremental decoding equals one full causal pass (layer, block, decoder,
greedy decoding), for MHA, GQA and MQA, weights and fused paths; sizes; errors before work."""

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from d2lmha import seq2seq
from d2lmha.decoder import TransformerDecoder

KV_HEADS = [None, 4, 2, 1]  # MHA, GQA (g = 2, 4), MQA with 8 query heads


def chunks(n, sizes):
    """Split range(n) into consecutive slices of the given sizes (last takes the rest)."""
    start, out = 0, []
    for s in sizes:
        out.append(slice(start, start + s))
        start += s
    return out + [slice(start, n)] if start < n else out


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("num_kv_heads", KV_HEADS)
def test_layer_with_cache_equals_full_causal_pass(device, num_kv_heads, need_weights):
    torch.manual_seed(1)
    layer = d2lmha.MultiHeadAttention(32, 8, bias=True, num_kv_heads=num_kv_heads)
    layer = layer.double().to(device).eval()
    X = torch.randn(3, 11, 32, dtype=torch.float64, device=device)
    valid_lens = torch.tensor([11, 7, 4], device=device)
    full = layer(X, X, X, valid_lens, mask=d2lmha.causal_mask(11, device=device))
    full_weights = layer.attention_weights
    cache = d2lmha.KVCache()
    steps = []
    for part in chunks(11, [5, 1, 1, 3]):  # a prompt of 5, then 1, 1, 3, 1 tokens
        end = part.stop
        lens = valid_lens.clamp(max=end)
        steps.append(layer(X[:, part], X[:, part], X[:, part], lens, need_weights, cache=cache))
        if need_weights:
            weights = layer.attention_weights
            assert weights.shape == (3, 8, end - part.start, end)
            assert_close(weights, full_weights[:, :, part, :end])
    assert_close(torch.cat(steps, 1), full)
    assert cache.cached_len == len(cache) == 11
    kv = 8 if num_kv_heads is None else num_kv_heads
    assert cache.keys.shape == cache.values.shape == (3, kv, 11, 4)
    assert cache.nbytes() == 2 * 3 * kv * 11 * 4 * 8


@pytest.mark.parametrize("num_kv_heads", KV_HEADS)
def test_decoder_with_caches_equals_full_pass(device, num_kv_heads):
    torch.manual_seed(2)
    dec = TransformerDecoder(20, 32, 64, 8, 2, num_kv_heads=num_kv_heads).to(device).eval()
    enc = torch.randn(3, 7, 32, device=device)
    enc_valid_lens = torch.tensor([7, 3, 5], device=device)
    ids = torch.randint(0, 20, (3, 9), device=device)
    with torch.no_grad():
        full = dec(ids, enc, enc_valid_lens)
        cross = dec.cross_attentions
        caches = dec.new_caches()
        steps = [dec(ids[:, :4], enc, enc_valid_lens, caches)]
        steps += [
            dec(ids[:, t : t + 1], enc, enc_valid_lens, caches, need_weights=False)
            for t in range(4, 9)
        ]
        # last step with weights: its cross-attention row equals the full pass's last row
        caches2 = dec.new_caches()
        dec(ids[:, :8], enc, enc_valid_lens, caches2)
        last = dec(ids[:, 8:], enc, enc_valid_lens, caches2)
    assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    assert_close(last, full[:, 8:], atol=1e-5, rtol=1e-5)
    assert_close(dec.cross_attentions[1], cross[1][:, :, 8:], atol=1e-6, rtol=1e-5)
    assert all(c.cached_len == 9 and c.source is not None for c in caches)
    # the cross-attention's padded source positions get exactly zero weight
    assert (dec.cross_attentions[0][1, :, :, 3:] == 0).all()


def test_greedy_decode_with_cache_gives_the_same_ids(device):
    torch.manual_seed(3)
    model = seq2seq.Seq2SeqTransformer(30).to(device).eval()
    src = torch.randint(3, 30, (4, 8), device=device)
    src_valid_lens = torch.tensor([8, 5, 6, 2], device=device)
    ids, weights = seq2seq.greedy_decode(model, src, src_valid_lens, 10)
    ids_c, weights_c = seq2seq.greedy_decode(model, src, src_valid_lens, 10, use_cache=True)
    assert torch.equal(ids, ids_c)
    for w, w_c in zip(weights, weights_c, strict=True):
        assert w.shape == w_c.shape == (4, model.decoder.blks[0].cross_attention.num_heads, 10, 8)
        assert_close(w, w_c, atol=1e-5, rtol=1e-4)


def test_positions_continue_after_the_cache():
    pe = d2lmha.PositionalEncoding(8, max_len=10)
    X = torch.zeros(1, 3, 8)
    assert_close(pe(X, offset=4), pe.P[:, 4:7])
    with pytest.raises(ValueError, match="max_len=10"):
        pe(X, offset=8)
    with pytest.raises(ValueError, match="offset"):
        pe(X, offset=-1)


def test_cache_errors_before_work():
    layer = d2lmha.MultiHeadAttention(16, 4).eval()
    X = torch.randn(2, 3, 16)
    cache = d2lmha.KVCache()
    with pytest.raises(TypeError, match="KVCache"):
        layer(X, X, X, cache={})
    with pytest.raises(ValueError, match="as many as the queries"):
        layer(X, X[:, :2], X[:, :2], cache=cache)
    layer(X, X, X, cache=cache)
    with pytest.raises(ValueError, match="batch=1"):  # another batch
        layer(X[:1], X[:1], X[:1], cache=cache)
    with pytest.raises(ValueError, match="kv_heads=2"):  # another layer's cache
        d2lmha.MultiHeadAttention(16, 4, num_kv_heads=2).eval()(X, X, X, cache=cache)
    with pytest.raises(ValueError, match="not both"):
        layer(X, X, X, cache=cache, projected_kv=layer.project_kv(X, X))
    assert cache.cached_len == 3  # nothing stored by a refusal
    with pytest.raises(ValueError, match="float64"):
        cache.update(
            torch.zeros(2, 4, 1, 4, dtype=torch.float64),
            torch.zeros(2, 4, 1, 4, dtype=torch.float64),
        )
    with pytest.raises(ValueError, match=r"\[batch, kv_heads, new, d_k\]"):
        cache.update(torch.zeros(2, 4, 1, 4), torch.zeros(2, 4, 2, 4))
    assert cache.cached_len == 3


def test_decoder_cache_errors():
    dec = TransformerDecoder(10, 16, 32, 4, 2).eval()
    enc = torch.randn(2, 5, 16)
    ids = torch.randint(0, 10, (2, 3))
    with pytest.raises(TypeError, match="one per block"):
        dec(ids, enc, caches=[d2lmha.KVCache()])
    caches = dec.new_caches()
    dec(ids, enc, caches=caches)
    with pytest.raises(ValueError, match="another enc_outputs"):
        dec(ids[:, :1], enc.clone(), caches=caches)
    assert [c.cached_len for c in caches] == [3, 3]  # nothing appended
    caches[0].keys = caches[0].keys[:, :, :2]
    caches[0].values = caches[0].values[:, :, :2]
    with pytest.raises(ValueError, match="different numbers of tokens"):
        dec(ids[:, :1], enc, caches=caches)
    caches = dec.new_caches()
    dec(ids, enc, caches=caches)
    with pytest.raises(ValueError, match="after 3 cached ones but max_len=64"):
        dec(torch.randint(0, 10, (2, 62)), enc, caches=caches)


def test_the_cache_refuses_misuse():
    """Three misuses that used to give wrong logits or a growing graph without a word (#24):
    a cache in training mode, one cache shared by two blocks, a source changed in place."""
    dec = TransformerDecoder(10, 16, 32, 4, 2)
    enc = torch.randn(2, 5, 16)
    ids = torch.randint(0, 10, (2, 3))
    with pytest.raises(RuntimeError, match=r"call \.eval\(\)"):
        dec(ids, enc, caches=dec.new_caches())  # training mode
    with pytest.raises(RuntimeError, match=r"call \.eval\(\)"):
        d2lmha.MultiHeadAttention(16, 4)(enc, enc, enc, cache=d2lmha.KVCache())
    dec.eval()
    shared = d2lmha.KVCache()
    with pytest.raises(ValueError, match="distinct KVCache objects"):
        dec(ids, enc, caches=[shared, shared])
    assert shared.cached_len == 0
    caches = dec.new_caches()
    with torch.no_grad():
        dec(ids, enc, caches=caches)
        dec(ids[:, :1], enc[:, :], caches=caches)  # a new view of the same source is fine
        enc[0, 0] += 1.0  # changed in place after its keys were cached
        with pytest.raises(ValueError, match="changed in place"):
            dec(ids[:, :1], enc, caches=caches)
        with torch.inference_mode():  # no version counter there: the memory decides
            inference_enc = torch.randn(2, 5, 16)
            caches = dec.new_caches()
            dec(ids, inference_enc, caches=caches)
            dec(ids[:, :1], inference_enc, caches=caches)
