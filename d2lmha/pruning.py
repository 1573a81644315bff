"""Removing heads for real: slice ``W_q``, ``W_k``, ``W_v`` (rows) and ``W_o`` (columns).

Head i of a :class:`~d2lmha.MultiHeadAttention` owns rows ``i·d_k .. (i+1)·d_k - 1`` of
``W_q``, ``W_k`` and ``W_v`` (and of their biases) and the same columns of ``W_o``. Keeping
only the kept heads' slices gives a smaller layer whose output is *exactly* the output
of the full layer with the removed heads' gates ξ set to 0: a gate of 0 zeroes the
head's columns in the concatenation, which then meet only the removed columns of
``W_o``. The bias of ``W_o`` is not per head and stays.

A layer may lose all its heads. It then still works: its output is the bias of ``W_o``
(zeros without bias) at every position, which is what the fully masked layer gives; in
a transformer block the residual connection carries the input past it.

Source: Michel, Levy & Neubig (2019) section 5 (pruning heads and the speed it buys);
Vaswani et al. (2017) section 3.2.2 (``Concat(head_1..head_h) W^O``); the layout of
heads in the projections is d2l.ai section 11.5 (``transpose_qkv``).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from .encoder import BERTEncoder
from .multihead import MultiHeadAttention

__all__ = [
    "PrunedMultiHeadAttention",
    "prune_heads",
    "prune_encoder",
    "heads_from_mask",
    "count_heads",
]


def _sliced_linear(layer: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new ``nn.Linear`` keeping ``index`` of the weight's ``dim`` (0 = outputs, 1 = inputs)."""
    weight = layer.weight.index_select(dim, index)
    bias = None if layer.bias is None else (layer.bias if dim == 1 else layer.bias[index])
    with warnings.catch_warnings():  # a layer left with 0 heads has 0-element weights
        warnings.filterwarnings("ignore", "Initializing zero-element tensors")
        new = nn.utils.skip_init(
            nn.Linear,
            weight.shape[1],
            weight.shape[0],
            bias=bias is not None,
            device=weight.device,
            dtype=weight.dtype,
        )
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    new.weight.requires_grad_(layer.weight.requires_grad)
    return new


def _check_heads_to_remove(heads_to_remove, num_heads: int) -> list[int]:
    if isinstance(heads_to_remove, torch.Tensor):
        if (
            heads_to_remove.is_floating_point()
            or heads_to_remove.dtype == torch.bool
            or heads_to_remove.dim() > 1
        ):
            raise TypeError(
                "heads_to_remove must be a 1-D integer tensor or an iterable of "
                f"ints, got a {heads_to_remove.dtype} tensor of shape "
                f"{list(heads_to_remove.shape)}"
            )
        heads_to_remove = heads_to_remove.tolist()
    if not isinstance(heads_to_remove, Iterable) or isinstance(heads_to_remove, (str, bytes)):
        raise TypeError(
            f"heads_to_remove must be an iterable of head indices, got "
            f"{type(heads_to_remove).__name__}"
        )
    heads = list(heads_to_remove)
    for h in heads:
        if isinstance(h, bool) or not isinstance(h, int):
            raise TypeError(f"heads_to_remove must hold ints, got {h!r}")
        if not 0 <= h < num_heads:
            raise ValueError(
                f"heads_to_remove holds head {h}; this layer has heads 0..{num_heads - 1}"
            )
    if len(set(heads)) != len(heads):
        raise ValueError(f"heads_to_remove lists a head more than once: {sorted(heads)}")
    return heads


