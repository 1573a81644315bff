"""Other ways to compute the same multi-head attention, and a bridge to PyTorch's layer.

Chapter 02 builds four implementations of one layer and proves them equal. The
batched one is :class:`~d2lmha.MultiHeadAttention` itself (``need_weights=True``) and
the fused one is its ``need_weights=False`` path; this module keeps the other two,
a loop over heads and an einsum formulation, so that the benchmarks and the chapter's
speed table time the same code the chapter built. Each reads the weights of an existing
:class:`~d2lmha.MultiHeadAttention`, so every version is compared on the same weights.

Source: Vaswani et al. (2017) section 3.2.2 (``head_i = Attention(Q W_i^Q, K W_i^K,
V W_i^V)``, ``MultiHead = Concat(head_1, ..., head_h) W^O``); d2l.ai section 11.5.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .attention import DotProductAttention
from .masking import masked_softmax
from .multihead import MultiHeadAttention, repeat_kv

__all__ = ["multihead_loop", "multihead_einsum", "to_torch_multihead"]


def _check_layer(layer, queries, keys, values, valid_lens, mask) -> None:
    """Refuse anything but a d2lmha layer in a deterministic mode, then check the inputs."""
    if not isinstance(layer, MultiHeadAttention):
        raise TypeError(f"layer must be a d2lmha.MultiHeadAttention, got {type(layer).__name__}")
    if layer.training and layer.dropout_p > 0:
        raise ValueError(
            f"layer has dropout={layer.dropout_p} and is in training mode; these versions "
            "apply no dropout, so call layer.eval() (or use dropout=0) to compare them"
        )
    layer._check_inputs(queries, keys, values, valid_lens, mask, None)


def multihead_loop(
    layer: MultiHeadAttention,
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    valid_lens: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
):
    """Multi-head attention as ``h`` single heads run one after another, then ``W_o``.

    Head ``i`` uses rows ``i·d_k .. (i+1)·d_k - 1`` of ``layer.W_q``, ``W_k``, ``W_v``
    (its own ``W_i^Q``, ``W_i^K``, ``W_i^V``, each ``[d_k, d_model]``; with fewer K/V
    heads, the ``W_k``, ``W_v`` rows of K/V head ``i // layer.group_size``), runs a
    :class:`~d2lmha.DotProductAttention`, and the ``h`` results are concatenated along
    the feature axis before ``layer.W_o``.

    Args:
        layer: the :class:`~d2lmha.MultiHeadAttention` whose weights are used (its
            ``forward`` is not called). No dropout is applied.
        queries, keys, values: ``[batch, queries|keys, width]`` floating tensors, as for
            ``layer``.
        valid_lens: optional integer ``[batch]`` or ``[batch, queries]``: the same
            padding for every head.
        mask: optional ``torch.bool`` mask broadcastable to
            ``[batch, heads, queries, keys]`` (True = may attend).

    Returns:
        ``(output, weights)``: ``[batch, queries, num_hiddens]`` and
        ``[batch, heads, queries, keys]``, equal to ``layer(...)`` and
        ``layer.attention_weights`` up to float rounding.

    Raises:
        TypeError: ``layer`` is not a ``MultiHeadAttention``; inputs of the wrong type.
        ValueError: ``layer`` is training with dropout > 0; input shapes, ``valid_lens``
            or ``mask`` the layer would refuse.

    Source: Vaswani et al. (2017) section 3.2.2.
    """
    _check_layer(layer, queries, keys, values, valid_lens, mask)
    d_k, num_heads = layer.head_size, layer.num_heads
    if mask is not None:
        mask = mask.to(queries.device).expand(
            queries.shape[0], num_heads, queries.shape[1], keys.shape[1]
        )
    attention = DotProductAttention()
    heads, weights = [], []
    for i in range(num_heads):
        rows = slice(i * d_k, (i + 1) * d_k)
        j = i // layer.group_size  # the K/V head that query head i reads
        kv_rows = slice(j * d_k, (j + 1) * d_k)
        Q_i = _rows(layer.W_q, rows)(queries)
        K_i, V_i = _rows(layer.W_k, kv_rows)(keys), _rows(layer.W_v, kv_rows)(values)
        heads.append(
            attention(Q_i, K_i, V_i, valid_lens, mask=None if mask is None else mask[:, i])
        )
        weights.append(attention.attention_weights)
    return layer.W_o(torch.cat(heads, dim=-1)), torch.stack(weights, dim=1)


def _rows(linear: nn.Linear, rows: slice):
    """The projection of one head: ``X -> X W_i^T (+ b_i)`` with rows ``rows`` of ``linear``."""
    bias = None if linear.bias is None else linear.bias[rows]
    return lambda X: F.linear(X, linear.weight[rows], bias)


def multihead_einsum(
    layer: MultiHeadAttention,
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    valid_lens: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
):
    """Multi-head attention written with ``torch.einsum``, one index per axis.

    The projection weights are viewed as ``h`` matrices ``W_i`` of ``[d_k, d_model]``
    (``[heads, d_k, d_model]``), and ``W_o`` as ``h`` blocks ``W^O_i`` of
    ``[d_model, d_k]``, so the output is ``Σ_i head_i (W^O_i)ᵀ``, which is the same as
    ``Concat(head_1, ..., head_h) W^O``.

    Args, Returns, Raises: as :func:`multihead_loop`.

    Source: Vaswani et al. (2017) section 3.2.2; einsum notation as in
    ``torch.einsum``'s documentation.
    """
    _check_layer(layer, queries, keys, values, valid_lens, mask)
    num_heads, d_k = layer.num_heads, layer.head_size

    def project(linear: nn.Linear, X: torch.Tensor) -> torch.Tensor:
        # [batch, n, m] x [heads, d_k, m] -> [batch, heads, n, d_k]
        heads = linear.out_features // d_k
        out = torch.einsum("bnm,hdm->bhnd", X, linear.weight.unflatten(0, (heads, d_k)))
        return out if linear.bias is None else out + linear.bias.view(heads, 1, d_k)

    # K/V heads repeated for their groups of query heads (a no-op without GQA)
    Q = project(layer.W_q, queries)
    K = repeat_kv(project(layer.W_k, keys), layer.group_size)
    V = repeat_kv(project(layer.W_v, values), layer.group_size)
    scores = torch.einsum("bhqd,bhkd->bhqk", Q, K) / math.sqrt(d_k)
    weights = masked_softmax(scores, valid_lens, mask=mask)
    context = torch.einsum("bhqk,bhkd->bhqd", weights, V)
    W_o = layer.W_o.weight.unflatten(1, (num_heads, d_k))  # [d_model, heads, d_k]
    out = torch.einsum("bhqd,ohd->bqo", context, W_o)
    return (out if layer.W_o.bias is None else out + layer.W_o.bias), weights


def to_torch_multihead(layer: MultiHeadAttention) -> nn.MultiheadAttention:
    """A ``torch.nn.MultiheadAttention`` (``batch_first=True``) with ``layer``'s weights.

    PyTorch stacks ``W_q``, ``W_k``, ``W_v`` into one ``in_proj_weight``
    ``[3·d_model, d_model]`` (separate ``q/k/v_proj_weight`` when the key or value width
    differs) and calls ``W_o`` ``out_proj``. The copy is on ``layer``'s device, dtype and
    training mode, with its dropout. Masks translate as: ``valid_lens`` ->
    ``key_padding_mask = ~d2lmha.valid_lens_mask(valid_lens, 1, keys)[:, 0]``; a keep-mask
    ``m`` -> ``attn_mask = ~m`` (PyTorch's True means *may not* attend).

    Args:
        layer: a :class:`~d2lmha.MultiHeadAttention`.

    Returns:
        A new ``torch.nn.MultiheadAttention``; later changes to ``layer`` do not reach it.

    Raises:
        TypeError: ``layer`` is not a ``MultiHeadAttention``.
        ValueError: ``layer.query_size != layer.num_hiddens`` (PyTorch's layer needs the
            query width to equal ``embed_dim``), or ``layer`` has fewer K/V heads than
            query heads (``torch.nn.MultiheadAttention`` has no grouped-query form).

    Source: PyTorch documentation of ``torch.nn.MultiheadAttention``.
    """
    if not isinstance(layer, MultiHeadAttention):
        raise TypeError(f"layer must be a d2lmha.MultiHeadAttention, got {type(layer).__name__}")
    if layer.query_size != layer.num_hiddens:
        raise ValueError(
            f"layer.query_size={layer.query_size} must equal num_hiddens={layer.num_hiddens} "
            "for torch.nn.MultiheadAttention (its queries are embed_dim wide)"
        )
    if layer.group_size > 1:
        raise ValueError(
            f"layer has num_kv_heads={layer.num_kv_heads} < num_heads={layer.num_heads}; "
            "torch.nn.MultiheadAttention has one K/V head per query head (compare with "
            "scaled_dot_product_attention(..., enable_gqa=True) instead)"
        )
    weight = layer.W_q.weight
    bias = layer.W_q.bias is not None
    ref = nn.MultiheadAttention(
        layer.num_hiddens,
        layer.num_heads,
        dropout=layer.dropout_p,
        bias=bias,
        batch_first=True,
        kdim=layer.key_size,
        vdim=layer.value_size,
        device=weight.device,
        dtype=weight.dtype,
    )
    projections = (layer.W_q, layer.W_k, layer.W_v)
    with torch.no_grad():
        if ref._qkv_same_embed_dim:
            ref.in_proj_weight.copy_(torch.cat([W.weight for W in projections]))
        else:
            for name, W in zip(
                ("q_proj_weight", "k_proj_weight", "v_proj_weight"), projections, strict=True
            ):
                getattr(ref, name).copy_(W.weight)
        ref.out_proj.weight.copy_(layer.W_o.weight)
        if bias:
            ref.in_proj_bias.copy_(torch.cat([W.bias for W in projections]))
            ref.out_proj.bias.copy_(layer.W_o.bias)
    return ref.train(layer.training)
