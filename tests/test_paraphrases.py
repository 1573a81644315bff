"""Paraphrase data, the contrastive loss and the embedding-agreement measures of chapter 05."""

import math

import pytest
import torch
from torch.testing import assert_close

from d2lmha import paraphrases


def test_paraphrase_data():
    pairs = paraphrases.load_paraphrases()
    assert 40 <= len(pairs) <= 60
    assert all(isinstance(a, str) and isinstance(b, str) and a != b for a, b in pairs)
    sentences = [s for pair in pairs for s in pair]
    assert len(set(sentences)) == len(sentences)


def test_contrastive_loss_values():
    n = 5
    same = torch.ones(n, 4)
    assert_close(paraphrases.contrastive_loss(same, same), torch.tensor(math.log(n)))
    identity = torch.eye(n)
    expected = math.log(1 + (n - 1) * math.exp(-20.0))  # cos 1 vs cos 0, scale 20
    assert_close(paraphrases.contrastive_loss(identity, identity), torch.tensor(expected))
    A, B = torch.randn(n, 8), torch.randn(n, 8)
    one_way = paraphrases.contrastive_loss(A, B, symmetric=False)
    other_way = paraphrases.contrastive_loss(B, A, symmetric=False)
    assert_close(paraphrases.contrastive_loss(A, B), (one_way + other_way) / 2)
    assert_close(paraphrases.contrastive_loss(3 * A, B), paraphrases.contrastive_loss(A, B))
    with pytest.raises(ValueError, match="n >= 2"):
        paraphrases.contrastive_loss(torch.ones(1, 4), torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        paraphrases.contrastive_loss(torch.ones(3, 4), torch.ones(3, 5))


def test_embedding_agreement_and_retrieval():
    torch.manual_seed(0)
    E = torch.randn(6, 4)
    same = paraphrases.embedding_agreement(E, E)
    assert same["cosine"] == pytest.approx(1.0) and same["spearman"] == pytest.approx(1.0)
    scaled = paraphrases.embedding_agreement(2 * E, E)  # cosine ignores length
    assert scaled["cosine"] == pytest.approx(1.0)
    flat = paraphrases.embedding_agreement(torch.ones(6, 4), E)
    assert flat["spearman"] == 0.0  # defined, not NaN
    assert paraphrases.embedding_agreement(-E, E)["cosine"] == pytest.approx(-1.0)
    assert paraphrases.retrieval_accuracy(E, E) == 1.0
    assert paraphrases.retrieval_accuracy(E, E.roll(1, 0)) == 0.0
    with pytest.raises(ValueError, match="n >= 3"):
        paraphrases.embedding_agreement(E[:2], E[:2])
    with pytest.raises(ValueError, match="anchors and positives"):
        paraphrases.retrieval_accuracy(E, E[:3])
