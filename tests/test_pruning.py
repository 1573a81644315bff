"""d2lmha.pruning: a pruned layer equals the masked layer (float64, with and without bias,
every path), down to 0 heads; encoder-level pruning of the real model equals masking;
parameter counts; errors; chapter 05's in-the-open slicing held to the package's."""

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from d2lmha import pruning
from notebook_defs import load_defs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_head_importance.ipynb"
REMOVALS = [[], [2], [0, 3], [1, 2, 3], [3, 0, 1, 2]]  # the last: every head, unordered


def make_layer(device, bias, num_hiddens=16, num_heads=4, **sizes):
    torch.manual_seed(0)
    return (
        d2lmha.MultiHeadAttention(num_hiddens, num_heads, bias=bias, **sizes)
        .double()
        .to(device)
        .eval()
    )


def gate(num_heads, removed, device):
    g = torch.ones(num_heads, dtype=torch.float64, device=device)
    g[list(removed)] = 0.0
    return g


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("removed", REMOVALS)
def test_pruned_layer_equals_masked_layer(device, bias, removed, need_weights):
    mha = make_layer(device, bias)
    g = torch.Generator().manual_seed(2)
    X = torch.randn(3, 5, 16, generator=g, dtype=torch.float64).to(device)
    Y = torch.randn(3, 7, 16, generator=g, dtype=torch.float64).to(device)
    valid_lens = torch.tensor([7, 3, 0], device=device)  # one sequence with no key
    small = pruning.prune_heads(mha, removed)
    assert small.num_heads == 4 - len(removed)
    assert small.kept_heads == tuple(h for h in range(4) if h not in removed)
    for kwargs in (
        {},
        {"valid_lens": valid_lens},
        {"mask": d2lmha.causal_mask(5, 7, device=device)},
    ):
        expected = mha(
            X, Y, Y, head_mask=gate(4, removed, device), need_weights=need_weights, **kwargs
        )
        out = small(X, Y, Y, need_weights=need_weights, **kwargs)
        assert out.dtype == torch.float64 and out.shape == (3, 5, 16)
        assert_close(out, expected, atol=1e-12, rtol=1e-12)
        if need_weights:
            kept = [h for h in range(4) if h not in removed]
            assert small.attention_weights.shape == (3, len(kept), 5, 7)
            assert_close(small.attention_weights, mha.attention_weights[:, kept])


@pytest.mark.parametrize("bias", [True, False])
def test_zero_heads_output_is_the_output_bias(device, bias):
    mha = make_layer(device, bias)
    empty = pruning.prune_heads(mha, range(4))
    X = torch.randn(2, 3, 16, dtype=torch.float64, device=device)
    out = empty(X, X, X)
    expected = mha.W_o.bias if bias else torch.zeros(16, dtype=torch.float64, device=device)
    assert_close(out, expected.expand(2, 3, 16))
    assert empty.attention_weights.shape == (2, 0, 3, 3)
    assert empty(X, X, X, need_weights=False).shape == (2, 3, 16)
    assert empty.attention_weights is None
    assert empty.W_q.weight.shape == (0, 16) and empty.W_o.weight.shape == (16, 0)


@pytest.mark.parametrize("bias", [True, False])
def test_parameter_count_shrinks_per_head(device, bias):
    mha = make_layer(device, bias, num_hiddens=24, num_heads=6)
    d, d_k = 24, 4
    per_head = 4 * d * d_k + (3 * d_k if bias else 0)
    full = sum(p.numel() for p in mha.parameters())
    assert full == 4 * d * d + (4 * d if bias else 0)
    for k in range(7):
        small = pruning.prune_heads(mha, list(range(k)))
        assert sum(p.numel() for p in small.parameters()) == full - k * per_head


def test_other_input_widths(device):
    mha = make_layer(device, True, query_size=5, key_size=7, value_size=3)
    q = torch.randn(2, 4, 5, dtype=torch.float64, device=device)
    k = torch.randn(2, 6, 7, dtype=torch.float64, device=device)
    v = torch.randn(2, 6, 3, dtype=torch.float64, device=device)
    small = pruning.prune_heads(mha, [1])
    assert small.W_v.weight.shape == (12, 3)
    assert_close(small(q, k, v), mha(q, k, v, head_mask=gate(4, [1], device)))


def test_pruning_twice_and_head_mask_on_the_pruned_layer(device):
    mha = make_layer(device, True)
    X = torch.randn(2, 5, 16, dtype=torch.float64, device=device)
    twice = pruning.prune_heads(pruning.prune_heads(mha, [1]), [0])  # drops 1, then 0
    assert twice.kept_heads == (2, 3) and twice.num_heads == 2
    assert_close(twice(X, X, X), mha(X, X, X, head_mask=gate(4, [0, 1], device)))
    half = torch.tensor([0.5, 1.0], dtype=torch.float64, device=device)
    full_gate = torch.tensor([0.0, 0.0, 0.5, 1.0], dtype=torch.float64, device=device)
    assert_close(twice(X, X, X, head_mask=half), mha(X, X, X, head_mask=full_gate))
    with pytest.raises(ValueError, match=r"expected \[2\]"):
        twice(X, X, X, head_mask=torch.ones(4, dtype=torch.float64, device=device))


