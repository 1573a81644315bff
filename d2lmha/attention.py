"""Single-head attention: scaled dot-product and additive scoring.

Source: d2l.ai section 11.3 "Attention Scoring Functions"; Vaswani et al. (2017),
"Attention Is All You Need", eq. (1); Bahdanau et al. (2014) for additive attention.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_positive_int, check_tensor
from .masking import masked_softmax

__all__ = ["DotProductAttention", "AdditiveAttention", "check_qkv"]


def check_qkv(queries, keys, values, same_width: bool = True):
    """Check the shapes of ``queries [..., q, d]``, ``keys [..., k, d]``, ``values [..., k, v]``.

    Args:
        same_width: require ``queries`` and ``keys`` to share their last size ``d``
            (dot-product scoring needs it; additive scoring does not).

    Raises:
        TypeError: an argument is not a floating tensor.
        ValueError: fewer than 3 dims; leading (batch) sizes differ; ``keys`` and
            ``values`` disagree on the number of keys; query and key widths differ
            when ``same_width``.
    """
    for name, X in (("queries", queries), ("keys", keys), ("values", values)):
        check_tensor(name, X, ndim_min=3)
    if not (queries.shape[:-2] == keys.shape[:-2] == values.shape[:-2]):
        raise ValueError(
            "queries, keys and values must share their leading (batch) sizes, got "
            f"{list(queries.shape)}, {list(keys.shape)}, {list(values.shape)}"
        )
    if keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"keys ({keys.shape[-2]} keys) and values ({values.shape[-2]} values) must "
            "hold the same number of key-value pairs"
        )
    if same_width and queries.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"queries have width {queries.shape[-1]} but keys have width {keys.shape[-1]}; "
            "dot-product scoring needs the same width d"
        )


class DotProductAttention(nn.Module):
    """Scaled dot-product attention: ``softmax(Q Kᵀ / √d) V``.

    Args:
        dropout: dropout probability applied to the attention weights (training only).

    Forward:
        queries: ``[batch, (heads,) queries, d]`` floating tensor.
        keys: ``[batch, (heads,) keys, d]``.
        values: ``[batch, (heads,) keys, v]``.
        valid_lens: optional integer ``[batch]`` or ``[batch, queries]`` (see
            :func:`~d2lmha.masked_softmax`).
        mask: optional boolean mask broadcastable to ``[batch, (heads,) queries, keys]``,
            True = may attend (e.g. :func:`~d2lmha.causal_mask`).

    Returns:
        ``[batch, (heads,) queries, v]``, same dtype as the inputs. The weights are kept in
        ``self.attention_weights`` (``[batch, (heads,) queries, keys]``).

    Raises:
        ValueError / TypeError: see :func:`check_qkv` and :func:`~d2lmha.masked_softmax`.

    Source: d2l.ai section 11.3.2; Vaswani et al. (2017) eq. (1).
    """

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.attention_weights = None

    def forward(self, queries, keys, values, valid_lens=None, mask=None):
        check_qkv(queries, keys, values)
        d = queries.shape[-1]
        # Scaling Q before the product equals scaling the scores, on a smaller tensor.
        scores = (queries / math.sqrt(d)) @ keys.transpose(-2, -1)
        self.attention_weights = masked_softmax(scores, valid_lens, mask=mask)
        return _dropout(self.dropout, self.attention_weights) @ values


def _dropout(layer: nn.Dropout, weights: torch.Tensor) -> torch.Tensor:
    """Apply ``layer`` only when it can change something (training and p > 0)."""
    return layer(weights) if layer.training and layer.p > 0 else weights


class AdditiveAttention(nn.Module):
    """Additive attention: score(q, k) = w_vᵀ tanh(W_q q + W_k k).

    Useful when queries and keys have different widths.

    Args:
        num_hiddens: width of the hidden layer inside the score.
        dropout: dropout on the attention weights (training only).
        query_size, key_size: input widths. When given, ``W_q``/``W_k`` are ordinary
            ``nn.Linear`` layers; when ``None`` (d2l's behaviour) they are
            ``nn.LazyLinear`` and take their width from the first call.

    Forward:
        queries ``[batch, queries, query_size]``, keys ``[batch, keys, key_size]``,
        values ``[batch, keys, v]``, optional ``valid_lens`` / ``mask`` as in
        :class:`DotProductAttention`.

    Returns:
        ``[batch, queries, v]``; weights in ``self.attention_weights``
        (``[batch, queries, keys]``).

    Raises:
        ValueError / TypeError: bad ``num_hiddens`` or input shapes (see :func:`check_qkv`).

    Source: d2l.ai section 11.3.3; Bahdanau, Cho & Bengio (2014).
    """

    def __init__(
        self,
        num_hiddens: int,
        dropout: float = 0.0,
        query_size: int | None = None,
        key_size: int | None = None,
    ):
        super().__init__()
        check_positive_int("num_hiddens", num_hiddens)
        self.W_q = (
            nn.LazyLinear(num_hiddens, bias=False)
            if query_size is None
            else nn.Linear(query_size, num_hiddens, bias=False)
        )
        self.W_k = (
            nn.LazyLinear(num_hiddens, bias=False)
            if key_size is None
            else nn.Linear(key_size, num_hiddens, bias=False)
        )
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights = None

    def forward(self, queries, keys, values, valid_lens=None, mask=None):
        check_qkv(queries, keys, values, same_width=False)
        # [batch, q, 1, h] + [batch, 1, k, h] -> [batch, q, k, h]
        features = torch.tanh(self.W_q(queries).unsqueeze(-2) + self.W_k(keys).unsqueeze(-3))
        scores = self.w_v(features).squeeze(-1)
        self.attention_weights = masked_softmax(scores, valid_lens, mask=mask)
        return _dropout(self.dropout, self.attention_weights) @ values
