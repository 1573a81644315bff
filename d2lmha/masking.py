"""Masked softmax and the masks it takes: padding (``valid_lens``), boolean and causal.

Source: d2l.ai, section 11.3 "Attention Scoring Functions" (``masked_softmax``), with
three deliberate differences from d2l 1.0.3's version:

* the caller's tensor is never written to (d2l writes -1e6 into it);
* masked weights are exactly 0 and a row with no valid key is all zeros (d2l gives
  such a row uniform weights in float32 and NaN in float16);
* float16 / bfloat16 scores are soft-maxed in float32, so nothing overflows.
"""

from __future__ import annotations

import torch

from ._checks import check_mask, check_tensor, check_valid_lens

__all__ = ["masked_softmax", "valid_lens_mask", "causal_mask"]


def valid_lens_mask(valid_lens: torch.Tensor, num_queries: int, num_keys: int) -> torch.Tensor:
    """Turn d2l-style ``valid_lens`` into a boolean keep-mask.

    Args:
        valid_lens: integer tensor ``[batch]`` or ``[batch, queries]``.
        num_queries, num_keys: sizes of the scores to mask.

    Returns:
        ``torch.bool`` tensor ``[batch, 1, keys]`` (for ``[batch]`` input) or
        ``[batch, queries, keys]``; entry ``[b, q, k]`` is True when key ``k`` is one
        of the first ``valid_lens[b(, q)]`` keys. Same device as ``valid_lens``.
    """
    positions = torch.arange(num_keys, device=valid_lens.device)
    if valid_lens.dim() == 1:
        return positions[None, None, :] < valid_lens[:, None, None]
    return positions[None, None, :] < valid_lens[:, :, None]


def causal_mask(num_queries: int, num_keys: int | None = None, device=None) -> torch.Tensor:
    """Boolean mask letting query ``i`` attend to keys ``0..i`` only (no peeking ahead).

    Args:
        num_queries: number of queries (rows).
        num_keys: number of keys (columns); defaults to ``num_queries``. When there are
            more keys than queries, the queries are taken to be the *last* ones, as when
            decoding with a cache.
        device: where to build it.

    Returns:
        ``torch.bool`` tensor ``[queries, keys]``, True on and below the (shifted) diagonal.

    Source: Vaswani et al. (2017), section 3.2.3 (masking in the decoder).
    """
    num_keys = num_queries if num_keys is None else num_keys
    return torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril(
        num_keys - num_queries
    )


def masked_softmax(
    X: torch.Tensor, valid_lens: torch.Tensor | None = None, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax over the last axis of ``X``, ignoring masked-out keys.

    Args:
        X: scores ``[batch, ..., queries, keys]`` (any floating dtype; at least 2-D).
            Usually ``[batch, queries, keys]`` or ``[batch, heads, queries, keys]``.
        valid_lens: optional integer tensor ``[batch]`` or ``[batch, queries]`` with
            values in ``0..keys``: only the first ``valid_lens`` keys of each sequence
            (or each query) take part. Broadcast over any axes between batch and queries
            (e.g. heads), so one ``[batch]`` tensor masks every head.
        mask: optional ``torch.bool`` tensor that broadcasts to ``X.shape``; True means
            "may attend". Combined with ``valid_lens`` by logical and.

    Returns:
        Weights of ``X``'s shape and dtype. Each row sums to 1 over its kept keys; masked
        entries are exactly 0; a row with no kept key is all zeros (not uniform, not NaN).
        ``X`` itself is not modified. Gradients are finite everywhere.

    Raises:
        TypeError: ``X`` not a floating tensor; ``valid_lens`` not an integer tensor;
            ``mask`` not boolean.
        ValueError: ``X`` has fewer than 2 dims; ``valid_lens`` has the wrong shape or a
            value outside ``0..keys``; ``mask`` does not broadcast to ``X``.

    Source: d2l.ai section 11.3 (``masked_softmax``); differences listed in this module's
    docstring.
    """
    check_tensor("X", X, ndim_min=2)
    keep, rows_may_be_empty = None, False
    if valid_lens is not None:
        batch, num_queries, num_keys = X.shape[0], X.shape[-2], X.shape[-1]
        check_valid_lens(valid_lens, batch, num_queries, num_keys)
        rows_may_be_empty = bool((valid_lens == 0).any())
        keep = valid_lens_mask(valid_lens.to(X.device), num_queries, num_keys)
        # [batch, q|1, k] -> [batch, 1, ..., 1, q|1, k] so it broadcasts over heads.
        keep = keep.reshape(batch, *([1] * (X.dim() - 3)), *keep.shape[-2:])
    if mask is not None:
        check_mask(mask, X.shape)
        mask = mask.to(X.device)
        keep = mask if keep is None else keep & mask
        rows_may_be_empty = True
    low_precision = X.dtype in (torch.float16, torch.bfloat16)
    if keep is None:
        if low_precision:
            return torch.softmax(X, dim=-1, dtype=torch.float32).to(X.dtype)
        return torch.softmax(X, dim=-1)
    # An additive bias of the mask's (small, broadcast) shape: 0 where kept, -inf where
    # masked, so the full-size scores are touched once (X + bias) and exp(-inf) = 0 exactly.
    # float32 for half inputs, so the softmax runs in float32 and nothing overflows.
    bias = torch.zeros(
        keep.shape, dtype=torch.float32 if low_precision else X.dtype, device=X.device
    ).masked_fill_(~keep, float("-inf"))
    any_kept = keep.any(dim=-1, keepdim=True) if rows_may_be_empty else None
    if any_kept is not None and bool(any_kept.all()):
        any_kept = None
    if any_kept is not None:
        # A row with no key would be softmax(all -inf) = NaN: give it a finite bias,
        # then zero its weights below.
        bias = bias.masked_fill(~any_kept, 0.0)
    weights = torch.softmax(X + bias, dim=-1)
    if any_kept is not None:
        weights = weights * any_kept
    return weights.to(X.dtype)
