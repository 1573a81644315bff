"""Multi-head attention: h scaled dot-product heads side by side, then ``W_o``.

Source: Vaswani et al. (2017) section 3.2.2,
``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O`` with
``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``; d2l.ai section 11.5
"Multi-Head Attention" (``transpose_qkv``, ``transpose_output``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import check_mask, check_positive_int, check_tensor, check_valid_lens
from .attention import DotProductAttention, check_qkv
from .kv_cache import KVCache
from .masking import causal_mask, valid_lens_mask

__all__ = [
    "MultiHeadAttention",
    "transpose_qkv",
    "transpose_output",
    "split_heads",
    "merge_heads",
    "check_heads",
    "check_kv_heads",
    "repeat_kv",
]


def check_heads(num_hiddens: int, num_heads: int) -> int:
    """Return the per-head size ``d_k = num_hiddens // num_heads``.

    Raises:
        TypeError: either argument is not an int.
        ValueError: either is < 1, or ``num_hiddens`` is not divisible by ``num_heads``.
    """
    check_positive_int("num_hiddens", num_hiddens)
    check_positive_int("num_heads", num_heads)
    if num_hiddens % num_heads:
        raise ValueError(
            f"num_hiddens={num_hiddens} is not divisible by num_heads={num_heads}: each head "
            f"gets d_k = num_hiddens / num_heads features, which must be a whole number"
        )
    return num_hiddens // num_heads


def check_kv_heads(num_heads: int, num_kv_heads: int | None) -> int:
    """Return the group size ``num_heads // num_kv_heads`` (query heads per K/V head).

    ``None`` means ``num_heads`` K/V heads (ordinary multi-head attention, group size 1);
    1 is multi-query attention; anything between is grouped-query attention.

    Raises:
        TypeError: ``num_kv_heads`` is not an int (or None).
        ValueError: ``num_kv_heads`` < 1 or does not divide ``num_heads``.

    Source: Shazeer (2019), multi-query attention; Ainslie et al. (2023), GQA.
    """
    if num_kv_heads is None:
        return 1
    check_positive_int("num_kv_heads", num_kv_heads)
    if num_heads % num_kv_heads:
        raise ValueError(
            f"num_kv_heads={num_kv_heads} must divide num_heads={num_heads}: each K/V head "
            f"serves a group of num_heads / num_kv_heads query heads"
        )
    return num_heads // num_kv_heads


def repeat_kv(X: torch.Tensor, group_size: int) -> torch.Tensor:
    """``[batch, kv_heads, n, d]`` -> ``[batch, kv_heads·group_size, n, d]``.

    Query head ``i`` reads K/V head ``i // group_size``: each K/V head is repeated
    ``group_size`` times in place, the grouping of ``torch.nn.functional.
    scaled_dot_product_attention(..., enable_gqa=True)`` and of Hugging Face's
    ``repeat_kv``.

    Raises:
        ValueError: ``X`` is not 4-D. TypeError / ValueError: bad ``group_size``.
    """
    check_tensor("X", X, ndim_min=4, floating=False)
    check_positive_int("group_size", group_size)
    if X.dim() != 4:
        raise ValueError(f"X must be [batch, kv_heads, n, d], got shape {list(X.shape)}")
    return X if group_size == 1 else X.repeat_interleave(group_size, dim=1)


def split_heads(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``[batch, n, num_heads·d]`` -> ``[batch, num_heads, n, d]`` (a view, no copy).

    Raises:
        ValueError: ``X`` is not 3-D or its width is not divisible by ``num_heads``.
    """
    check_tensor("X", X, ndim_min=3, floating=False)
    if X.dim() != 3:
        raise ValueError(f"X must be [batch, n, num_hiddens], got shape {list(X.shape)}")
    check_heads(X.shape[-1], num_heads)
    return X.unflatten(-1, (num_heads, -1)).transpose(1, 2)


def merge_heads(X: torch.Tensor) -> torch.Tensor:
    """``[batch, num_heads, n, d]`` -> ``[batch, n, num_heads·d]`` (head i in columns i·d..)."""
    check_tensor("X", X, ndim_min=4, floating=False)
    return X.transpose(1, 2).flatten(-2)


