"""Decoding strategies for an encoder–decoder: greedy search, beam search and sampling.

A trained :class:`~d2lmha.seq2seq.Seq2SeqTransformer` gives, at each step, a distribution
over the next token given the source and the tokens written so far. How the next token is
picked from it is the *decoding strategy*:

* :func:`greedy_search` takes the most likely token at every step (d2l.ai 10.8.1);
* :func:`beam_search` keeps the ``beam_size`` most likely prefixes at every step and ends
  with the one of best length-normalised log-probability (d2l.ai 10.8.3);
* :func:`sample` draws the token from the distribution, sharpened or flattened by a
  ``temperature`` and cut to the ``top_k`` most likely tokens (Fan et al., 2018) or to the
  smallest set holding probability ``top_p`` (nucleus sampling, Holtzman et al., 2020);
  :func:`filter_logits` is that transformation of the scores on its own.

All three run on one CPU thread (:func:`~d2lmha.fixed_threads`, as
:func:`d2lmha.seq2seq.greedy_decode`), so the same model and seed give the same ids whatever
torch's thread count. They decode with one :class:`~d2lmha.KVCache` per decoder block by
default (chapter 07), so a step runs the new token only; ``use_cache=False`` re-runs the
decoder on the whole prefix (the same ids, up to float rounding). Beam search reorders the
caches with :meth:`~d2lmha.KVCache.reorder` each time it picks the beams. Each returns ids
``[batch, num_steps]`` with ``pad_id`` after a row's ``eos_id``, like
:func:`d2lmha.seq2seq.greedy_decode`.

Sources: d2l.ai section 10.8 "Beam Search" (greedy, exhaustive and beam search, the score
``log P / L**alpha`` with ``alpha = 0.75``); Fan, Lewis and Dauphin (2018), "Hierarchical
Neural Story Generation", ACL (top-k sampling); Holtzman, Buys, Du, Forbes and Choi (2020),
"The Curious Case of Neural Text Degeneration", ICLR (nucleus / top-p sampling); Hugging
Face ``transformers`` ``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper``
(the order temperature, then top-k, then top-p).
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn import functional as F

from ._checks import (
    check_generator,
    check_int_tensor,
    check_positive_int,
    check_real,
    check_tensor,
)
from .device import fixed_threads
from .seq2seq import Seq2SeqTransformer

__all__ = ["greedy_search", "beam_search", "sample", "filter_logits", "sequence_log_probs"]


def _check_model(model, num_steps: int, bos_id: int, eos_id: int, pad_id: int) -> int:
    """Check the arguments every strategy takes; return the vocabulary size."""
    if not isinstance(model, Seq2SeqTransformer):
        raise TypeError(
            f"model must be a d2lmha.seq2seq.Seq2SeqTransformer, got {type(model).__name__}"
        )
    check_positive_int("num_steps", num_steps)
    vocab_size = model.decoder.dense.out_features
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
        check_positive_int(name, value, minimum=0)
        if value >= vocab_size:
            raise ValueError(f"{name}={value} must be < the vocabulary size ({vocab_size})")
    return vocab_size


@contextlib.contextmanager
def _eval_mode(model):
    """Run the block in eval mode without gradients; restore the model's mode after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


