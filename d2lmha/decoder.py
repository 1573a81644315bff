"""A post-LayerNorm transformer decoder: causal self-attention, cross-attention, FFN.

The decoder block reuses the encoder's pieces (:class:`~d2lmha.AddNorm`,
:class:`~d2lmha.PositionWiseFFN`) and :class:`~d2lmha.MultiHeadAttention` twice:

* ``self_attention``: queries, keys and values are the decoder's own positions, with a
  causal mask (position t sees positions 0..t only);
* ``cross_attention``: queries come from the decoder, keys and values from the encoder's
  outputs, with the source padding masked by ``enc_valid_lens``.

Source: Vaswani et al. (2017) section 3.1 ("Decoder") and 3.2.3; d2l.ai section 11.7.5
(``TransformerDecoderBlock``, ``TransformerDecoder``). Unlike d2l's training-time block,
the causal mask is built in, so the block cannot peek ahead whatever the mode.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_positive_int, check_tensor, check_valid_lens
from .encoder import AddNorm, PositionWiseFFN
from .kv_cache import KVCache
from .masking import causal_mask
from .multihead import MultiHeadAttention
from .positional import PositionalEncoding

__all__ = ["TransformerDecoderBlock", "TransformerDecoder", "to_torch_decoder_layer"]


def _check_memory(
    enc_outputs, enc_valid_lens, batch: int, target_len: int, num_hiddens: int
) -> None:
    """Check the encoder side of a decoder call against the decoder's batch and width."""
    check_tensor("enc_outputs", enc_outputs, ndim_min=3)
    if enc_outputs.dim() != 3 or enc_outputs.shape[-1] != num_hiddens:
        raise ValueError(
            f"enc_outputs must be [batch, source_len, {num_hiddens}] "
            f"(num_hiddens={num_hiddens}), got shape {list(enc_outputs.shape)}"
        )
    if enc_outputs.shape[0] != batch:
        raise ValueError(
            f"enc_outputs holds {enc_outputs.shape[0]} sequences but the "
            f"decoder's input holds {batch}; expected the same batch"
        )
    if enc_valid_lens is not None:
        check_valid_lens(enc_valid_lens, batch, target_len, enc_outputs.shape[1])


def _check_decoder_inputs(X, enc_outputs, enc_valid_lens, num_hiddens: int) -> None:
    """Shapes of a decoder block call, checked before any work (see the block's docstring)."""
    check_tensor("X", X, ndim_min=3)
    if X.dim() != 3 or X.shape[-1] != num_hiddens:
        raise ValueError(
            f"X must be [batch, target_len, {num_hiddens}] (num_hiddens="
            f"{num_hiddens}), got shape {list(X.shape)}"
        )
    _check_memory(enc_outputs, enc_valid_lens, X.shape[0], X.shape[1], num_hiddens)


