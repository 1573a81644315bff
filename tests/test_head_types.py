"""Head-type scores on hand-made attention matrices, and on the real model."""

import pytest
import torch
from torch.testing import assert_close

from d2lmha import head_types
from d2lmha.head_types import (
    HEAD_TYPES,
    head_type_scores,
    offset_score,
    same_token_score,
    sink_score,
)


def shifted(n, offset, device=None):
    """A perfect "look ``offset`` away" matrix; rows with no such key attend to themselves."""
    W = torch.zeros(n, n, device=device)
    for i in range(n):
        j = i + offset
        W[i, j if 0 <= j < n else i] = 1.0
    return W


def test_perfect_previous_and_next_token_heads_score_one(device):
    n = 7
    weights = torch.stack([shifted(n, -1, device), shifted(n, 1, device)])[None]  # [1, 2, n, n]
    assert_close(offset_score(weights, -1), torch.tensor([1.0, 0.0], device=device))
    assert_close(offset_score(weights, +1), torch.tensor([0.0, 1.0], device=device))
    # the self-attending first row of the previous-token head is not scored at -1
    assert_close(offset_score(weights, +2)[0], torch.tensor(0.0, device=device))


def test_uniform_weights_score_one_over_the_number_of_real_keys(device):
    lens = torch.tensor([5, 8])
    mask = (torch.arange(8)[None] < lens[:, None]).long().to(device)
    weights = (
        mask[:, None, None, :].float().expand(2, 3, 8, 8) / lens.to(device)[:, None, None, None]
    )
    # sequence 0 has 4 scored queries (1..4) of weight 1/5, sequence 1 has 7 of weight 1/8
    expected_prev = (4 / 5 + 7 / 8) / 11
    assert_close(offset_score(weights, -1, mask), torch.full((3,), expected_prev, device=device))
    expected_sink = (5 / 5 + 8 / 8) / 13
    assert_close(sink_score(weights, 0, mask), torch.full((3,), expected_sink, device=device))


def test_padding_never_counts(device):
    W = shifted(4, -1, device)[None, None].clone()
    W[0, 0, 3] = torch.tensor([0.0, 0.0, 0.0, 1.0], device=device)  # the pad query looks at itself
    mask = torch.tensor([[1, 1, 1, 0]], device=device)
    assert_close(offset_score(W, -1, mask), torch.tensor([1.0], device=device))
    assert_close(offset_score(W, -1), torch.tensor([2 / 3], device=device))


def test_same_token_score_by_hand(device):
    ids = torch.tensor([[7, 4, 7, 5, 7]], device=device)
    n = 5
    uniform = torch.full((1, 1, n, n), 1 / n, device=device)
    # queries 0, 2, 4 (token 7) each have 2 other copies: 2/5 each; 4 and 5 occur once
    assert_close(same_token_score(uniform, ids), torch.tensor([2 / 5], device=device))
    exact = torch.zeros(1, 1, n, n, device=device)
    exact[0, 0, [0, 2, 4], [2, 4, 0]] = 1.0
    exact[0, 0, [1, 3], [1, 3]] = 1.0
    assert_close(same_token_score(exact, ids), torch.tensor([1.0], device=device))
    with pytest.raises(ValueError, match="no token occurs twice"):
        same_token_score(uniform, torch.tensor([[1, 2, 3, 4, 5]], device=device))


def test_head_type_scores_stacks_layers_and_types(device):
    n = 6
    layer0 = torch.stack([shifted(n, -1, device), shifted(n, 1, device)])[None]
    sink = torch.zeros(n, n, device=device)
    sink[:, 0] = 1.0  # every query looks at [CLS]
    layer1 = torch.stack([sink, torch.full((n, n), 1 / n, device=device)])[None]
    ids = torch.tensor([[101, 3, 3, 3, 9, 102]], device=device)
    scores = head_type_scores([layer0, layer1], ids)
    assert scores.shape == (len(HEAD_TYPES), 2, 2)
    assert_close(scores[0, 0], torch.tensor([1.0, 0.0], device=device))  # previous token
    assert_close(scores[1, 0], torch.tensor([0.0, 1.0], device=device))  # next token
    assert_close(scores[2, 1], torch.tensor([1.0, 1 / n], device=device))  # [CLS] sink
    assert_close(scores[3, 1, 1], torch.tensor(2 / n, device=device))  # same token
    assert_close(head_type_scores(torch.stack([layer0, layer1]), ids), scores)