def test_source_untouched_and_no_random_numbers_drawn(device):
    mha = make_layer(device, True)
    before = {k: v.clone() for k, v in mha.state_dict().items()}
    state = torch.get_rng_state()
    small = pruning.prune_heads(mha, [0])
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in mha.state_dict().items())
    with torch.no_grad():
        small.W_q.weight.zero_()  # the copy owns its weights
    assert torch.equal(mha.W_q.weight, before["W_q.weight"])
    assert not small.training
    X = torch.randn(1, 3, 16, dtype=torch.float64, device=device)
    small(X, X, X).sum().backward()  # and it can be trained further
    assert small.W_o.weight.grad.shape == (16, 12)


def test_prune_heads_errors(device):
    mha = make_layer(device, True)
    with pytest.raises(TypeError, match="mha must be a d2lmha.MultiHeadAttention"):
        pruning.prune_heads(torch.nn.MultiheadAttention(16, 4), [0])
    with pytest.raises(ValueError, match=r"head 4; this layer has heads 0\.\.3"):
        pruning.prune_heads(mha, [4])
    with pytest.raises(ValueError, match="head -1"):
        pruning.prune_heads(mha, [-1])
    with pytest.raises(ValueError, match="more than once"):
        pruning.prune_heads(mha, [1, 1])
    with pytest.raises(TypeError, match="must hold ints"):
        pruning.prune_heads(mha, [True])
    with pytest.raises(TypeError, match="must hold ints"):
        pruning.prune_heads(mha, [1.0])
    with pytest.raises(TypeError, match="integer tensor"):
        pruning.prune_heads(mha, torch.tensor([1.0]))
    with pytest.raises(TypeError, match="iterable of head indices"):
        pruning.prune_heads(mha, 2)
    assert pruning.prune_heads(mha, torch.tensor([3, 1])).kept_heads == (0, 2)


def test_notebook_slicing_matches_package(device):
    nb = load_defs(NOTEBOOK)
    for bias in (True, False):
        mha = make_layer(device, bias)
        X = torch.randn(2, 5, 16, dtype=torch.float64, device=device)
        for keep in ([0, 1, 3], [2], [0, 1, 2, 3]):
            removed = [h for h in range(4) if h not in keep]
            written_out = nb["pruned_self_attention"](
                X, nb["slice_heads"](mha, keep), mha.head_size
            )
            assert_close(written_out, pruning.prune_heads(mha, removed)(X, X, X))


def test_heads_from_mask_and_count_heads(minilm):
    mask = torch.ones(6, 12)
    mask[0, [3, 5]] = 0
    mask[4] = 0
    heads = pruning.heads_from_mask(mask)
    assert heads == {0: [3, 5], 1: [], 2: [], 3: [], 4: list(range(12)), 5: []}
    assert pruning.count_heads(pruning.prune_encoder(minilm[0], heads)) == [10, 12, 12, 12, 0, 12]
    with pytest.raises(ValueError, match=r"\[layers, heads\]"):
        pruning.heads_from_mask(torch.ones(12))
    with pytest.raises(TypeError, match="head_mask must be a torch.Tensor"):
        pruning.heads_from_mask([[1, 0]])


def test_encoder_pruning_on_the_real_model_matches_masking(minilm):
    model, tokenizer = minilm
    batch = d2lmha.tokenize(
        tokenizer,
        ["Heads can be removed.", "A pruned model is a smaller model with fewer heads.", "Short."],
    )
    ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(6, 12, generator=g) > 0.5).float()
    mask[2] = 0  # one layer loses every head
    mask[5] = 1  # one keeps them all
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = pruning.prune_encoder(model, pruning.heads_from_mask(mask))
    with torch.no_grad():
        expected = model(ids, attention_mask, head_mask=mask, need_weights=False)
        for need_weights in (True, False):
            out = pruned(ids, attention_mask, need_weights=need_weights)
            real = attention_mask.bool()
            assert_close(
                out.last_hidden_state[real], expected.last_hidden_state[real], atol=1e-5, rtol=0
            )
    removed = int((mask == 0).sum())
    per_head = 4 * 384 * 32 + 3 * 32
    assert (
        sum(p.numel() for p in pruned.parameters())
        == sum(p.numel() for p in model.parameters()) - removed * per_head
    )
    assert pruning.count_heads(pruned) == mask.sum(1).int().tolist()
    assert pruning.count_heads(model) == [12] * 6  # the original is untouched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_prune_encoder_errors(minilm):
    model, _ = minilm
    with pytest.raises(TypeError, match="model must be a d2lmha.BERTEncoder"):
        pruning.prune_encoder(torch.nn.Linear(2, 2), {0: [1]})
    with pytest.raises(TypeError, match="heads_by_layer must be a mapping"):
        pruning.prune_encoder(model, [[1]])
    with pytest.raises(ValueError, match=r"layer 6; the model has layers 0\.\.5"):
        pruning.prune_encoder(model, {6: [0]})
    with pytest.raises(ValueError, match="head 12"):
        pruning.prune_encoder(model, {0: [12]})
    with pytest.raises(TypeError, match="count_heads|model must be"):
        pruning.count_heads(torch.nn.Linear(2, 2))