class TransformerDecoderBlock(nn.Module):
    """Causal self-attention, cross-attention and a position-wise FFN, each in ``AddNorm``.

    ``Y = AddNorm(X, SelfAttn(X, causal))``; ``Z = AddNorm(Y, CrossAttn(Y, enc, enc,
    enc_valid_lens))``; ``out = AddNorm(Z, FFN(Z))`` (post-LN, as in the paper and in
    ``torch.nn.TransformerDecoderLayer(norm_first=False)``).

    Args:
        num_hiddens: d_model. ffn_num_hiddens: FFN inner width. num_heads: h (divides
            ``num_hiddens``).
        dropout: on attention weights and on each sub-layer's output (training only).
        use_bias: biases in the attention projections (needed by
            :func:`to_torch_decoder_layer`).
        norm_eps: LayerNorm epsilon. activation: FFN activation (``"relu"``/``"gelu"``).
        num_kv_heads: K/V heads of both attentions (default ``num_heads``; fewer gives
            grouped-query or, with 1, multi-query attention; see
            :class:`~d2lmha.MultiHeadAttention`).

    Attributes:
        self_attention, cross_attention: :class:`~d2lmha.MultiHeadAttention`. After a
            forward, ``self_attention.attention_weights`` is ``[batch, heads, target_len,
            target_len]`` (zero above the diagonal) and ``cross_attention.attention_weights``
            is ``[batch, heads, target_len, source_len]``, exactly 0 on padded source
            positions.
        addnorm1, addnorm2, addnorm3: :class:`~d2lmha.AddNorm`. ffn:
            :class:`~d2lmha.PositionWiseFFN`.

    Forward ``(X, enc_outputs, enc_valid_lens=None, cache=None, need_weights=True)``:
        X: float ``[batch, target_len, num_hiddens]``, the decoder's input (embedded
        targets shifted right during training: teacher forcing; while generating with a
        cache, only the new tokens).
        enc_outputs: float ``[batch, source_len, num_hiddens]``.
        enc_valid_lens: optional integer ``[batch]`` (real source tokens per sequence) or
        ``[batch, target_len]``; source positions at or after it are masked.
        cache: optional :class:`~d2lmha.KVCache`, one per block, empty before the first
        step: the self-attention's keys and values accumulate in it, and the
        cross-attention's projection of ``enc_outputs`` is computed on the first call and
        kept in ``cache.source`` (the source does not change while generating). Feeding a
        sequence one token at a time gives the outputs of one full pass.
        need_weights: False takes the fused ``scaled_dot_product_attention`` path in both
        attentions (faster; ``attention_weights`` are then ``None``).
        Returns ``[batch, target_len, num_hiddens]``, X's dtype. Output position t depends
        on ``X[:, :t+1]`` only.

    Raises:
        TypeError / ValueError before any work: bad sizes at construction (e.g.
        ``num_hiddens`` not divisible by ``num_heads``, unknown ``activation``); in forward,
        ``X`` or ``enc_outputs`` not floating ``[batch, n, num_hiddens]``, different
        batch sizes, bad ``enc_valid_lens``.

    Source: Vaswani et al. (2017) section 3.1; d2l.ai section 11.7.5.
    """

    def __init__(
        self,
        num_hiddens: int,
        ffn_num_hiddens: int,
        num_heads: int,
        dropout: float = 0.0,
        use_bias: bool = False,
        norm_eps: float = 1e-5,
        activation: str = "relu",
        num_kv_heads: int | None = None,
    ):
        super().__init__()
        check_positive_int("ffn_num_hiddens", ffn_num_hiddens)
        self.num_hiddens, self.num_heads, self.use_bias = num_hiddens, num_heads, use_bias
        self.self_attention = MultiHeadAttention(
            num_hiddens, num_heads, dropout, use_bias, num_kv_heads=num_kv_heads
        )
        self.addnorm1 = AddNorm(num_hiddens, dropout, norm_eps)
        self.cross_attention = MultiHeadAttention(
            num_hiddens, num_heads, dropout, use_bias, num_kv_heads=num_kv_heads
        )
        self.addnorm2 = AddNorm(num_hiddens, dropout, norm_eps)
        self.ffn = PositionWiseFFN(num_hiddens, ffn_num_hiddens, activation)
        self.addnorm3 = AddNorm(num_hiddens, dropout, norm_eps)

    def forward(self, X, enc_outputs, enc_valid_lens=None, cache=None, need_weights=True):
        _check_decoder_inputs(X, enc_outputs, enc_valid_lens, self.num_hiddens)
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a d2lmha.KVCache, got {type(cache).__name__}")
        if cache is None:
            mask = causal_mask(X.shape[1], device=X.device)  # [target, target]
            attended = self.self_attention(X, X, X, mask=mask, need_weights=need_weights)
            source = None
        else:  # causal over the cached tokens and the new ones
            # The source is recognised by its memory, layout and version counter (which
            # every in-place change bumps, views included), so a changed source is refused.
            key = (enc_outputs.data_ptr(), tuple(enc_outputs.shape), enc_outputs.stride())
            version = _version(enc_outputs)
            if cache.source is not None and cache.source_key != (*key, version):
                changed = cache.source_key[:3] == key
                raise ValueError(
                    "enc_outputs was changed in place since this cache stored its "
                    "cross-attention keys and values; use a new KVCache"
                    if changed
                    else "this cache holds the cross-attention keys and values of "
                    "another enc_outputs; use a new KVCache for a new source"
                )
            attended = self.self_attention(X, X, X, cache=cache, need_weights=need_weights)
            if cache.source is None:
                cache.source = self.cross_attention.project_kv(enc_outputs, enc_outputs)
                cache.source_key = (*key, version)
            source = cache.source
        Y = self.addnorm1(X, attended)
        attended = self.cross_attention(
            Y,
            enc_outputs,
            enc_outputs,
            enc_valid_lens,
            need_weights=need_weights,
            projected_kv=source,
        )
        Z = self.addnorm2(Y, attended)
        return self.addnorm3(Z, self.ffn(Z))