@pytest.mark.parametrize(
    "call, error, text",
    [
        (lambda: offset_score(torch.rand(1, 2, 3, 4), -1), ValueError, r"\[batch, heads, n, n\]"),
        (lambda: offset_score(torch.rand(1, 2, 3, 3), 1.5), TypeError, "offset must be an int"),
        (lambda: offset_score(torch.rand(1, 2, 3, 3), 5), ValueError, "offset 5"),
        (
            lambda: offset_score(torch.rand(2, 2, 3, 3), -1, torch.ones(1, 3)),
            ValueError,
            "attention_mask",
        ),
        (lambda: sink_score(torch.rand(1, 2, 3, 3), 3), ValueError, "position=3"),
        (lambda: offset_score(torch.ones(1, 2, 3, 3, dtype=torch.long), -1), TypeError, "floating"),
        (lambda: head_type_scores([], torch.ones(1, 3, dtype=torch.long)), ValueError, "empty"),
    ],
)
def test_errors(call, error, text):
    with pytest.raises(error, match=text):
        call()


def test_probe_sentences_ship_with_the_package():
    sentences = head_types.load_sentences()
    assert len(sentences) >= 10 and all(isinstance(s, str) and s for s in sentences)
    assert not any(s.startswith("#") for s in sentences)


def test_real_model_has_a_previous_token_head_in_layer_0_and_a_cls_sink(minilm):
    model, tokenizer = minilm
    weights, batch = head_types.sentence_attentions(model, tokenizer, head_types.load_sentences())
    assert weights.shape[:3] == (6, len(head_types.load_sentences()), 12)
    scores = head_type_scores(weights, batch["input_ids"], batch["attention_mask"])
    assert scores[0, 0].max() > 0.9  # layer 0: a previous-token head
    assert scores[2].max() > 0.5  # some head parks most weight on [CLS]
    assert scores[0, 0].max() > 5 * scores[0].median()  # far above the typical head


# --- chapter 04 builds two ideas in the open; they must agree with the package -------------


def _chapter_defs():
    from pathlib import Path

    from notebook_defs import load_defs

    return load_defs(
        Path(__file__).resolve().parents[1] / "notebooks" / "04_visualizing_heads.ipynb"
    )


def test_notebook_offset_share_equals_offset_score(device):
    offset_share = _chapter_defs()["offset_share"]
    weights = torch.softmax(torch.randn(3, 4, 9, 9, device=device), dim=-1)
    for offset in (-3, -1, 1, 2, 8):
        assert_close(offset_share(weights, offset), offset_score(weights, offset))


def test_notebook_unfold_of_d2l_layout_equals_multihead_weights(device):
    import d2lmha

    d2l_to_batch_heads = _chapter_defs()["d2l_to_batch_heads"]
    layer = d2lmha.MultiHeadAttention(12, 3).to(device).eval()
    X = torch.randn(2, 5, 12, device=device)
    lens = torch.tensor([5, 2], device=device)
    with torch.no_grad():
        layer(X, X, X, lens)
        folded = [d2lmha.transpose_qkv(W(X), 3) for W in (layer.W_q, layer.W_k, layer.W_v)]
        single = d2lmha.DotProductAttention()
        single(*folded, lens.repeat_interleave(3))
    assert single.attention_weights.shape == (6, 5, 5)
    assert_close(d2l_to_batch_heads(single.attention_weights, 3), layer.attention_weights)
