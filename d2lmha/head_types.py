"""Head-type scores: how much of a head's attention goes where a known pattern says.

Each score is an average attention weight, so it lies in [0, 1] and has a plain meaning:
the share of a query's attention that lands on the key the pattern names.

* **offset** (``offset_score``): key ``i + offset`` for query ``i``. ``offset=-1`` is the
  previous-token score, ``+1`` the next-token score; chapter 04's tiny model is scored
  at ``-1`` and ``+2``.
* **sink** (``sink_score``): one fixed key, by default position 0, which is ``[CLS]``
  in BERT-style models. Heads with nothing to do often park their weight there
  (Clark et al., 2019, found ``[SEP]`` in BERT-base; in all-MiniLM-L6-v2 it is ``[CLS]``).
* **same token** (``same_token_score``): the other positions holding the same token id as
  the query ("the" looking at the other "the").

Only real tokens take part: padded keys and queries (``attention_mask == 0``) are left
out, and so are queries for which the pattern names no key (the first token has no
previous token). A score that would average over nothing raises ``ValueError`` rather
than return NaN.

Source: Clark, Khandelwal, Levy & Manning (2019), "What Does BERT Look At?" (head types:
previous/next token, [CLS]/[SEP] sinks, broad heads); Voita et al. (2019) (positional
heads); d2l.ai section 11.5 exercise 1 (visualise each head).
"""

from __future__ import annotations

from importlib import resources

import torch

from ._checks import check_tensor

__all__ = [
    "offset_score",
    "sink_score",
    "same_token_score",
    "head_type_scores",
    "sentence_attentions",
    "load_sentences",
    "HEAD_TYPES",
]

HEAD_TYPES = ("previous token", "next token", "[CLS] sink", "same token")
"""Names of the head types :func:`head_type_scores` reports, in its order."""


def _check_weights(weights, attention_mask):
    """Return ``(weights, keep)``: weights ``[batch, heads, n, n]`` and a bool ``[batch, n]``."""
    check_tensor("weights", weights, ndim_min=4)
    if weights.dim() != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(
            f"weights must be self-attention [batch, heads, n, n], got shape {list(weights.shape)}"
        )
    batch, n = weights.shape[0], weights.shape[-1]
    if attention_mask is None:
        return weights, torch.ones(batch, n, dtype=torch.bool, device=weights.device)
    if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != (batch, n):
        raise ValueError(
            f"attention_mask must be a tensor [batch, n] = [{batch}, {n}] "
            f"(1 = real token, 0 = padding)"
        )
    return weights, attention_mask.to(weights.device).bool()


def _masked_mean(values: torch.Tensor, use: torch.Tensor, what: str) -> torch.Tensor:
    """Mean of ``values [batch, heads, n]`` over batch and queries where ``use [batch, n]``."""
    count = use.sum()
    if count == 0:
        raise ValueError(f"no query to score: {what}")
    use = use[:, None, :].to(values.dtype)
    return (values * use).sum((0, 2)) / count


def offset_score(weights: torch.Tensor, offset: int, attention_mask=None) -> torch.Tensor:
    """Mean weight that query ``i`` puts on key ``i + offset``, per head.

    Args:
        weights: self-attention weights ``[batch, heads, n, n]`` (queries = keys), float.
        offset: relative position (``-1`` = previous token, ``+1`` = next token).
        attention_mask: optional ``[batch, n]``, 1 for real tokens, 0 for padding.
            Queries count only if both they and key ``i + offset`` are real tokens.

    Returns:
        float ``[heads]`` in [0, 1]: 1 for a head that always looks exactly ``offset``
        away; ``1 / n`` for uniform weights over ``n`` keys.

    Raises:
        TypeError: ``weights`` not a floating tensor, ``offset`` not an int.
        ValueError: ``weights`` not ``[batch, heads, n, n]``; mask of the wrong shape; no
            query has a real key at ``i + offset``.
    """
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, got {type(offset).__name__}")
    weights, keep = _check_weights(weights, attention_mask)
    n = weights.shape[-1]
    queries = torch.arange(n, device=weights.device)
    keys = queries + offset
    inside = (keys >= 0) & (keys < n)
    keys = keys.clamp(0, n - 1)
    picked = weights[:, :, queries, keys]  # [batch, heads, n]
    use = keep & keep[:, keys] & inside
    return _masked_mean(picked, use, f"no real query has a real key at offset {offset}")