def _version(tensor: torch.Tensor) -> int | None:
    """The tensor's in-place version counter; ``None`` for an inference-mode tensor, which has
    none (and cannot be changed in place outside inference mode)."""
    try:
        return tensor._version
    except RuntimeError:
        return None


class TransformerDecoder(nn.Module):
    """Token embedding + sinusoidal positions, decoder blocks, then a linear layer.

    Unlike d2l 11.7.5 the embedding is not multiplied by √d: with ``nn.Embedding``'s
    N(0, 1) initialisation that makes the tokens √d times larger than the positions
    (values in [-1, 1]), and a small decoder then learns to find its place from the
    previous token rather than from its position (it skips repeated digits). The paper
    scales because its embeddings are shared with the output layer's small weights.

    Args:
        vocab_size: number of target token ids. num_hiddens: d_model.
        ffn_num_hiddens: FFN width. num_heads: h. num_blks: number of blocks.
        dropout: dropout everywhere (0 at eval). max_len: longest target accepted.
        use_bias, norm_eps, activation, num_kv_heads: as in
            :class:`TransformerDecoderBlock`.

    Forward ``(tgt_ids, enc_outputs, enc_valid_lens=None, caches=None, need_weights=True)``:
        tgt_ids: int64 ``[batch, target_len]`` (teacher forcing: the targets shifted
        right, starting with a begin-of-sequence id; with ``caches``, only the new
        tokens). enc_outputs, enc_valid_lens: as in :class:`TransformerDecoderBlock`.
        caches: optional list of one :class:`~d2lmha.KVCache` per block (see
        :meth:`new_caches`); the new tokens' positions start at ``caches[0].cached_len``.
        need_weights: False takes the fused attention path (no ``cross_attentions``).
        Returns logits ``[batch, target_len, vocab_size]``.

    Attributes:
        blks: the :class:`TransformerDecoderBlock` list.
        cross_attentions: after a forward, one ``[batch, heads, target_len, source_len]``
            tensor per block (a property reading ``blk.cross_attention.attention_weights``).

    Raises:
        TypeError: ``tgt_ids`` not an integer tensor; ``caches`` not KVCaches.
        RuntimeError: ``caches`` while the decoder is in training mode (call ``.eval()``).
        ValueError: ``tgt_ids`` not 2-D or past ``max_len``; ``caches`` not one per block
        or of different lengths; bad sizes as in :class:`TransformerDecoderBlock`.

    Source: d2l.ai section 11.7.5 (``TransformerDecoder``); Vaswani et al. (2017) 3.4.
    """

    def __init__(
        self,
        vocab_size: int,
        num_hiddens: int,
        ffn_num_hiddens: int,
        num_heads: int,
        num_blks: int,
        dropout: float = 0.0,
        max_len: int = 64,
        use_bias: bool = True,
        norm_eps: float = 1e-5,
        activation: str = "relu",
        num_kv_heads: int | None = None,
    ):
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("num_blks", num_blks)
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout, max_len)
        self.blks = nn.ModuleList(
            TransformerDecoderBlock(
                num_hiddens,
                ffn_num_hiddens,
                num_heads,
                dropout,
                use_bias,
                norm_eps,
                activation,
                num_kv_heads,
            )
            for _ in range(num_blks)
        )
        self.dense = nn.Linear(num_hiddens, vocab_size)

    @property
    def cross_attentions(self) -> tuple:
        return tuple(blk.cross_attention.attention_weights for blk in self.blks)

    def new_caches(self) -> list[KVCache]:
        """One empty :class:`~d2lmha.KVCache` per block, for a generation from scratch."""
        return [KVCache() for _ in self.blks]

    def forward(self, tgt_ids, enc_outputs, enc_valid_lens=None, caches=None, need_weights=True):
        if (
            not isinstance(tgt_ids, torch.Tensor)
            or tgt_ids.is_floating_point()
            or tgt_ids.dtype == torch.bool
        ):
            raise TypeError("tgt_ids must be an integer torch.Tensor [batch, target_len]")
        if tgt_ids.dim() != 2:
            raise ValueError(
                f"tgt_ids must be [batch, target_len], got shape {list(tgt_ids.shape)}"
            )
        offset = self._check_caches(caches)
        if offset + tgt_ids.shape[1] > self.pos_encoding.max_len:
            raise ValueError(
                f"tgt_ids has {tgt_ids.shape[1]} tokens after {offset} cached "
                f"ones but max_len={self.pos_encoding.max_len}"
            )
        _check_memory(
            enc_outputs, enc_valid_lens, tgt_ids.shape[0], tgt_ids.shape[1], self.num_hiddens
        )
        X = self.pos_encoding(self.embedding(tgt_ids), offset)
        for i, blk in enumerate(self.blks):
            X = blk(
                X, enc_outputs, enc_valid_lens, None if caches is None else caches[i], need_weights
            )
        return self.dense(X)

    def _check_caches(self, caches) -> int:
        """Check ``caches`` (one KVCache per block, equal lengths); return that length."""
        if caches is None:
            return 0
        if (
            not isinstance(caches, (list, tuple))
            or len(caches) != len(self.blks)
            or any(not isinstance(c, KVCache) for c in caches)
        ):
            raise TypeError(
                f"caches must be a list of {len(self.blks)} d2lmha.KVCache "
                f"(one per block; see new_caches())"
            )
        if len({id(c) for c in caches}) != len(caches):
            raise ValueError(
                "caches must be distinct KVCache objects, one per block: a cache shared by "
                "two blocks would mix their keys and values (see new_caches())"
            )
        lengths = {c.cached_len for c in caches}
        if len(lengths) != 1:
            raise ValueError(
                f"caches hold different numbers of tokens {sorted(lengths)}; "
                f"they must come from the same generation"
            )
        return lengths.pop()