def transpose_qkv(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Fold heads into the batch axis, d2l's layout.

    Args:
        X: ``[batch, n, num_hiddens]``.
        num_heads: h; must divide ``num_hiddens``.

    Returns:
        ``[batch·num_heads, n, num_hiddens / num_heads]``; head ``i`` of batch item ``b`` is
        row ``b·num_heads + i``, and it holds columns ``i·d_k .. (i+1)·d_k - 1`` of ``X``.

    Raises:
        ValueError: ``X`` not 3-D, or ``num_hiddens`` not divisible by ``num_heads``.

    Source: d2l.ai section 11.5.2.
    """
    heads = split_heads(X, num_heads)
    return heads.reshape(-1, heads.shape[-2], heads.shape[-1])


def transpose_output(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Reverse :func:`transpose_qkv`: ``[batch·h, n, d]`` -> ``[batch, n, h·d]``.

    Raises:
        ValueError: ``X`` not 3-D or its first size is not a multiple of ``num_heads``.

    Source: d2l.ai section 11.5.2.
    """
    check_tensor("X", X, ndim_min=3, floating=False)
    check_positive_int("num_heads", num_heads)
    if X.dim() != 3 or X.shape[0] % num_heads:
        raise ValueError(
            f"X must be [batch*num_heads, n, d] with its first size a multiple of "
            f"num_heads={num_heads}, got shape {list(X.shape)}"
        )
    return merge_heads(X.reshape(-1, num_heads, X.shape[1], X.shape[2]))


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate ``W_q``, ``W_k``, ``W_v``, ``W_o`` projections.

    Args:
        num_hiddens: model width d_model; also the output width.
        num_heads: h; must divide ``num_hiddens`` (each head has d_k = d_model / h).
        dropout: dropout on the attention weights (training only).
        bias: give the four projections a bias (parameters 4·d² + 4·d instead of 4·d²).
        query_size, key_size, value_size: input widths (default ``num_hiddens``), like
            ``kdim``/``vdim`` of ``torch.nn.MultiheadAttention``.
        num_kv_heads: number of key/value heads (default ``None`` = ``num_heads``);
            must divide ``num_heads``. ``W_k`` and ``W_v`` then output
            ``num_kv_heads · d_k`` features and query head ``i`` reads K/V head
            ``i // (num_heads // num_kv_heads)``: 1 is multi-query attention (Shazeer,
            2019), values between are grouped-query attention (Ainslie et al., 2023).
            Parameters: ``2·d² + 2·d·num_kv_heads·d_k`` (plus biases).

    Forward ``(queries, keys, values, valid_lens=None, need_weights=True, mask=None,
    head_mask=None)``:
        queries: ``[batch, queries, query_size]``; keys ``[batch, keys, key_size]``;
            values ``[batch, keys, value_size]``; floating tensors.
        valid_lens: optional integer ``[batch]`` or ``[batch, queries]``: padding, shared
            by every head.
        need_weights: True runs the explicit path and keeps ``self.attention_weights``
            as ``[batch, heads, queries, keys]``; False runs the fused
            ``torch.nn.functional.scaled_dot_product_attention`` and sets it to ``None``.
        mask: optional boolean mask broadcastable to ``[batch, heads, queries, keys]``,
            True = may attend (e.g. a causal mask ``[queries, keys]``).
        head_mask: optional gate ξ, ``[heads]`` or ``[batch, heads]``, multiplying each
            head's output before ``W_o`` (0 removes a head; Michel et al., 2019).
        cache: optional :class:`~d2lmha.KVCache` for incremental causal self-attention:
            ``keys``/``values`` are the new tokens (as many as ``queries``); their
            projections are appended to the cache, and the queries, taken to be the last
            tokens, attend causally to every cached key plus their own. ``valid_lens`` and
            ``mask`` then refer to all ``cached_len + new`` keys. Feeding a sequence one
            token at a time gives the outputs of one full pass with a causal mask.
        projected_kv: optional ``(K, V)`` from :meth:`project_kv` (e.g. a fixed source
            projected once while decoding); ``keys``/``values`` are then only checked,
            not projected again.

    Returns:
        ``[batch, queries, num_hiddens]``, the inputs' dtype.

    Raises:
        TypeError / ValueError before any work: ``num_hiddens`` not divisible by
        ``num_heads``; ``num_kv_heads`` not dividing ``num_heads``; input widths other than
        the ones the layer was built for; bad ``valid_lens``, ``mask`` or ``head_mask``;
        a ``cache`` with another number of new keys than queries, or holding entries of
        another shape; ``cache`` and ``projected_kv`` together; a ``projected_kv`` pair of
        the wrong shape.
        RuntimeError: a ``cache`` while the layer is in training mode (call ``.eval()``).

    Source: Vaswani et al. (2017) section 3.2.2; d2l.ai section 11.5 (same names, but the
    projections are built eagerly so the parameter count is known before any call).
    """

    def __init__(
        self,
        num_hiddens: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = False,
        query_size: int | None = None,
        key_size: int | None = None,
        value_size: int | None = None,
        num_kv_heads: int | None = None,
    ):
        super().__init__()
        self.head_size = check_heads(num_hiddens, num_heads)
        self.group_size = check_kv_heads(num_heads, num_kv_heads)
        self.num_hiddens, self.num_heads, self.dropout_p = num_hiddens, num_heads, dropout
        sizes = {"query_size": query_size, "key_size": key_size, "value_size": value_size}
        for name, size in sizes.items():
            check_positive_int(name, num_hiddens if size is None else size)
        self.query_size = query_size or num_hiddens
        self.key_size = key_size or num_hiddens
        self.value_size = value_size or num_hiddens
        self.W_q = nn.Linear(self.query_size, num_hiddens, bias=bias)
        kv_width = self.num_kv_heads * self.head_size
        self.W_k = nn.Linear(self.key_size, kv_width, bias=bias)
        self.W_v = nn.Linear(self.value_size, kv_width, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.attention = DotProductAttention(dropout)
        self.attention_weights = None

    @property
    def num_kv_heads(self) -> int:
        """Number of key/value heads (``num_heads // group_size``)."""
        return self.num_heads // self.group_size

    def extra_repr(self) -> str:
        kv = f", num_kv_heads={self.num_kv_heads}" if self.group_size > 1 else ""
        return (
            f"num_hiddens={self.num_hiddens}, num_heads={self.num_heads}{kv}, d_k={self.head_size}"
        )

    def project_kv(self, keys: torch.Tensor, values: torch.Tensor):
        """``(K, V)``: keys and values projected and split into ``[batch, kv_heads, n, d_k]``.

        Raises:
            TypeError / ValueError: ``keys``/``values`` not floating ``[batch, n, size]``
            of the widths the layer was built for, or of different lengths.
        """
        check_qkv(keys, keys, values, same_width=False)
        self._check_width("keys", keys, "key_size", self.key_size)
        self._check_width("values", values, "value_size", self.value_size)
        kv = self.num_kv_heads
        return split_heads(self.W_k(keys), kv), split_heads(self.W_v(values), kv)

    @staticmethod
    def _check_width(name, X, size_name, size):
        if X.dim() != 3:
            raise ValueError(f"{name} must be [batch, n, {size}], got shape {list(X.shape)}")
        if X.shape[-1] != size:
            raise ValueError(
                f"{name} have width {X.shape[-1]} but this layer was built for {size_name}={size}"
            )

    def _check_inputs(
        self, queries, keys, values, valid_lens, mask, head_mask, cache=None, projected_kv=None
    ):
        """Check a forward call; return the number of keys attended to."""
        check_qkv(queries, keys, values, same_width=False)
        for name, X, size_name, size in (
            ("queries", queries, "query_size", self.query_size),
            ("keys", keys, "key_size", self.key_size),
            ("values", values, "value_size", self.value_size),
        ):
            self._check_width(name, X, size_name, size)
        batch, num_q, num_k = queries.shape[0], queries.shape[1], keys.shape[1]
        if cache is not None:
            if not isinstance(cache, KVCache):
                raise TypeError(f"cache must be a d2lmha.KVCache, got {type(cache).__name__}")
            if self.training:
                raise RuntimeError(
                    "a KVCache is for decoding: call .eval() on the model first (in "
                    "training mode dropout differs from step to step, and the cache would "
                    "keep every step's autograd graph)"
                )
            if projected_kv is not None:
                raise ValueError(
                    "give cache (self-attention decoding) or projected_kv (a "
                    "fixed, already projected source), not both"
                )
            if num_k != num_q:
                raise ValueError(
                    f"with a cache, keys and values are the new tokens, as many as the "
                    f"queries ({num_q}); got {num_k}"
                )
            cache.check(batch, self.num_kv_heads, self.head_size)
            num_k += cache.cached_len
        if projected_kv is not None:
            expected = [batch, self.num_kv_heads, num_k, self.head_size]
            if (
                not isinstance(projected_kv, (tuple, list))
                or len(projected_kv) != 2
                or any(
                    not isinstance(t, torch.Tensor) or list(t.shape) != expected
                    for t in projected_kv
                )
            ):
                raise ValueError(
                    f"projected_kv must be a pair (K, V) of tensors {expected} "
                    f"([batch, kv_heads, keys, d_k]), as project_kv returns"
                )
        if valid_lens is not None:
            check_valid_lens(valid_lens, batch, num_q, num_k)
        if mask is not None:
            check_mask(mask, (batch, self.num_heads, num_q, num_k))
        if head_mask is not None:
            check_tensor("head_mask", head_mask)
            if tuple(head_mask.shape) not in ((self.num_heads,), (batch, self.num_heads)):
                raise ValueError(
                    f"head_mask has shape {list(head_mask.shape)}; expected "
                    f"[{self.num_heads}] or [{batch}, {self.num_heads}] (one gate per head)"
                )
        return num_k

    def forward(
        self,
        queries,
        keys,
        values,
        valid_lens=None,
        need_weights=True,
        mask=None,
        head_mask=None,
        cache=None,
        projected_kv=None,
    ):
        num_k = self._check_inputs(
            queries, keys, values, valid_lens, mask, head_mask, cache, projected_kv
        )
        Q = split_heads(self.W_q(queries), self.num_heads)  # [batch, heads, queries, d_k]
        # [batch, kv_heads, keys, d_k] each
        K, V = self.project_kv(keys, values) if projected_kv is None else projected_kv
        if cache is not None:
            K, V = cache.update(K, V)
            causal = causal_mask(Q.shape[-2], num_k, device=Q.device)
            mask = causal if mask is None else mask.to(Q.device) & causal
        if need_weights:
            g = self.group_size
            out = self.attention(Q, repeat_kv(K, g), repeat_kv(V, g), valid_lens, mask=mask)
            self.attention_weights = self.attention.attention_weights
        else:
            out = self._fused(Q, K, V, valid_lens, mask)
            self.attention_weights = None
        if head_mask is not None:
            gate = head_mask.to(out.dtype)
            out = out * (gate[None, :, None, None] if gate.dim() == 1 else gate[:, :, None, None])
        return self.W_o(merge_heads(out))

    def _fused(self, Q, K, V, valid_lens, mask):
        """``scaled_dot_product_attention`` with the same masking rules as the weights path."""
        keep = None
        if valid_lens is not None:
            keep = valid_lens_mask(valid_lens.to(Q.device), Q.shape[-2], K.shape[-2])[:, None]
        if mask is not None:
            mask = mask.to(Q.device)
            keep = mask if keep is None else keep & mask
        dropout_p = self.dropout_p if self.training else 0.0
        gqa = self.group_size > 1  # query head i reads K/V head i // group_size
        if keep is None:
            return F.scaled_dot_product_attention(Q, K, V, dropout_p=dropout_p, enable_gqa=gqa)
        any_kept = keep.any(dim=-1, keepdim=True)
        # A query with no key to attend to would give NaN; let it see every key, then
        # zero its output, which is what the weights path returns for it.
        safe_keep = keep | ~any_kept
        out = F.scaled_dot_product_attention(
            Q, K, V, attn_mask=safe_keep, dropout_p=dropout_p, enable_gqa=gqa
        )
        return out.masked_fill(~any_kept, 0.0)
