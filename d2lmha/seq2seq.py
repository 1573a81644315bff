"""An encoder–decoder transformer, greedy decoding and exact-match accuracy.

The encoder is the course's :class:`~d2lmha.BERTEncoder` (the class that also loads the
real all-MiniLM-L6-v2), the decoder :class:`~d2lmha.TransformerDecoder`; training uses
:func:`d2lmha.training.train` with a task such as :class:`d2lmha.tasks.DateTask`.

Typical use (chapter 06)::

    from d2lmha.tasks import DateTask
    from d2lmha.seq2seq import Seq2SeqTransformer, exact_match
    from d2lmha.training import train

    task = DateTask()
    d2lmha.seed_everything(0)
    model = Seq2SeqTransformer(task.vocab_size, num_hiddens=32, num_heads=4).to(device)
    train(model, task, num_steps=100, lr=5e-3)     # teacher forcing, a tqdm bar
    exact_match(model, task)                        # fraction of held-out dates right

Source: Vaswani et al. (2017) section 3; d2l.ai sections 10.6-10.7 (encoder–decoder,
teacher forcing, greedy prediction) and 11.7 (the Transformer).
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_positive_int, check_valid_lens
from .decoder import TransformerDecoder
from .device import fixed_threads
from .masking import valid_lens_mask
from .tasks import IGNORE_INDEX
from .training import small_encoder

__all__ = ["Seq2SeqTransformer", "greedy_decode", "exact_match"]


def _check_ids(name: str, ids) -> None:
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer torch.Tensor [batch, n]")
    if ids.dim() != 2:
        raise ValueError(f"{name} must be [batch, n], got shape {list(ids.shape)}")


class Seq2SeqTransformer(nn.Module):
    """An encoder (:class:`~d2lmha.BERTEncoder`) and a decoder
    (:class:`~d2lmha.TransformerDecoder`) sharing one vocabulary.

    Args:
        vocab_size: token ids on both sides. num_hiddens: d_model. num_heads: h in every
            attention layer (divides ``num_hiddens``). num_enc_blks, num_dec_blks: layers.
        ffn_num_hiddens: FFN width (default ``2 * num_hiddens``). max_len: longest
            source and target. dropout: dropout everywhere.
        num_kv_heads: K/V heads of the decoder's attention layers (default ``num_heads``;
            fewer is grouped-query attention, 1 multi-query; it sets the KV cache's size).

    Forward ``(src, src_valid_lens, tgt_in)``:
        src: int64 ``[batch, source_len]``, padded after ``src_valid_lens`` tokens;
        src_valid_lens: int64 ``[batch]``; tgt_in: int64 ``[batch, target_len]`` (the
        target shifted right, teacher forcing).
        Returns logits ``[batch, target_len, vocab_size]``. Afterwards
        ``self.decoder.cross_attentions`` holds one ``[batch, heads, target_len,
        source_len]`` tensor per decoder block and, in eval mode, ``self.enc_attentions``
        the encoder's ``[batch, heads, source_len, source_len]`` ones (``None`` after a
        training-mode forward, which runs the encoder's fused attention path).

    Raises:
        TypeError / ValueError before any work: bad sizes; ids not integer ``[batch, n]``;
        ``src_valid_lens`` not ``[batch]`` with values in ``0..source_len``.

    Source: Vaswani et al. (2017) section 3; d2l.ai section 11.7.
    """

    def __init__(
        self,
        vocab_size: int,
        num_hiddens: int = 32,
        num_heads: int = 4,
        num_enc_blks: int = 1,
        num_dec_blks: int = 1,
        ffn_num_hiddens: int | None = None,
        max_len: int = 64,
        dropout: float = 0.0,
        num_kv_heads: int | None = None,
    ):
        super().__init__()
        check_positive_int("num_hiddens", num_hiddens)
        ffn = ffn_num_hiddens or 2 * num_hiddens
        self.encoder = small_encoder(
            vocab_size, num_hiddens, ffn, num_heads, num_enc_blks, dropout, max_len
        )
        self.decoder = TransformerDecoder(
            vocab_size,
            num_hiddens,
            ffn,
            num_heads,
            num_dec_blks,
            dropout=dropout,
            max_len=max_len,
            num_kv_heads=num_kv_heads,
        )
        self.enc_attentions = None

    def encode(self, src, src_valid_lens):
        """``[batch, source_len]`` ids -> encoder outputs ``[batch, source_len, d]``."""
        _check_ids("src", src)
        check_valid_lens(src_valid_lens, src.shape[0], 1, src.shape[1])
        if src_valid_lens.dim() != 1:
            raise ValueError(
                f"src_valid_lens must be [{src.shape[0]}] (one length per "
                f"source sequence), got shape {list(src_valid_lens.shape)}"
            )
        keep = valid_lens_mask(src_valid_lens, 1, src.shape[1])[:, 0]  # [batch, source]
        # Weights are kept in eval mode only: training takes the fused attention path.
        out = self.encoder(src, attention_mask=keep, need_weights=not self.training)
        self.enc_attentions = out.attentions
        return out.last_hidden_state

    def forward(self, src, src_valid_lens, tgt_in):
        _check_ids("tgt_in", tgt_in)
        enc_outputs = self.encode(src, src_valid_lens)
        return self.decoder(tgt_in, enc_outputs, src_valid_lens)


@torch.no_grad()
@fixed_threads(1)
def greedy_decode(
    model: Seq2SeqTransformer,
    src,
    src_valid_lens,
    num_steps: int,
    bos_id: int = 1,
    eos_id: int = 2,
    pad_id: int = 0,
    use_cache: bool = False,
    need_weights: bool = True,
):
    """Predict a target one token at a time, feeding each arg-max back in.

    At step t the decoder reads ``<bos>`` and its own t previous predictions. Without a
    cache every step re-runs the decoder on the whole prefix; with ``use_cache=True`` each
    block keeps a :class:`~d2lmha.KVCache` and a step runs the new token only (same ids,
    outputs equal up to float rounding). After a row predicts ``eos_id`` its later tokens
    are set to ``pad_id``. Runs on one CPU thread (:func:`~d2lmha.fixed_threads`), so
    the predictions do not depend on torch's thread count.

    Args:
        model: a :class:`Seq2SeqTransformer` (run in eval mode; its mode is restored).
        src, src_valid_lens: as in its forward. num_steps: tokens to predict.
        bos_id, eos_id, pad_id: the special ids.
        use_cache: decode incrementally with one KVCache per decoder block.
        need_weights: False takes the fused attention path (faster); the returned
            cross-attentions are then ``None``.

    Returns:
        ``(ids, cross_attentions)``: ids int64 ``[batch, num_steps]``; cross_attentions
        one ``[batch, heads, num_steps, source_len]`` tensor per decoder block: row t is
        the weights the decoder used when it predicted token t (causality makes the last
        step's pass give every earlier step's weights unchanged).

    Raises:
        TypeError / ValueError: ``model`` not a :class:`Seq2SeqTransformer`, bad
        ``num_steps``, bad inputs as in its forward.

    Source: d2l.ai section 10.7.6 (greedy prediction); Vaswani et al. (2017) 3.1.
    """
    if not isinstance(model, Seq2SeqTransformer):
        raise TypeError(
            f"model must be a d2lmha.seq2seq.Seq2SeqTransformer, got {type(model).__name__}"
        )
    check_positive_int("num_steps", num_steps)
    was_training = model.training
    model.eval()
    enc_outputs = model.encode(src, src_valid_lens)
    tgt = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
    caches = model.decoder.new_caches() if use_cache else None
    rows = []  # with a cache, each step's cross-attention row, per block
    for _ in range(num_steps):
        new = tgt if caches is None else tgt[:, -1:]
        logits = model.decoder(new, enc_outputs, src_valid_lens, caches, need_weights)
        tgt = torch.cat([tgt, logits[:, -1].argmax(-1, keepdim=True)], 1)
        if caches is not None and need_weights:
            rows.append(model.decoder.cross_attentions)
    model.train(was_training)
    ids = tgt[:, 1:]
    finished = (ids == eos_id).long().cumsum(1) - (ids == eos_id).long() > 0
    if not need_weights:
        weights = None
    elif caches is None:
        weights = model.decoder.cross_attentions
    else:
        weights = tuple(torch.cat(per_block, dim=2) for per_block in zip(*rows, strict=True))
    return ids.masked_fill(finished, pad_id), weights


@torch.no_grad()
def exact_match(
    model: Seq2SeqTransformer, task, num_samples: int = 1000, seed: int = 12345
) -> float:
    """Fraction of held-out sequences whose greedy decoding is entirely right.

    Args:
        model: a :class:`Seq2SeqTransformer`. task: e.g. :class:`~d2lmha.tasks.DateTask`
            (``sample(n, seed, device, split="test")`` and ``BOS``/``EOS``/``PAD``).
        num_samples: held-out sequences drawn with ``seed``.

    Returns:
        A float in [0, 1]: the share of rows where every predicted token, up to and
        including ``<eos>``, equals the answer (positions labelled
        :data:`~d2lmha.tasks.IGNORE_INDEX` are not compared).

    Raises:
        TypeError / ValueError: ``num_samples`` or ``seed`` not a non-negative int.
    """
    check_positive_int("num_samples", num_samples)
    check_positive_int("seed", seed, minimum=0)
    device = next(model.parameters()).device
    (src, src_valid_lens, _), tgt_out = task.sample(num_samples, seed, device, split="test")
    ids, _ = greedy_decode(
        model, src, src_valid_lens, tgt_out.shape[1], task.BOS, task.EOS, task.PAD
    )
    right = (ids == tgt_out) | (tgt_out == IGNORE_INDEX)
    return right.all(dim=1).float().mean().item()
