"""A post-LayerNorm transformer encoder (the BERT layout), built from d2lmha's attention.

The same classes serve the small models trained in the course and the pretrained
all-MiniLM-L6-v2 (see :mod:`d2lmha.minilm`).

Source: Vaswani et al. (2017) section 3.1; d2l.ai section 11.7 "The Transformer
Architecture" (``PositionWiseFFN``, ``AddNorm``, ``TransformerEncoderBlock``) and
section 15.8 (``BERTEncoder``); Devlin et al. (2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._checks import check_positive_int
from .multihead import MultiHeadAttention
from .positional import LearnedPositionalEncoding

__all__ = ["PositionWiseFFN", "AddNorm", "TransformerEncoderBlock", "BERTEncoder", "EncoderOutput"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


class PositionWiseFFN(nn.Module):
    """The same two-layer MLP applied at every position: ``dense2(act(dense1(X)))``.

    Args:
        num_hiddens: input and output width d_model.
        ffn_num_hiddens: inner width (4·d_model in the paper and in BERT).
        activation: ``"relu"`` (the paper, d2l) or ``"gelu"`` (erf GELU, BERT).

    Forward: ``[batch, n, num_hiddens]`` -> ``[batch, n, num_hiddens]``.

    Raises:
        ValueError: unknown ``activation``.

    Source: d2l.ai section 11.7.2; Vaswani et al. (2017) eq. (2).
    """

    def __init__(self, num_hiddens: int, ffn_num_hiddens: int, activation: str = "relu"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation={activation!r}; expected one of {sorted(_ACTIVATIONS)}")
        self.dense1 = nn.Linear(num_hiddens, ffn_num_hiddens)
        self.activation = _ACTIVATIONS[activation]()
        self.dense2 = nn.Linear(ffn_num_hiddens, num_hiddens)

    def forward(self, X):
        return self.dense2(self.activation(self.dense1(X)))


class AddNorm(nn.Module):
    """Residual connection then layer norm: ``LayerNorm(X + dropout(Y))``.

    Args:
        num_hiddens: width normalised over.
        dropout: dropout on ``Y`` (training only).
        eps: LayerNorm epsilon (1e-5 in PyTorch, 1e-12 in BERT).

    Forward: ``X``, ``Y`` of the same shape ``[batch, n, num_hiddens]`` -> same shape.

    Source: d2l.ai section 11.7.2.
    """

    def __init__(self, num_hiddens: int, dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(num_hiddens, eps=eps)

    def forward(self, X, Y):
        return self.ln(X + self.dropout(Y))


class TransformerEncoderBlock(nn.Module):
    """Multi-head self-attention and a position-wise FFN, each wrapped in ``AddNorm``.

    Args:
        num_hiddens: d_model. ffn_num_hiddens: FFN inner width. num_heads: h.
        dropout: on attention weights and on each sub-layer's output.
        use_bias: biases in the attention projections (BERT: True).
        norm_eps: LayerNorm epsilon. activation: FFN activation (``"relu"``/``"gelu"``).

    Forward ``(X, valid_lens=None, mask=None, head_mask=None, need_weights=True)``:
        X ``[batch, n, num_hiddens]``; ``valid_lens``, ``mask`` (True = may attend, e.g.
        a key-padding mask ``[batch, 1, 1, n]``) and ``head_mask`` (``[heads]`` or
        ``[batch, heads]``) as in :class:`~d2lmha.MultiHeadAttention`.
        Returns ``[batch, n, num_hiddens]``; the weights ``[batch, heads, n, n]`` are
        in ``self.attention.attention_weights`` when ``need_weights``.

    Raises:
        ValueError: ``num_hiddens`` not divisible by ``num_heads``, bad inputs.

    Source: d2l.ai section 11.7.4; Vaswani et al. (2017) section 3.1.
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
    ):
        super().__init__()
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(num_hiddens, dropout, norm_eps)
        self.ffn = PositionWiseFFN(num_hiddens, ffn_num_hiddens, activation)
        self.addnorm2 = AddNorm(num_hiddens, dropout, norm_eps)

    def forward(self, X, valid_lens=None, mask=None, head_mask=None, need_weights=True):
        attended = self.attention(
            X, X, X, valid_lens, need_weights=need_weights, mask=mask, head_mask=head_mask
        )
        Y = self.addnorm1(X, attended)
        return self.addnorm2(Y, self.ffn(Y))


@dataclass
class EncoderOutput:
    """What :class:`BERTEncoder` returns.

    Attributes:
        last_hidden_state: ``[batch, tokens, num_hiddens]``.
        attentions: one ``[batch, heads, tokens, tokens]`` tensor per layer, or ``None``
            when run with ``need_weights=False``.
    """

    last_hidden_state: torch.Tensor
    attentions: tuple[torch.Tensor, ...] | None


