"""Positional encodings: fixed sinusoidal (d2l / Vaswani et al.) and learned (BERT).

Source: Vaswani et al. (2017) section 3.5; d2l.ai section 11.6.3
"Positional Encoding"; Devlin et al. (2019) for learned position embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_positive_int, check_tensor

__all__ = [
    "PositionalEncoding",
    "LearnedPositionalEncoding",
    "sinusoidal_encoding",
    "check_positions",
]


def check_positions(X: torch.Tensor, num_hiddens: int, max_len: int, offset: int = 0) -> None:
    """Check ``X`` is ``[batch, n, num_hiddens]`` with ``offset + n <= max_len``.

    Raises:
        TypeError: ``X`` is not a floating tensor; ``offset`` not an int.
        ValueError: wrong number of dims, wrong width, a negative ``offset``, or positions
            past ``max_len``.
    """
    check_tensor("X", X, ndim_min=3)
    check_positive_int("offset", offset, minimum=0)
    if X.dim() != 3 or X.shape[-1] != num_hiddens:
        raise ValueError(
            f"X must be [batch, n, num_hiddens={num_hiddens}], got shape {list(X.shape)}"
        )
    if offset + X.shape[1] > max_len:
        start = f" (from position {offset})" if offset else ""
        raise ValueError(
            f"X has sequence length {X.shape[1]}{start} but max_len={max_len}; "
            "build the encoding with a larger max_len"
        )


def sinusoidal_encoding(
    max_len: int, num_hiddens: int, base: float = 10000.0, dtype=torch.float32, device=None
) -> torch.Tensor:
    """The sinusoidal position matrix P.

    ``P[pos, 2i] = sin(pos / base^(2i/d))`` and ``P[pos, 2i+1] = cos(pos / base^(2i/d))``.

    Args:
        max_len: number of positions (rows).
        num_hiddens: d, an even number of columns.
        base: 10000 in the paper.

    Returns:
        ``[max_len, num_hiddens]`` tensor of ``dtype`` (values in [-1, 1]).

    Raises:
        ValueError: ``num_hiddens`` odd or < 2, ``max_len`` < 1, ``base`` <= 1.

    Source: Vaswani et al. (2017) section 3.5; d2l.ai section 11.6.3.
    """
    check_positive_int("max_len", max_len)
    check_positive_int("num_hiddens", num_hiddens, minimum=2)
    if not base > 1:
        raise ValueError(f"base={base} must be > 1 (10000 in the paper)")
    if num_hiddens % 2:
        raise ValueError(
            f"num_hiddens={num_hiddens} must be even: columns come in (sin, cos) pairs"
        )
    pos = torch.arange(max_len, dtype=torch.float64, device=device)[:, None]
    freq = base ** (
        torch.arange(0, num_hiddens, 2, dtype=torch.float64, device=device) / num_hiddens
    )
    angles = pos / freq
    P = torch.empty(max_len, num_hiddens, dtype=torch.float64, device=device)
    P[:, 0::2] = torch.sin(angles)
    P[:, 1::2] = torch.cos(angles)
    return P.to(dtype)


class PositionalEncoding(nn.Module):
    """Add the fixed sinusoidal encoding to a batch of embeddings.

    Args:
        num_hiddens: embedding width d (even).
        dropout: dropout applied after the addition (training only).
        max_len: longest sequence accepted.

    Attributes:
        P: ``[1, max_len, num_hiddens]`` float32 buffer (moves with ``.to(device)``; computed
            in float64 and rounded once, so float64 inputs get a float32-accurate table).

    Forward:
        X: ``[batch, n, num_hiddens]`` floating, ``n <= max_len``.
        offset: position of ``X``'s first token (default 0; while decoding with a
        :class:`~d2lmha.KVCache`, the number of tokens already cached).
        Returns ``X + P[:, offset:offset + n]`` (then dropout), same shape and dtype.

    Raises:
        ValueError: odd ``num_hiddens``; in forward, wrong width or ``offset + n >
        max_len``.

    Source: d2l.ai section 11.6.3 (same formula and names); Vaswani et al. (2017) 3.5.
    """

    def __init__(self, num_hiddens: int, dropout: float = 0.0, max_len: int = 1000):
        super().__init__()
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("P", sinusoidal_encoding(max_len, num_hiddens)[None], persistent=False)

    def forward(self, X, offset: int = 0):
        check_positions(X, self.num_hiddens, self.max_len, offset)
        return self.dropout(X + self.P[:, offset : offset + X.shape[1]].to(X.dtype))


class LearnedPositionalEncoding(nn.Module):
    """Add a trainable embedding per position (as BERT does) to a batch of embeddings.

    Unlike the sinusoidal encoding it has one row per position seen in training, so it
    cannot encode a position ``>= max_len``.

    Args:
        num_hiddens: embedding width d.
        dropout: dropout after the addition (training only).
        max_len: number of positions, i.e. of rows of the ``nn.Embedding``.

    Attributes:
        embedding: ``nn.Embedding(max_len, num_hiddens)``; ``embedding.weight`` is the
            ``[max_len, num_hiddens]`` position matrix.

    Forward:
        X: ``[batch, n, num_hiddens]``, ``n <= max_len``; returns ``X + E[:n]``.

    Raises:
        ValueError: in forward, wrong width or ``n > max_len``.

    Source: Devlin et al. (2019), BERT; Gehring et al. (2017).
    """

    def __init__(self, num_hiddens: int, dropout: float = 0.0, max_len: int = 512):
        super().__init__()
        check_positive_int("num_hiddens", num_hiddens)
        check_positive_int("max_len", max_len)
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.embedding = nn.Embedding(max_len, num_hiddens)
        self.dropout = nn.Dropout(dropout)

    def forward(self, X):
        check_positions(X, self.num_hiddens, self.max_len)
        return self.dropout(X + self.embedding.weight[: X.shape[1]].to(X.dtype))