class _Run:
    """One generation: the encoder's output (each source repeated ``repeat`` times) and the
    decoder's caches; :meth:`next_logits` gives the scores of the next token."""

    def __init__(self, model, src, src_valid_lens, repeat: int, use_cache: bool):
        self.decoder = model.decoder
        self.enc_outputs = model.encode(src, src_valid_lens)
        self.valid_lens = src_valid_lens
        if repeat > 1:
            self.enc_outputs = self.enc_outputs.repeat_interleave(repeat, dim=0)
            self.valid_lens = src_valid_lens.repeat_interleave(repeat, dim=0)
        self.caches = self.decoder.new_caches() if use_cache else None

    def next_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` ``[rows, t]`` (everything so far, ``<bos>`` first) -> ``[rows, vocab]``."""
        new = ids if self.caches is None else ids[:, -1:]
        logits = self.decoder(new, self.enc_outputs, self.valid_lens, self.caches, False)
        return logits[:, -1]

    def reorder(self, rows: torch.Tensor) -> None:
        for cache in self.caches or ():
            cache.reorder(rows)


def _pad_after_eos(ids: torch.Tensor, num_steps: int, eos_id: int, pad_id: int) -> torch.Tensor:
    """``pad_id`` after each row's first ``eos_id``, and up to ``num_steps`` columns."""
    after = (ids == eos_id).long().cumsum(1) - (ids == eos_id).long() > 0
    ids = ids.masked_fill(after, pad_id)
    return F.pad(ids, (0, num_steps - ids.shape[1]), value=pad_id)


def _token_by_token(
    model, src, src_valid_lens, num_steps, choose, bos_id, eos_id, pad_id, use_cache
):
    """The loop of greedy search and sampling: ``choose`` maps ``[batch, vocab]`` logits
    to ``[batch]`` ids; stops early once every row has written ``eos_id``."""
    with _eval_mode(model):
        run = _Run(model, src, src_valid_lens, 1, use_cache)
        ids = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(num_steps):
            token = choose(run.next_logits(ids)).masked_fill(done, pad_id)
            ids = torch.cat([ids, token[:, None]], dim=1)
            done |= token == eos_id
            if bool(done.all()):
                break
    return _pad_after_eos(ids[:, 1:], num_steps, eos_id, pad_id)


@fixed_threads(1)
def greedy_search(
    model: Seq2SeqTransformer,
    src: torch.Tensor,
    src_valid_lens: torch.Tensor,
    num_steps: int,
    bos_id: int = 1,
    eos_id: int = 2,
    pad_id: int = 0,
    use_cache: bool = True,
) -> torch.Tensor:
    """Write each output token as the arg-max of the decoder's scores (greedy search).

    The ids equal :func:`d2lmha.seq2seq.greedy_decode`'s; this version stops once every
    row has written ``eos_id`` and uses the KV cache by default.

    Args:
        model: a :class:`~d2lmha.seq2seq.Seq2SeqTransformer` (run in eval mode without
            gradients; its mode is restored).
        src: int64 ``[batch, source_len]``; src_valid_lens: int64 ``[batch]``.
        num_steps: most tokens to write. bos_id, eos_id, pad_id: the special ids.
        use_cache: one :class:`~d2lmha.KVCache` per decoder block (False re-runs the
            prefix at every step).

    Returns:
        int64 ``[batch, num_steps]``, ``pad_id`` after each row's ``eos_id``.

    Raises:
        TypeError / ValueError before any work: ``model`` not a Seq2SeqTransformer;
        ``num_steps`` not a positive int; a special id not an int in
        ``0..vocab_size-1``; bad ``src``/``src_valid_lens`` (as in the model's forward).

    Source: d2l.ai section 10.8.1 (greedy search).
    """
    _check_model(model, num_steps, bos_id, eos_id, pad_id)
    return _token_by_token(
        model,
        src,
        src_valid_lens,
        num_steps,
        lambda logits: logits.argmax(-1),
        bos_id,
        eos_id,
        pad_id,
        use_cache,
    )


def filter_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Scores to sample from: divided by ``temperature``, cut to ``top_k``, then ``top_p``.

    ``softmax(filter_logits(...))`` is the distribution :func:`sample` draws from: the
    tokens cut away get score ``-inf`` (probability 0) and the kept ones are renormalised.

    Args:
        logits: float ``[..., vocab]`` scores (not changed in place).
        temperature: > 0; below 1 sharpens the distribution (towards greedy as it goes to
            0), above 1 flattens it.
        top_k: keep the ``top_k`` highest scores (all of them if ``top_k >= vocab``);
            ``None`` keeps every token. Fan et al. (2018).
        top_p: in (0, 1]: keep the smallest set of most likely tokens whose probabilities
            (after the temperature and ``top_k``) sum to at least ``top_p``; the most likely
            token is always kept, so ``top_p`` near 0 is greedy. ``None`` or 1 keeps
            every token. Holtzman et al. (2020).

    Returns:
        A new float tensor of ``logits``' shape and dtype.

    Raises:
        TypeError: ``logits`` not a floating tensor; a bound not a number / int.
        ValueError: ``logits`` 0-D; ``temperature <= 0`` or not finite; ``top_k < 1``;
            ``top_p`` outside (0, 1].

    Source: Fan, Lewis and Dauphin (2018), "Hierarchical Neural Story Generation";
    Holtzman et al. (2020), "The Curious Case of Neural Text Degeneration", section 3.1;
    the order of Hugging Face's logits warpers (temperature, top-k, top-p).
    """
    check_tensor("logits", logits, ndim_min=1)
    _check_sampling(temperature, top_k, top_p)
    scores = logits / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        kth = scores.topk(top_k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        ordered, order = scores.sort(dim=-1, descending=True)
        probs = ordered.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the more likely tokens
        cut = (before >= top_p).scatter(-1, order, before >= top_p)
        scores = scores.masked_fill(cut, float("-inf"))
    return scores


def _check_sampling(temperature, top_k, top_p) -> None:
    check_real("temperature", temperature, minimum=0.0, open_minimum=True)
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None:
        check_real("top_p", top_p, minimum=0.0, maximum=1.0, open_minimum=True)


@fixed_threads(1)
def sample(
    model: Seq2SeqTransformer,
    src: torch.Tensor,
    src_valid_lens: torch.Tensor,
    num_steps: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | int | None = None,
    bos_id: int = 1,
    eos_id: int = 2,
    pad_id: int = 0,
    use_cache: bool = True,
) -> torch.Tensor:
    """Write each output token by drawing it from the decoder's (filtered) distribution.

    At each step the scores go through :func:`filter_logits` (``temperature``, ``top_k``,
    ``top_p``) and one token per row is drawn with ``torch.multinomial``. The draw is made
    on the CPU from ``generator``, so a seed gives the same draws on every device (the
    probabilities themselves may differ in the last bits between devices).

    Args:
        model, src, src_valid_lens, num_steps, bos_id, eos_id, pad_id, use_cache: as in
            :func:`greedy_search`.
        temperature, top_k, top_p: as in :func:`filter_logits`.
        generator: a CPU ``torch.Generator``, an int seed (a new generator seeded with
            it), or ``None`` (torch's global generator). The same seed gives the same ids.

    Returns:
        int64 ``[batch, num_steps]``, ``pad_id`` after each row's ``eos_id``.

    Raises:
        TypeError / ValueError before any work: as in :func:`greedy_search` and
        :func:`filter_logits`; ``generator`` neither a Generator, an int nor ``None``.

    Source: Fan et al. (2018) (top-k); Holtzman et al. (2020) (top-p); d2l.ai 10.8.
    """
    _check_model(model, num_steps, bos_id, eos_id, pad_id)
    _check_sampling(temperature, top_k, top_p)
    generator = check_generator(generator)

    def draw(logits):
        probs = filter_logits(logits.float(), temperature, top_k, top_p).softmax(-1)
        ids = torch.multinomial(probs.cpu(), 1, generator=generator)
        return ids[:, 0].to(logits.device)

    return _token_by_token(
        model, src, src_valid_lens, num_steps, draw, bos_id, eos_id, pad_id, use_cache
    )


@fixed_threads(1)
def beam_search(
    model: Seq2SeqTransformer,
    src: torch.Tensor,
    src_valid_lens: torch.Tensor,
    num_steps: int,
    beam_size: int = 4,
    alpha: float = 0.75,
    bos_id: int = 1,
    eos_id: int = 2,
    pad_id: int = 0,
    use_cache: bool = True,
    return_scores: bool = False,
):
    """Keep the ``beam_size`` most likely prefixes at every step; return the best one.

    Step 1 keeps the ``beam_size`` most likely first tokens. At each later step every kept
    prefix (a *beam*) is extended by every token, and the ``beam_size`` extensions of
    highest log-probability ``log P(y_1..y_t | source)`` are kept, for each source on its
    own. A beam that has written ``eos_id`` is finished: it stays among the candidates with
    its log-probability frozen (extended by ``pad_id`` at no cost), so it competes with
    the longer ones. The search stops after ``num_steps`` steps, or earlier when every beam
    of every source is finished, and returns, per source, the beam of highest score
    ``log P / L**alpha``, ``L`` its length (tokens up to and including ``eos_id``). With
    ``beam_size=1`` it is greedy search.

    d2l's figure 10.8.3 also counts the unfinished beams of earlier steps as final
    candidates; here, as in fairseq and Hugging Face, a beam is a candidate once it has
    written ``eos_id`` or reached ``num_steps`` tokens.

    The source is encoded once and repeated ``beam_size`` times; with ``use_cache`` each
    step runs one token per beam, and the decoder's :class:`~d2lmha.KVCache`\\ s are
    reordered (:meth:`~d2lmha.KVCache.reorder`) so that each beam keeps the keys and values
    of the prefix it continues.

    Args:
        model, src, src_valid_lens, num_steps, bos_id, eos_id, pad_id, use_cache: as in
            :func:`greedy_search`.
        beam_size: k, beams per source (>= 1; with ``k >= vocab_size**num_steps`` no
            candidate is ever dropped and the search is exhaustive, d2l.ai 10.8.2).
        alpha: length normalisation exponent, >= 0 (0: the plain log-probability, which
            favours short outputs; d2l uses 0.75).
        return_scores: also return each chosen beam's score.

    Returns:
        ids int64 ``[batch, num_steps]`` (``pad_id`` after ``eos_id``); with
        ``return_scores``, ``(ids, scores)``, scores float32 ``[batch]`` = ``log P /
        L**alpha`` of the chosen beams.

    Raises:
        TypeError / ValueError before any work: as in :func:`greedy_search`;
        ``beam_size`` not a positive int; ``alpha`` negative or not finite.

    Source: d2l.ai section 10.8.3 (beam search, the final score with ``alpha = 0.75``);
    Wu et al. (2016), "Google's Neural Machine Translation System" (length normalisation).
    """
    vocab_size = _check_model(model, num_steps, bos_id, eos_id, pad_id)
    check_positive_int("beam_size", beam_size)
    alpha = check_real("alpha", alpha, minimum=0.0)
    batch, k, device = src.shape[0], beam_size, src.device
    with _eval_mode(model):
        run = _Run(model, src, src_valid_lens, k, use_cache)
        ids = torch.full((batch * k, 1), bos_id, dtype=torch.long, device=device)
        scores = torch.full((batch, k), float("-inf"), device=device)
        scores[:, 0] = 0.0  # one beam to start with: the others are copies of it
        lengths = torch.zeros(batch, k, dtype=torch.long, device=device)
        finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
        frozen = torch.full((vocab_size,), float("-inf"), device=device)
        frozen[pad_id] = 0.0  # a finished beam's only extension, at no cost
        first_row = torch.arange(batch, device=device)[:, None] * k
        for _ in range(num_steps):
            log_probs = run.next_logits(ids).float().log_softmax(-1).view(batch, k, vocab_size)
            log_probs = torch.where(finished[..., None], frozen, log_probs)
            candidates = (scores[..., None] + log_probs).view(batch, k * vocab_size)
            scores, best = candidates.topk(k, dim=1)  # [batch, k]
            parent, token = best // vocab_size, best % vocab_size
            rows = (first_row + parent).view(-1)  # the beam each new beam continues
            ids = torch.cat([ids[rows], token.view(-1, 1)], dim=1)
            run.reorder(rows)
            was_finished = finished.gather(1, parent)
            lengths = lengths.gather(1, parent) + (~was_finished).long()
            finished = was_finished | (token == eos_id)
            if bool(finished.all()):
                break
        normalised = scores / lengths.float() ** alpha
        top, chosen = normalised.max(dim=1)
        out = ids.view(batch, k, -1)[torch.arange(batch, device=device), chosen, 1:]
    out = _pad_after_eos(out, num_steps, eos_id, pad_id)
    return (out, top) if return_scores else out


@fixed_threads(1)
def sequence_log_probs(
    model: Seq2SeqTransformer,
    src: torch.Tensor,
    src_valid_lens: torch.Tensor,
    ids: torch.Tensor,
    bos_id: int = 1,
    eos_id: int = 2,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's log-probability of given outputs, and their lengths.

    One teacher-forced pass: ``log P(ids | src) = sum_t log P(ids_t | src, ids_<t)`` over
    the tokens up to and including each row's first ``eos_id`` (all ``num_steps`` tokens
    if it has none). It scores any strategy's output on one scale: beam search's chosen
    score is ``log_p / length**alpha``.

    Args:
        model, src, src_valid_lens, bos_id, eos_id, pad_id: as in :func:`greedy_search`.
        ids: int64 ``[batch, num_steps]``, e.g. an output of :func:`greedy_search`.

    Returns:
        ``(log_p, lengths)``: float32 ``[batch]`` (nats, <= 0) and int64 ``[batch]``.

    Raises:
        TypeError / ValueError: as in :func:`greedy_search`; ``ids`` not an integer
        ``[batch, num_steps]`` tensor for ``src``'s batch.
    """
    check_int_tensor("src", src, shape=(None, None))
    check_int_tensor("ids", ids, shape=(src.shape[0], None))
    _check_model(model, max(ids.shape[1], 1), bos_id, eos_id, pad_id)
    bos = torch.full_like(ids[:, :1], bos_id)
    with _eval_mode(model):
        logits = model(src, src_valid_lens, torch.cat([bos, ids[:, :-1]], dim=1))
    token_log_p = logits.float().log_softmax(-1).gather(2, ids[..., None])[..., 0]
    counted = (ids == eos_id).long().cumsum(1) - (ids == eos_id).long() == 0
    return token_log_p.masked_fill(~counted, 0.0).sum(1), counted.sum(1)