class PrunedMultiHeadAttention(MultiHeadAttention):
    """A :class:`~d2lmha.MultiHeadAttention` holding only some of its heads.

    Made by :func:`prune_heads`; not built directly. The projections are narrower:
    ``W_q``, ``W_k``, ``W_v``: ``[in] -> [num_heads·d_k]``, ``W_o``: ``[num_heads·d_k] ->
    [num_hiddens]``; ``d_k`` (``head_size``) and the output width ``num_hiddens`` are
    unchanged, so the layer drops into the same block.

    Attributes:
        num_heads: heads left (may be 0). head_size: d_k of the original layer.
        kept_heads: tuple, the original index of each head left (for a layer pruned
            twice, indices in the very first layer).

    Forward: as :class:`~d2lmha.MultiHeadAttention`; ``head_mask`` must be ``[num_heads]``
    or ``[batch, num_heads]`` with the *new* head count. With 0 heads the output is the
    bias of ``W_o`` (zeros without bias) broadcast to ``[batch, queries, num_hiddens]``,
    and ``attention_weights`` is ``[batch, 0, queries, keys]`` (or ``None`` with
    ``need_weights=False``).

    Source: Michel et al. (2019) section 5.
    """

    def __init__(self, source: MultiHeadAttention, keep: list[int]):
        with torch.device("meta"):  # placeholders, replaced below; draws no random numbers
            super().__init__(
                source.num_hiddens,
                source.num_hiddens // source.head_size,
                source.dropout_p,
                bias=source.W_q.bias is not None,
                query_size=source.query_size,
                key_size=source.key_size,
                value_size=source.value_size,
            )
        d_k = source.head_size
        device = source.W_q.weight.device
        heads = torch.tensor(keep, dtype=torch.long, device=device)
        rows = (heads[:, None] * d_k + torch.arange(d_k, device=device)).flatten()
        self.W_q = _sliced_linear(source.W_q, rows, dim=0)
        self.W_k = _sliced_linear(source.W_k, rows, dim=0)
        self.W_v = _sliced_linear(source.W_v, rows, dim=0)
        self.W_o = _sliced_linear(source.W_o, rows, dim=1)
        self.num_heads = len(keep)
        original = getattr(source, "kept_heads", tuple(range(source.num_heads)))
        self.kept_heads = tuple(original[i] for i in keep)
        self.train(source.training)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", kept_heads={self.kept_heads}"

    def forward(
        self, queries, keys, values, valid_lens=None, need_weights=True, mask=None, head_mask=None
    ):
        if self.num_heads:
            return super().forward(queries, keys, values, valid_lens, need_weights, mask, head_mask)
        self._check_inputs(queries, keys, values, valid_lens, mask, head_mask)
        batch, num_q, num_k = queries.shape[0], queries.shape[1], keys.shape[1]
        self.attention_weights = queries.new_zeros(batch, 0, num_q, num_k) if need_weights else None
        # No head left: the concatenation is empty, and W_o maps it to its bias.
        return self.W_o(queries.new_zeros(batch, num_q, 0))


def prune_heads(mha: MultiHeadAttention, heads_to_remove) -> PrunedMultiHeadAttention:
    """A new, smaller layer without the heads ``heads_to_remove``; ``mha`` is not changed.

    Its output equals ``mha``'s output with ``head_mask`` 0 on the removed heads and 1
    elsewhere (same dtype and device; tested to float64 precision). The parameter
    count drops by ``4·d·d_k`` weights (+ ``3·d_k`` biases) per removed head, with
    ``d = num_hiddens`` when the input widths equal it.

    Args:
        mha: a :class:`~d2lmha.MultiHeadAttention` (or an already pruned one).
        heads_to_remove: distinct head indices in ``0..mha.num_heads-1`` (an iterable of
            ints or a 1-D integer tensor); may be empty or all of them.

    Returns:
        :class:`PrunedMultiHeadAttention` with ``mha.num_heads - len(heads_to_remove)``
        heads, on ``mha``'s device, in ``mha``'s train/eval mode.

    Raises:
        TypeError: ``mha`` is not a ``MultiHeadAttention``; an index is not an int.
        ValueError: an index out of range or repeated; ``mha`` shares K/V heads
            (``num_kv_heads < num_heads``), where removing a query head would not remove
            its K/V head.

    Source: Michel et al. (2019) section 5.
    """
    if not isinstance(mha, MultiHeadAttention):
        raise TypeError(f"mha must be a d2lmha.MultiHeadAttention, got {type(mha).__name__}")
    if mha.group_size > 1:
        raise ValueError(
            f"mha has num_kv_heads={mha.num_kv_heads} < num_heads="
            f"{mha.num_heads}; prune_heads removes heads of multi-head "
            f"attention with one K/V head per query head only"
        )
    remove = set(_check_heads_to_remove(heads_to_remove, mha.num_heads))
    return PrunedMultiHeadAttention(mha, [h for h in range(mha.num_heads) if h not in remove])