def sink_score(weights: torch.Tensor, position: int = 0, attention_mask=None) -> torch.Tensor:
    """Mean weight that the real queries put on the key at ``position``, per head.

    Args:
        weights: ``[batch, heads, n, n]``. position: the sink's index (0 = ``[CLS]``).
        attention_mask: optional ``[batch, n]`` (1 = real token).

    Returns:
        float ``[heads]`` in [0, 1]; ``1 / n`` for uniform weights over ``n`` keys.

    Raises:
        TypeError / ValueError: as :func:`offset_score`; ``position`` outside ``0..n-1``.
    """
    weights, keep = _check_weights(weights, attention_mask)
    n = weights.shape[-1]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < n:
        raise ValueError(f"position={position!r} must be an int in 0..{n - 1}")
    return _masked_mean(weights[..., position], keep, "every token is padding")


def same_token_score(
    weights: torch.Tensor, input_ids: torch.Tensor, attention_mask=None
) -> torch.Tensor:
    """Mean weight a query puts on the *other* positions that hold its own token id.

    Only queries whose token occurs again (at another real position) are averaged.

    Args:
        weights: ``[batch, heads, n, n]``.
        input_ids: integer ``[batch, n]``, the token ids the weights were computed on.
        attention_mask: optional ``[batch, n]`` (1 = real token).

    Returns:
        float ``[heads]`` in [0, 1]; for uniform weights over ``n`` keys, ``m / n`` when
        each scored query has ``m`` other copies.

    Raises:
        TypeError / ValueError: as :func:`offset_score`; ``input_ids`` not an integer
            ``[batch, n]`` tensor; no token occurs twice.
    """
    weights, keep = _check_weights(weights, attention_mask)
    if (
        not isinstance(input_ids, torch.Tensor)
        or input_ids.is_floating_point()
        or tuple(input_ids.shape) != (weights.shape[0], weights.shape[-1])
    ):
        raise ValueError(
            f"input_ids must be an integer tensor [batch, n] = "
            f"[{weights.shape[0]}, {weights.shape[-1]}]"
        )
    ids = input_ids.to(weights.device)
    n = weights.shape[-1]
    same = (ids[:, :, None] == ids[:, None, :]) & keep[:, :, None] & keep[:, None, :]
    same &= ~torch.eye(n, dtype=torch.bool, device=weights.device)  # [batch, q, k]
    mass = (weights * same[:, None].to(weights.dtype)).sum(-1)  # [batch, heads, q]
    return _masked_mean(mass, same.any(-1), "no token occurs twice in any sequence")


def head_type_scores(attentions, input_ids: torch.Tensor, attention_mask=None) -> torch.Tensor:
    """All four head-type scores for every head of every layer.

    Args:
        attentions: the per-layer weights of one forward pass, a sequence of
            ``[batch, heads, n, n]`` tensors (``EncoderOutput.attentions``) or one tensor
            ``[layers, batch, heads, n, n]``.
        input_ids, attention_mask: the inputs of that pass, ``[batch, n]``.

    Returns:
        float ``[4, layers, heads]``: :data:`HEAD_TYPES` in order, i.e. previous token
        (offset -1), next token (offset +1), ``[CLS]`` sink (position 0), same token.

    Raises:
        TypeError / ValueError: see the single scores.
    """
    if isinstance(attentions, torch.Tensor):
        check_tensor("attentions", attentions, ndim_min=5)
    elif not attentions:
        raise ValueError("attentions is empty; run the model with need_weights=True")
    scores = []
    for layer in attentions:
        scores.append(
            torch.stack(
                [
                    offset_score(layer, -1, attention_mask),
                    offset_score(layer, +1, attention_mask),
                    sink_score(layer, 0, attention_mask),
                    same_token_score(layer, input_ids, attention_mask),
                ]
            )
        )
    return torch.stack(scores, dim=1)


@torch.no_grad()
def sentence_attentions(model, tokenizer, sentences):
    """Run a pretrained encoder on sentences and keep every layer's attention weights.

    Args:
        model, tokenizer: from :func:`~d2lmha.load_minilm`.
        sentences: a string or a list of strings (padded to the longest).

    Returns:
        ``(weights, batch)``: float32 ``[layers, batch, heads, tokens, tokens]`` on the
        model's device, and the :func:`~d2lmha.tokenize` dict (``input_ids``,
        ``attention_mask``, ``tokens``).

    Raises:
        TypeError: ``sentences`` is not a string or a list of strings.
    """
    from .minilm import tokenize

    device = next(model.parameters()).device
    batch = tokenize(tokenizer, sentences, device)
    out = model(batch["input_ids"], batch["attention_mask"], need_weights=True)
    return torch.stack(out.attentions), batch


def load_sentences(name: str = "head_sentences.txt") -> list[str]:
    """The course's own probe sentences for head types (``d2lmha/data/<name>``).

    One sentence a line; blank lines and lines starting with ``#`` are skipped. The
    sentences repeat words on purpose, so same-token heads have something to find.

    Raises:
        FileNotFoundError: no such data file.
    """
    text = resources.files("d2lmha").joinpath("data", name).read_text(encoding="utf-8")
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
