"""Chapter 05's stored study: pruning curves of the real model in five random orders.

    python -m tools.pruning_study    # writes d2lmha/data/random_pruning_study.csv

Chapter 05 prunes all-MiniLM-L6-v2 in gradient order and compares it with random orders. The
five random orders (seeds 0-4) cost 15 passes of the real model over 60 sentences, about a
tenth of the chapter's run time, and do not depend on anything the chapter computes before
them, so they are computed once here and shipped with the package; the chapter recomputes one
stored row and checks that it agrees, and ``tests/test_importance.py`` recomputes another.

Each row is what the chapter's ``minilm_quality`` gives for the mask of
:func:`d2lmha.importance.random_order` ``(72, seed)`` with its first ``pruned`` heads removed:
the cosine and rank correlation of the pruned model's embeddings of the 60 evaluation
sentences with the full model's, and paraphrase retrieval. Run on the CPU with one thread.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import torch

import d2lmha
from d2lmha import importance, paraphrases

OUT = Path(__file__).resolve().parents[1] / "d2lmha" / "data" / "random_pruning_study.csv"
SEEDS = range(5)
COUNTS = (18, 36, 54)  # 25, 50, 75 % of the 72 heads
SHAPE = (6, 12)


def eval_sentences() -> list[str]:
    """Chapter 05's evaluation sentences: the second 30 pairs, first sides then second sides."""
    pairs = paraphrases.load_paraphrases()[30:]
    return [a for a, _ in pairs] + [b for _, b in pairs]


@torch.no_grad()
def quality(model, tokenizer, head_mask, reference) -> dict[str, float]:
    """Cosine, rank correlation and retrieval of the masked model against ``reference``."""
    sentences = eval_sentences()
    embeddings = d2lmha.sentence_embeddings(model, tokenizer, sentences, head_mask=head_mask)
    half = len(sentences) // 2
    return {
        **paraphrases.embedding_agreement(embeddings, reference),
        "retrieval": paraphrases.retrieval_accuracy(embeddings[:half], embeddings[half:]),
    }


def study_rows(model, tokenizer, seeds=SEEDS, counts=COUNTS) -> list[dict]:
    """One row per (seed, heads removed): ``seed``, ``pruned``, ``fraction`` and the measures.

    Runs on one CPU thread (:func:`d2lmha.fixed_threads`): the same rows whatever torch's
    thread count.
    """
    with d2lmha.fixed_threads(1):
        return _study_rows(model, tokenizer, seeds, counts)


def _study_rows(model, tokenizer, seeds, counts) -> list[dict]:
    with torch.no_grad():
        reference = d2lmha.sentence_embeddings(model, tokenizer, eval_sentences())
    device = reference.device
    rows = []
    for seed in seeds:
        order = importance.random_order(SHAPE[0] * SHAPE[1], seed, device)
        masks = importance.pruning_masks(order, SHAPE, counts)
        for count, mask in zip(counts, masks, strict=True):
            rows.append(
                {
                    "seed": seed,
                    "pruned": count,
                    "fraction": count / (SHAPE[0] * SHAPE[1]),
                    **quality(model, tokenizer, mask, reference),
                }
            )
    return rows


def main() -> int:
    model, tokenizer = d2lmha.load_minilm("cpu")
    model.requires_grad_(False)
    rows = study_rows(model, tokenizer)
    with open(OUT, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows
        )
    print(f"wrote {len(rows)} rows to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