def to_torch_decoder_layer(block: TransformerDecoderBlock) -> nn.TransformerDecoderLayer:
    """A ``torch.nn.TransformerDecoderLayer(batch_first=True)`` holding ``block``'s weights.

    The attention layers are copied with :func:`~d2lmha.to_torch_multihead`; the FFN's
    ``dense1``/``dense2`` become ``linear1``/``linear2`` and ``addnorm1..3`` become
    ``norm1..3``. Call the copy with ``tgt_mask=~d2lmha.causal_mask(target_len)`` (or
    ``tgt_is_causal=True`` with that mask) and ``memory_key_padding_mask =
    ~d2lmha.valid_lens_mask(enc_valid_lens, 1, source_len)[:, 0]`` (PyTorch's True means
    *may not* attend). Outputs agree in eval mode; in training mode PyTorch also applies
    dropout inside the FFN, which the block does not.

    Args:
        block: a :class:`TransformerDecoderBlock` built with ``use_bias=True``.

    Returns:
        A new layer (post-LN, ``norm_first=False``) on ``block``'s device, dtype and
        training mode; later changes to ``block`` do not reach it.

    Raises:
        TypeError: ``block`` is not a :class:`TransformerDecoderBlock`.
        ValueError: ``block`` was built with ``use_bias=False``: PyTorch's ``bias`` switch
            covers the attention, the FFN and the LayerNorms together, and the block's FFN
            and LayerNorms always have biases, so no PyTorch layer holds those weights.

    Source: PyTorch documentation of ``torch.nn.TransformerDecoderLayer``.
    """
    from .multihead_variants import to_torch_multihead

    if not isinstance(block, TransformerDecoderBlock):
        raise TypeError(
            f"block must be a d2lmha.TransformerDecoderBlock, got {type(block).__name__}"
        )
    if not block.use_bias:
        raise ValueError(
            "block was built with use_bias=False; to_torch_decoder_layer needs "
            "use_bias=True (torch.nn.TransformerDecoderLayer has biases in its "
            "attention whenever its FFN and LayerNorms have them)"
        )
    weight = block.ffn.dense1.weight
    activation = "gelu" if isinstance(block.ffn.activation, nn.GELU) else "relu"
    ref = nn.TransformerDecoderLayer(
        block.num_hiddens,
        block.num_heads,
        dim_feedforward=block.ffn.dense1.out_features,
        dropout=block.addnorm1.dropout.p,
        activation=activation,
        layer_norm_eps=block.addnorm1.ln.eps,
        batch_first=True,
        norm_first=False,
        bias=True,
        device=weight.device,
        dtype=weight.dtype,
    )
    ref.self_attn = to_torch_multihead(block.self_attention)
    ref.multihead_attn = to_torch_multihead(block.cross_attention)
    ref.linear1.load_state_dict(block.ffn.dense1.state_dict())
    ref.linear2.load_state_dict(block.ffn.dense2.state_dict())
    for i, addnorm in enumerate((block.addnorm1, block.addnorm2, block.addnorm3), 1):
        getattr(ref, f"norm{i}").load_state_dict(addnorm.ln.state_dict())
    return ref.train(block.training)