class BERTEncoder(nn.Module):
    """Token + learned position (+ segment) embeddings, LayerNorm, then encoder blocks.

    Args:
        vocab_size: number of token ids. num_hiddens: d_model. ffn_num_hiddens: FFN width.
        num_heads: h. num_blks: number of blocks (layers).
        dropout: dropout everywhere (0 at eval).
        max_len: number of learned positions. type_vocab_size: number of segment ids
            (0 = no segment embedding).
        use_bias, norm_eps, activation: as in :class:`TransformerEncoderBlock`
            (BERT: True, 1e-12, ``"gelu"``).

    Forward ``(input_ids, attention_mask=None, token_type_ids=None, head_mask=None,
    need_weights=True)``:
        input_ids: ``[batch, tokens]`` int64. attention_mask: ``[batch, tokens]``, 1 (or
        True) for real tokens, 0 for padding. token_type_ids: ``[batch, tokens]`` or
        ``None`` (all 0). head_mask: gate ξ ``[num_blks, heads]`` (float, may require
        grad) multiplying each head's output.
        Returns :class:`EncoderOutput`.

    Raises:
        ValueError: ``input_ids`` not 2-D, longer than ``max_len``, or masks of another
            shape; ``head_mask`` not ``[num_blks, heads]``.
        TypeError: ``input_ids`` not an integer tensor.

    Source: d2l.ai section 15.8 (``BERTEncoder``); Devlin et al. (2019).
    """

    def __init__(
        self,
        vocab_size: int,
        num_hiddens: int,
        ffn_num_hiddens: int,
        num_heads: int,
        num_blks: int,
        dropout: float = 0.0,
        max_len: int = 512,
        type_vocab_size: int = 0,
        use_bias: bool = True,
        norm_eps: float = 1e-12,
        activation: str = "gelu",
    ):
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("num_blks", num_blks)
        check_positive_int("type_vocab_size", type_vocab_size, minimum=0)
        self.num_blks, self.num_heads, self.max_len = num_blks, num_heads, max_len
        self.token_embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_embedding = LearnedPositionalEncoding(num_hiddens, 0.0, max_len)
        self.segment_embedding = (
            nn.Embedding(type_vocab_size, num_hiddens) if type_vocab_size else None
        )
        self.embedding_norm = nn.LayerNorm(num_hiddens, eps=norm_eps)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blks = nn.ModuleList(
            TransformerEncoderBlock(
                num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias, norm_eps, activation
            )
            for _ in range(num_blks)
        )

    def _check(self, input_ids, attention_mask, token_type_ids, head_mask):
        if not isinstance(input_ids, torch.Tensor) or input_ids.is_floating_point():
            raise TypeError("input_ids must be an integer torch.Tensor [batch, tokens]")
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be [batch, tokens], got shape {list(input_ids.shape)}"
            )
        if input_ids.shape[1] > self.max_len:
            raise ValueError(
                f"input_ids has {input_ids.shape[1]} tokens but max_len="
                f"{self.max_len} learned positions"
            )
        for name, M in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if M is not None and tuple(M.shape) != tuple(input_ids.shape):
                raise ValueError(
                    f"{name} has shape {list(M.shape)}; expected "
                    f"{list(input_ids.shape)} like input_ids"
                )
        if head_mask is not None and tuple(head_mask.shape) != (self.num_blks, self.num_heads):
            raise ValueError(
                f"head_mask has shape {list(head_mask.shape)}; expected "
                f"[{self.num_blks}, {self.num_heads}] (layers, heads)"
            )

    def embed(self, input_ids, token_type_ids=None):
        """Embeddings before the first block: ``[batch, tokens]`` -> ``[batch, tokens, d]``."""
        X = self.pos_embedding(self.token_embedding(input_ids))
        if self.segment_embedding is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            X = X + self.segment_embedding(token_type_ids)
        return self.embedding_dropout(self.embedding_norm(X))

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, head_mask=None, need_weights=True
    ):
        self._check(input_ids, attention_mask, token_type_ids, head_mask)
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        X = self.embed(input_ids, token_type_ids)
        attentions = []
        for i, blk in enumerate(self.blks):
            X = blk(
                X,
                mask=mask,
                head_mask=None if head_mask is None else head_mask[i],
                need_weights=need_weights,
            )
            attentions.append(blk.attention.attention_weights)
        return EncoderOutput(X, tuple(attentions) if need_weights else None)