def prune_encoder(model: BERTEncoder, heads_by_layer: Mapping) -> BERTEncoder:
    """A pruned copy of an encoder: ``heads_by_layer[l]`` removed from block ``l``.

    Args:
        model: a :class:`~d2lmha.BERTEncoder` (e.g. from :func:`~d2lmha.load_minilm`, or
            the ``encoder`` of a chapter-04 model). Not changed.
        heads_by_layer: ``{layer: heads to remove}``; layers not listed are kept whole.
            :func:`heads_from_mask` turns a ``[layers, heads]`` gate into this.

    Returns:
        A deep copy whose attention layers are :class:`PrunedMultiHeadAttention`. Its
        output equals ``model``'s output with the same heads masked. Layers now have
        different head counts, so call it without ``head_mask``.

    Raises:
        TypeError: ``model`` not a ``BERTEncoder``; ``heads_by_layer`` not a mapping.
        ValueError: a layer index outside ``0..num_blks-1``; bad head indices (see
        :func:`prune_heads`).

    Source: Michel et al. (2019) section 5.
    """
    if not isinstance(model, BERTEncoder):
        raise TypeError(f"model must be a d2lmha.BERTEncoder, got {type(model).__name__}")
    if not isinstance(heads_by_layer, Mapping):
        raise TypeError(
            f"heads_by_layer must be a mapping {{layer: heads}}, got "
            f"{type(heads_by_layer).__name__}"
        )
    for layer, heads in heads_by_layer.items():
        if (
            isinstance(layer, bool)
            or not isinstance(layer, int)
            or not 0 <= layer < len(model.blks)
        ):
            raise ValueError(
                f"heads_by_layer has layer {layer!r}; the model has layers 0..{len(model.blks) - 1}"
            )
        _check_heads_to_remove(heads, model.blks[layer].attention.num_heads)
    pruned = copy.deepcopy(model)
    for layer, heads in heads_by_layer.items():
        blk = pruned.blks[layer]
        blk.attention = prune_heads(blk.attention, heads)
    return pruned


def heads_from_mask(head_mask: torch.Tensor) -> dict[int, list[int]]:
    """``{layer: [heads whose gate is 0]}`` from a ``[layers, heads]`` gate (0 = removed).

    Raises:
        TypeError: not a tensor. ValueError: not 2-D.
    """
    if not isinstance(head_mask, torch.Tensor):
        raise TypeError(f"head_mask must be a torch.Tensor, got {type(head_mask).__name__}")
    if head_mask.dim() != 2:
        raise ValueError(f"head_mask must be [layers, heads], got shape {list(head_mask.shape)}")
    return {
        layer: torch.nonzero(row == 0).flatten().tolist() for layer, row in enumerate(head_mask)
    }


def count_heads(model: BERTEncoder) -> list[int]:
    """Heads left in each layer of an encoder (pruned or not).

    Raises:
        TypeError: ``model`` not a ``BERTEncoder``.
    """
    if not isinstance(model, BERTEncoder):
        raise TypeError(f"model must be a d2lmha.BERTEncoder, got {type(model).__name__}")
    return [blk.attention.num_heads for blk in model.blks]
