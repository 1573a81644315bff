"""Sentence-embedding quality on the course's paraphrase pairs.

The real-model experiment of chapter 05 needs a loss the model was trained for and a way
to tell how far a pruned model's sentence embeddings move: paraphrase pairs written for
the course (``d2lmha/data/paraphrases.tsv``), the in-batch contrastive loss
all-MiniLM-L6-v2 was trained with, and agreement / retrieval measures. Chapter 00 uses
the pairs to check that the loaded model embeds sentences sensibly.

Source: the all-MiniLM-L6-v2 model card (contrastive training on sentence pairs);
Henderson et al. (2017); van den Oord et al. (2018, InfoNCE).
"""

from __future__ import annotations

from importlib import resources

import torch
from torch.nn import functional as F

from ._checks import check_tensor
from .minilm import sentence_embeddings

__all__ = [
    "load_paraphrases",
    "contrastive_loss",
    "paraphrase_loss",
    "embedding_agreement",
    "retrieval_accuracy",
]


def load_paraphrases() -> list[tuple[str, str]]:
    """The course's paraphrase pairs (``d2lmha/data/paraphrases.tsv``, written for d2lmha).

    Returns:
        60 ``(sentence, paraphrase)`` string pairs on varied topics (travel, animals,
        food, sport, technology, health, money, weather, culture, school, politics,
        science), several per topic so in-batch negatives are not all trivial.

    Raises:
        ValueError: a line of the file does not hold exactly two tab-separated sentences.
    """
    text = resources.files("d2lmha").joinpath("data/paraphrases.tsv").read_text("utf-8")
    lines = text.strip("\n").split("\n")
    pairs = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise ValueError(
                f"paraphrases.tsv line {number}: expected two tab-separated sentences, got {line!r}"
            )
        pairs.append((fields[0], fields[1]))
    return pairs


def contrastive_loss(
    anchors: torch.Tensor, positives: torch.Tensor, scale: float = 20.0, symmetric: bool = True
) -> torch.Tensor:
    """In-batch contrastive loss: each sentence must pick its own pair among the batch.

    ``logits = scale · cos(anchor_i, positive_j)``; cross-entropy with target ``j = i``
    (the other pairs in the batch are the negatives), averaged over ``i``, and over both
    directions when ``symmetric``.

    Args:
        anchors, positives: ``[n, d]`` floating embeddings, row i of one paired with row
            i of the other (normalised inside; n >= 2 so there is a negative).
        scale: inverse temperature (20 is sentence-transformers'
            ``MultipleNegativesRankingLoss`` default).
        symmetric: also let each positive pick its anchor.

    Returns:
        Scalar tensor in nats (``ln n`` for embeddings that carry no information).

    Raises:
        TypeError: not floating tensors. ValueError: shapes differ, not 2-D, or n < 2.

    Source: the training objective of all-MiniLM-L6-v2 (its model card: cross-entropy
    over the cosine similarities of all pairs in a batch); Henderson et al. (2017),
    van den Oord et al. (2018, InfoNCE).
    """
    check_tensor("anchors", anchors, ndim_min=2)
    check_tensor("positives", positives, ndim_min=2)
    if anchors.dim() != 2 or anchors.shape != positives.shape or anchors.shape[0] < 2:
        raise ValueError(
            f"anchors and positives must both be [n, d] with n >= 2, got "
            f"{list(anchors.shape)} and {list(positives.shape)}"
        )
    logits = scale * F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).T
    target = torch.arange(anchors.shape[0], device=anchors.device)
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.T, target)) / 2 if symmetric else loss


def paraphrase_loss(model, tokenizer, pairs, head_mask=None) -> torch.Tensor:
    """:func:`contrastive_loss` of the model's sentence embeddings of ``pairs``.

    Both sides go through the model in one padded batch of ``2·len(pairs)`` sentences.

    Args:
        model, tokenizer: from :func:`~d2lmha.load_minilm`.
        pairs: list of ``(sentence, paraphrase)`` (>= 2 pairs).
        head_mask: optional gate ξ ``[layers, heads]``.

    Returns:
        Scalar tensor (nats), carrying gradients unless run under ``torch.no_grad()``.

    Raises:
        ValueError: fewer than 2 pairs, or a pair that is not two strings.
    """
    if len(pairs) < 2 or not all(len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs):
        raise ValueError("pairs must be a list of at least 2 (sentence, paraphrase) string pairs")
    E = sentence_embeddings(
        model, tokenizer, [a for a, _ in pairs] + [b for _, b in pairs], head_mask=head_mask
    )
    return contrastive_loss(E[: len(pairs)], E[len(pairs) :])


def embedding_agreement(embeddings: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """How close a changed model's sentence embeddings stay to the full model's.

    Args:
        embeddings, reference: ``[n, d]`` floating (n >= 3), row i = sentence i.

    Returns:
        ``{"cosine": mean over sentences of cos(embedding_i, reference_i),
        "spearman": Spearman rank correlation between the two models' pairwise cosine
        similarities (the n·(n-1)/2 pairs i < j)}``: 1.0 means the same geometry.
        A model whose pairwise similarities are all equal gets spearman 0.0, not NaN.

    Raises:
        TypeError: not floating tensors. ValueError: shapes differ, not 2-D, or n < 3.
    """
    from scipy.stats import spearmanr

    check_tensor("embeddings", embeddings, ndim_min=2)
    check_tensor("reference", reference, ndim_min=2)
    if embeddings.dim() != 2 or embeddings.shape != reference.shape or embeddings.shape[0] < 3:
        raise ValueError(
            f"embeddings and reference must both be [n, d] with n >= 3, got "
            f"{list(embeddings.shape)} and {list(reference.shape)}"
        )
    E = F.normalize(embeddings.detach().double(), dim=-1)
    R = F.normalize(reference.detach().double(), dim=-1)
    i, j = torch.triu_indices(len(E), len(E), offset=1)
    pairs_E, pairs_R = (E @ E.T)[i, j].cpu().numpy(), (R @ R.T)[i, j].cpu().numpy()
    rho = spearmanr(pairs_E, pairs_R).statistic if pairs_E.std() and pairs_R.std() else 0.0
    return {"cosine": (E * R).sum(-1).mean().item(), "spearman": float(rho)}


def retrieval_accuracy(anchors: torch.Tensor, positives: torch.Tensor) -> float:
    """Fraction of anchors whose most similar positive (cosine) is their own pair.

    Args:
        anchors, positives: ``[n, d]`` floating, row i paired with row i.

    Returns:
        A float in [0, 1] (1/n expected by chance).

    Raises:
        TypeError: not floating tensors. ValueError: shapes differ or not 2-D.
    """
    check_tensor("anchors", anchors, ndim_min=2)
    check_tensor("positives", positives, ndim_min=2)
    if anchors.dim() != 2 or anchors.shape != positives.shape:
        raise ValueError(
            f"anchors and positives must both be [n, d], got "
            f"{list(anchors.shape)} and {list(positives.shape)}"
        )
    similarity = F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).T
    hits = similarity.argmax(-1) == torch.arange(len(anchors), device=anchors.device)
    return hits.float().mean().item()
