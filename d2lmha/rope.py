"""Rotary position embedding (RoPE): rotate queries and keys by an angle set by position.

Pairs convention: **interleaved**, as in the paper. Features ``(2i, 2i+1)`` form pair ``i``
and are rotated, as the point ``(x[2i], x[2i+1])`` of a plane, by the angle ``m·θ_i`` at
position ``m``, with ``θ_i = base^(-2i/d)``: the same frequencies, and the same column
pairs, as the sinusoidal encoding's ``(sin, cos)`` columns in
:func:`~d2lmha.sinusoidal_encoding`. Meta's reference LLaMA code pairs neighbours too
(``view_as_complex``); GPT-NeoX and Hugging Face's ``rotate_half`` (its LLaMA port included)
pair feature ``i`` with ``i + d/2`` instead ("half-split"). The two agree after permuting
the features (the tests check it against transformers' LLaMA code).

Source: Su et al. (2021), "RoFormer: Enhanced Transformer with Rotary Position
Embedding", section 3.4, eq. (34); d2l has no section on it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_positive_int, check_tensor

__all__ = ["rotary_embedding", "rope_angles", "RotaryEmbedding"]


def _check_base(base) -> float:
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise TypeError(f"base must be a number, got {type(base).__name__} ({base!r})")
    if not (math.isfinite(base) and base > 1):
        raise ValueError(f"base={base} must be a finite number > 1 (the paper uses 10000)")
    return float(base)


def _check_head_size(head_size) -> int:
    check_positive_int("head_size", head_size, minimum=2)
    if head_size % 2:
        raise ValueError(
            f"head_size={head_size} must be even: RoPE rotates features in pairs (2i, 2i+1)"
        )
    return head_size


def rope_angles(
    num_positions: int, head_size: int, base: float = 10000.0, offset: int = 0, device=None
) -> torch.Tensor:
    """The rotation angles ``m·θ_i`` of positions ``m = offset .. offset+num_positions-1``.

    Args:
        num_positions: n, number of positions (rows).
        head_size: d, the (even) width of the vectors that will be rotated.
        base: ``θ_i = base^(-2i/d)``; 10000 in the paper.
        offset: position of the first row (e.g. the length of a key/value cache).
        device: where to build it.

    Returns:
        float64 ``[num_positions, head_size // 2]`` tensor of angles in radians.

    Raises:
        TypeError: a size or ``offset`` that is not an int, a ``base`` that is not a number.
        ValueError: ``num_positions < 1``, ``head_size`` odd or < 2, ``offset < 0``,
            ``base <= 1``.

    Source: Su et al. (2021) eq. (15).
    """
    check_positive_int("num_positions", num_positions)
    _check_head_size(head_size)
    check_positive_int("offset", offset, minimum=0)
    base = _check_base(base)
    positions = torch.arange(offset, offset + num_positions, dtype=torch.float64, device=device)
    theta = base ** (-torch.arange(0, head_size, 2, dtype=torch.float64, device=device) / head_size)
    return torch.outer(positions, theta)


def rotary_embedding(X: torch.Tensor, base: float = 10000.0, offset: int = 0) -> torch.Tensor:
    """Apply RoPE to queries or keys: rotate pair ``i`` of row ``m`` by ``(offset+m)·θ_i``.

    ``y[2i]   = x[2i]·cos(mθ_i) - x[2i+1]·sin(mθ_i)``,
    ``y[2i+1] = x[2i]·sin(mθ_i) + x[2i+1]·cos(mθ_i)`` (interleaved pairs, see module doc).

    Because a rotation by ``mθ`` followed by the dot product with a key rotated by ``nθ``
    equals the dot product after one rotation by ``(n-m)θ``, the score
    ``rotary(q, m) · rotary(k, n)`` depends on the positions only through ``n - m``.
    Rotations keep lengths, so each row keeps its norm; position 0 is left unchanged.

    Args:
        X: floating tensor ``[..., n, d]``, e.g. queries ``[batch, heads, queries, d_k]``;
            ``d`` even. Position ``m`` is the row index along the second-to-last axis.
        base: ``θ_i = base^(-2i/d)`` (10000 in the paper).
        offset: position of row 0 (use the number of cached keys when decoding).

    Returns:
        A new tensor of ``X``'s shape, dtype and device (the input is not modified). The
        angles are computed in float64 and the rotation in float32 or wider, so half
        precision inputs lose nothing beyond their own rounding.

    Raises:
        TypeError: ``X`` not a floating tensor; ``offset`` not an int; ``base`` not a number.
        ValueError: ``X`` has fewer than 2 dims or an empty/odd last size; ``offset < 0``;
            ``base <= 1``.

    Source: Su et al. (2021), RoFormer, section 3.4.2 eq. (34).
    """
    check_tensor("X", X, ndim_min=2)
    n, d = X.shape[-2], X.shape[-1]
    if d < 2 or d % 2:
        raise ValueError(
            f"X has last size d={d}; RoPE needs an even d >= 2 (features are "
            "rotated in pairs (2i, 2i+1))"
        )
    check_positive_int("offset", offset, minimum=0)
    _check_base(base)
    if n == 0:
        return X.clone()
    angles = rope_angles(n, d, base, offset, device=X.device)
    work = torch.promote_types(X.dtype, torch.float32)
    cos, sin = torch.cos(angles).to(work), torch.sin(angles).to(work)
    pairs = X.to(work).unflatten(-1, (d // 2, 2))  # [..., n, d/2, 2]
    x_even, x_odd = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return rotated.flatten(-2).to(X.dtype)


class RotaryEmbedding(nn.Module):
    """RoPE as a module for a fixed head size; it has no parameters.

    Args:
        head_size: d_k, the (even) width of each head's queries and keys.
        base: ``θ_i = base^(-2i/d_k)`` (10000 in the paper).

    Forward ``(X, offset=0)``:
        X: ``[..., n, head_size]`` queries or keys, e.g. ``[batch, heads, n, d_k]``.
        Returns :func:`rotary_embedding` ``(X, base, offset)``, same shape and dtype.

    Raises:
        TypeError / ValueError: ``head_size`` not an even int >= 2 or bad ``base`` (at
        construction); in forward, ``X``'s last size is not ``head_size`` or see
        :func:`rotary_embedding`.

    Source: Su et al. (2021), RoFormer.
    """

    def __init__(self, head_size: int, base: float = 10000.0):
        super().__init__()
        self.head_size, self.base = _check_head_size(head_size), _check_base(base)

    def extra_repr(self) -> str:
        return f"head_size={self.head_size}, base={self.base:g}"

    def forward(self, X, offset: int = 0):
        check_tensor("X", X, ndim_min=2)
        if X.shape[-1] != self.head_size:
            raise ValueError(
                f"X has last size {X.shape[-1]} but this RotaryEmbedding was "
                f"built for head_size={self.head_size}"
            )
        return rotary_embedding(X, self.base, offset)
