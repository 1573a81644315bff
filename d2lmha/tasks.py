"""Synthetic sequence tasks, generated in memory from a seed, for training tiny encoders.

The task here is built so that a position needs *several different lookups*: the label at
position ``i`` is made of the tokens at ``i + o`` for each offset ``o`` in ``offsets``
(by default the token one step back and the token two steps ahead). One attention head
has one softmax per query, so it must split its weight between the places and blend what
it finds; a model with one head per offset can give each head one job. Chapter 04 trains
1-, 2- and 4-head models on it; chapter 05 measures which heads matter.

Nothing is downloaded: every batch comes from a ``torch.Generator`` seeded by the caller,
on the CPU, so the same seed gives the same data on every machine and device.
"""
from __future__ import annotations

import torch

from ._checks import check_positive_int

__all__ = ["LookupTask", "IGNORE_INDEX"]

IGNORE_INDEX = -100
"""Label of a position with no answer (a lookup falls off the sequence); it is the default
``ignore_index`` of :func:`torch.nn.functional.cross_entropy`, so such positions add
nothing to the loss or to the accuracy."""


class LookupTask:
    """Label each position with the tokens found at fixed offsets from it.

    Input: ``seq_len`` tokens drawn uniformly from ``0..vocab_size-1``. Output at
    position ``i``: the tuple ``(x[i + o_0], x[i + o_1], ...)`` written as one class id,
    a number in base ``vocab_size``::

        y[i] = x[i + o_0] * vocab_size**(k-1) + ... + x[i + o_{k-1}]     (k = len(offsets))

    So with ``offsets=(-1, 2)`` and ``vocab_size=8``, ``y[i] = 8 * x[i-1] + x[i+2]``: the
    model must copy *which* token was one step back and *which* was two steps ahead, in
    that order. An even blend of the two tokens (one head attending to both equally) loses
    the order; an uneven blend keeps it, but is harder to learn and to untangle. Positions
    where some ``i + o`` falls outside the sequence get
    :data:`IGNORE_INDEX`.

    Args:
        vocab_size: number of token ids V (>= 2).
        seq_len: tokens per sequence (> the span of the offsets).
        offsets: distinct non-zero ints, the relative positions looked up (>= 1 of them).

    Attributes:
        num_classes: ``vocab_size ** len(offsets)``.
        offsets: the offsets as a tuple.

    Raises:
        TypeError: a size or an offset is not an int.
        ValueError: ``vocab_size < 2``; ``offsets`` empty, repeated or containing 0;
            ``seq_len`` so short that no position has every offset inside the sequence.

    Source: a synthetic "look up at a relative offset" task in the spirit of the
    induction/copy tasks used to study heads (Olsson et al., 2022); the multi-view
    argument for many heads is Vaswani et al. (2017) section 3.2.2 and d2l.ai section 11.5.
    """

    def __init__(self, vocab_size: int = 8, seq_len: int = 12, offsets=(-1, 2)):
        check_positive_int("vocab_size", vocab_size, minimum=2)
        check_positive_int("seq_len", seq_len)
        offsets = tuple(offsets)
        if not offsets:
            raise ValueError("offsets must hold at least one non-zero int, got ()")
        for o in offsets:
            if isinstance(o, bool) or not isinstance(o, int):
                raise TypeError(f"offsets must be ints, got {o!r} in {offsets}")
        if 0 in offsets or len(set(offsets)) != len(offsets):
            raise ValueError(f"offsets={offsets} must be distinct and non-zero")
        span = max(max(offsets), 0) - min(min(offsets), 0)
        if seq_len <= span:
            raise ValueError(f"seq_len={seq_len} leaves no position with every offset "
                             f"{offsets} inside the sequence; expected seq_len > {span}")
        self.vocab_size, self.seq_len, self.offsets = vocab_size, seq_len, offsets
        self.num_classes = vocab_size ** len(offsets)

    def __repr__(self) -> str:
        return (f"LookupTask(vocab_size={self.vocab_size}, seq_len={self.seq_len}, "
                f"offsets={self.offsets})")

    def labels(self, X: torch.Tensor) -> torch.Tensor:
        """The labels of token sequences ``X``.

        Args:
            X: int64 ``[batch, seq_len]`` with values in ``0..vocab_size-1``.

        Returns:
            int64 ``[batch, seq_len]``: class ids in ``0..num_classes-1``, or
            :data:`IGNORE_INDEX` where a lookup falls outside the sequence.

        Raises:
            TypeError: ``X`` is not an integer tensor.
            ValueError: ``X`` is not ``[batch, seq_len]`` or holds an id outside the vocabulary.
        """
        if not isinstance(X, torch.Tensor) or X.is_floating_point() or X.dtype == torch.bool:
            raise TypeError("X must be an integer torch.Tensor [batch, seq_len]")
        if X.dim() != 2 or X.shape[1] != self.seq_len:
            raise ValueError(f"X must be [batch, {self.seq_len}], got shape {list(X.shape)}")
        if X.numel() and (int(X.min()) < 0 or int(X.max()) >= self.vocab_size):
            raise ValueError(f"X holds token ids outside 0..{self.vocab_size - 1}")
        Y = torch.zeros_like(X)
        valid = torch.ones(self.seq_len, dtype=torch.bool, device=X.device)
        positions = torch.arange(self.seq_len, device=X.device)
        for o in self.offsets:
            source = positions + o
            valid &= (source >= 0) & (source < self.seq_len)
            Y = Y * self.vocab_size + X[:, source.clamp(0, self.seq_len - 1)]
        return Y.masked_fill(~valid, IGNORE_INDEX)

    def decode(self, classes: torch.Tensor) -> torch.Tensor:
        """Split class ids back into the looked-up tokens (the inverse of :meth:`labels`).

        Args:
            classes: integer tensor of any shape, values in ``0..num_classes-1`` or
                :data:`IGNORE_INDEX`.

        Returns:
            int64 ``[*classes.shape, len(offsets)]``: entry ``j`` is the token at offset
            ``offsets[j]``; :data:`IGNORE_INDEX` wherever the class was.

        Raises:
            TypeError: ``classes`` is not an integer tensor.
        """
        if (not isinstance(classes, torch.Tensor) or classes.is_floating_point()
                or classes.dtype == torch.bool):
            raise TypeError("classes must be an integer torch.Tensor")
        ignored = classes == IGNORE_INDEX
        rest, digits = classes.clamp(min=0), []
        for _ in self.offsets:
            digits.append(rest % self.vocab_size)
            rest = rest // self.vocab_size
        tokens = torch.stack(digits[::-1], dim=-1)
        return tokens.masked_fill(ignored[..., None], IGNORE_INDEX)

    def sample(self, batch_size: int, generator: torch.Generator | int | None = None,
               device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw a batch ``(X, Y)``.

        Args:
            batch_size: number of sequences.
            generator: a CPU ``torch.Generator`` (advanced by the call, so successive
                calls give fresh batches) or an int seed (the same seed gives the same
                batch). ``None`` uses PyTorch's global generator.
            device: where to put the tensors (drawn on the CPU first, so they are the
                same on every device).

        Returns:
            ``X``, ``Y``: int64 ``[batch_size, seq_len]`` (see :meth:`labels`).

        Raises:
            TypeError: ``batch_size`` not an int; ``generator`` neither a Generator, an
                int nor None.
            ValueError: ``batch_size < 1``.
        """
        check_positive_int("batch_size", batch_size)
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = torch.Generator().manual_seed(generator)
        elif generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, an int seed or None, "
                            f"got {type(generator).__name__}")
        X = torch.randint(self.vocab_size, (batch_size, self.seq_len), generator=generator)
        X = X.to(device) if device is not None else X
        return X, self.labels(X)
