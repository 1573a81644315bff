"""From many K/V heads to fewer: converting a trained layer to grouped-query attention.

Ainslie et al. (2023) convert a multi-head checkpoint to grouped-query attention (GQA) by
mean-pooling the key and value projections of the heads in each group, then train briefly
("uptraining"). The queries and ``W_o`` are kept, so query head ``i`` reads the averaged
K/V head ``i // group_size``. With one group this is multi-query attention (Shazeer, 2019).

Source: Ainslie et al. (2023), "GQA: Training Generalized Multi-Query Transformer Models
from Multi-Head Checkpoints", section 2.1 (mean-pooling conversion).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .multihead import MultiHeadAttention, check_kv_heads

__all__ = ["mean_pool_kv_heads", "convert_to_gqa"]


def _copy(model: nn.Module) -> nn.Module:
    """A deep copy without the attention weights a forward kept (not graph leaves)."""
    memo = {
        id(v): None
        for m in model.modules()
        for v in vars(m).values()
        if isinstance(v, torch.Tensor) and not v.is_leaf
    }
    return copy.deepcopy(model, memo)


def _pooled(linear: nn.Linear, num_kv_heads: int, group: int, d_k: int) -> nn.Linear:
    """``linear``'s rows, grouped as ``[kv_heads, group, d_k]`` and averaged over the group."""
    out = nn.Linear(
        linear.in_features,
        num_kv_heads * d_k,
        bias=linear.bias is not None,
        device=linear.weight.device,
        dtype=linear.weight.dtype,
    )
    with torch.no_grad():
        w = linear.weight.unflatten(0, (num_kv_heads, group, d_k)).mean(1).flatten(0, 1)
        out.weight.copy_(w)
        if linear.bias is not None:
            out.bias.copy_(linear.bias.unflatten(0, (num_kv_heads, group, d_k)).mean(1).flatten())
    return out


def mean_pool_kv_heads(layer: MultiHeadAttention, num_kv_heads: int) -> MultiHeadAttention:
    """A new layer with ``num_kv_heads`` K/V heads, each the mean of a group of ``layer``'s.

    Args:
        layer: a :class:`~d2lmha.MultiHeadAttention` with one K/V head per query head.
        num_kv_heads: K/V heads to keep; must divide ``layer.num_heads``. Heads
            ``g·j .. g·(j+1) - 1`` (``g = num_heads // num_kv_heads``) are averaged into
            K/V head ``j``, which query heads ``g·j .. g·(j+1) - 1`` then read.

    Returns:
        A new :class:`~d2lmha.MultiHeadAttention` (same ``W_q``, ``W_o``, dropout, sizes,
        device, dtype and train/eval mode); ``layer`` is not changed. With
        ``num_kv_heads == num_heads`` its outputs equal ``layer``'s.

    Raises:
        TypeError: ``layer`` is not a ``MultiHeadAttention``; ``num_kv_heads`` not an int.
        ValueError: ``num_kv_heads`` does not divide ``num_heads``; ``layer`` already
            shares K/V heads.

    Source: Ainslie et al. (2023) section 2.1.
    """
    if not isinstance(layer, MultiHeadAttention) or type(layer) is not MultiHeadAttention:
        raise TypeError(f"layer must be a d2lmha.MultiHeadAttention, got {type(layer).__name__}")
    group = check_kv_heads(layer.num_heads, num_kv_heads)
    if layer.group_size > 1:
        raise ValueError(
            f"layer already has num_kv_heads={layer.num_kv_heads}; convert a "
            f"layer with one K/V head per query head"
        )
    new = _copy(layer)
    new.group_size = group
    new.W_k = _pooled(layer.W_k, num_kv_heads, group, layer.head_size)
    new.W_v = _pooled(layer.W_v, num_kv_heads, group, layer.head_size)
    return new


def convert_to_gqa(model: nn.Module, num_kv_heads: int) -> nn.Module:
    """A copy of ``model`` whose every :class:`~d2lmha.MultiHeadAttention` is mean-pooled.

    Args:
        model: any module holding ``MultiHeadAttention`` layers (e.g. a
            :class:`~d2lmha.BERTEncoder` from :func:`~d2lmha.load_minilm`, or a
            :class:`~d2lmha.TransformerDecoder`); it is not changed.
        num_kv_heads: K/V heads per layer, dividing every layer's ``num_heads``.

    Returns:
        The converted deep copy (see :func:`mean_pool_kv_heads`).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``. ValueError: it holds no
        ``MultiHeadAttention``; ``num_kv_heads`` does not divide a layer's head count.

    Source: Ainslie et al. (2023) section 2.1.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    names = [name for name, m in model.named_modules() if isinstance(m, MultiHeadAttention)]
    if not names:
        raise ValueError("model holds no d2lmha.MultiHeadAttention to convert")
    for name in names:  # every check before any copy
        check_kv_heads(model.get_submodule(name).num_heads, num_kv_heads)
    new = _copy(model)
    for name in names:
        parent, _, attr = name.rpartition(".")
        holder = new.get_submodule(parent) if parent else new
        setattr(holder, attr, mean_pool_kv_heads(getattr(holder, attr), num_kv_heads))
    return new
