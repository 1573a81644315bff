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

from ._checks import check_generator, check_positive_int

__all__ = ["LookupTask", "DateTask", "MONTHS", "IGNORE_INDEX"]

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
            raise ValueError(
                f"seq_len={seq_len} leaves no position with every offset "
                f"{offsets} inside the sequence; expected seq_len > {span}"
            )
        self.vocab_size, self.seq_len, self.offsets = vocab_size, seq_len, offsets
        self.num_classes = vocab_size ** len(offsets)

    def __repr__(self) -> str:
        return (
            f"LookupTask(vocab_size={self.vocab_size}, seq_len={self.seq_len}, "
            f"offsets={self.offsets})"
        )

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
        if (
            not isinstance(classes, torch.Tensor)
            or classes.is_floating_point()
            or classes.dtype == torch.bool
        ):
            raise TypeError("classes must be an integer torch.Tensor")
        ignored = classes == IGNORE_INDEX
        rest, digits = classes.clamp(min=0), []
        for _ in self.offsets:
            digits.append(rest % self.vocab_size)
            rest = rest // self.vocab_size
        tokens = torch.stack(digits[::-1], dim=-1)
        return tokens.masked_fill(ignored[..., None], IGNORE_INDEX)

    def sample(
        self, batch_size: int, generator: torch.Generator | int | None = None, device=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
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
        generator = check_generator(generator)
        X = torch.randint(self.vocab_size, (batch_size, self.seq_len), generator=generator)
        X = X.to(device) if device is not None else X
        return X, self.labels(X)


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class DateTask:
    """Rewrite a date written out, ``3 March 2021``, in ISO 8601 form, ``2021-03-03``.

    An encoder–decoder task whose alignment can be read off the cross-attention: the
    output is written year first and day last, the reverse of the input's order, and the
    input's length varies (a day has 1 or 2 digits), so the source is padded and the
    year sits at different positions in different sequences.

    Tokens (one vocabulary for both sides, :attr:`tokens`): ``<pad>`` (id
    :attr:`PAD` = 0), ``<bos>`` (1), ``<eos>`` (2), the digits ``0``..``9``, ``-`` and
    the twelve month names, one token each. A source is the day's digits (no leading
    zero), the month's token and the year's four digits: 6 or 7 tokens, padded to 7. A
    target is ``y y y y - m m - d d <eos>`` (11 tokens); the decoder's input is the
    target shifted right behind ``<bos>`` (teacher forcing).

    Dates are drawn uniformly over years ``min_year..max_year``, months, and the days of
    that month (leap years included). A fixed tenth of all dates (those with
    ``(year·12 + month)·31 + day`` divisible by 10) is held out: ``split="test"`` draws
    only those, ``split="train"`` never does, so test accuracy is on dates never seen.

    Args:
        min_year, max_year: range of years drawn, inclusive (4-digit years).

    Attributes:
        tokens: the vocabulary, a tuple of str. vocab_size: its length (26).
        src_len: 7. tgt_len: 11 (10 characters and ``<eos>``).
        PAD, BOS, EOS: ids 0, 1, 2.

    Raises:
        TypeError: a year is not an int. ValueError: years outside 1000..9999 or
            ``min_year > max_year``.

    Source: the date-format translation task of the Keras/Coursera "neural machine
    translation with attention" exercise (Ng, Deep Learning Specialization, course 5) and
    of d2l-style seq2seq chapters; the teacher-forcing set-up is d2l.ai section 10.7.
    """

    PAD, BOS, EOS = 0, 1, 2
    src_len, tgt_len = 7, 11

    def __init__(self, min_year: int = 1900, max_year: int = 2099):
        check_positive_int("min_year", min_year, minimum=1000)
        check_positive_int("max_year", max_year, minimum=1000)
        if max_year > 9999 or min_year > max_year:
            raise ValueError(
                f"min_year={min_year}, max_year={max_year}: expected "
                f"1000 <= min_year <= max_year <= 9999"
            )
        self.min_year, self.max_year = min_year, max_year
        self.tokens = ("<pad>", "<bos>", "<eos>", *"0123456789", "-", *MONTHS)
        self.vocab_size = len(self.tokens)
        self._digit, self._dash, self._month = 3, 13, 14  # ids of "0", "-", "January"
        days = torch.tensor(
            [
                [
                    31,
                    28 + (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)),
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ]
                for y in range(min_year, max_year + 1)
            ]
        )
        self._days_in_month = days  # [years, 12]

    def __repr__(self) -> str:
        return f"DateTask(min_year={self.min_year}, max_year={self.max_year})"

    def to_text(self, ids: torch.Tensor) -> list[str]:
        """Token ids ``[batch, n]`` -> one string per row, up to ``<eos>``, without
        ``<pad>``/``<bos>`` (month names stand alone, separated by spaces)."""
        if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.dim() != 2:
            raise TypeError("ids must be an integer torch.Tensor [batch, n]")
        texts = []
        for row in ids.tolist():
            parts = []
            for i in row:
                if i == self.EOS:
                    break
                if not 0 <= i < self.vocab_size:
                    raise ValueError(f"ids holds {i}, outside 0..{self.vocab_size - 1}")
                if i > self.EOS:
                    token = self.tokens[i]
                    parts.append(f" {token} " if i >= self._month else token)
            texts.append("".join(parts).strip())
        return texts

    def _is_test(self, year, month, day):
        return ((year * 12 + month) * 31 + day) % 10 == 0

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator | int | None = None,
        device=None,
        split: str = "train",
    ):
        """Draw a batch ``((src, src_valid_lens, tgt_in), tgt_out)``.

        Args:
            batch_size: number of dates.
            generator: a CPU ``torch.Generator`` (advanced by the call), an int seed, or
                ``None`` (PyTorch's global generator).
            device: where to put the tensors (drawn on the CPU, so every device sees the
                same dates).
            split: ``"train"`` (never a held-out date) or ``"test"`` (only held-out ones).

        Returns:
            src int64 ``[batch, 7]`` (padded with ``PAD``); src_valid_lens int64
            ``[batch]`` (6 or 7); tgt_in int64 ``[batch, 11]`` (``BOS`` then the first 10
            target tokens); tgt_out int64 ``[batch, 11]`` (the answer, ending in ``EOS``).
            The form ``(inputs, labels)`` is what :func:`d2lmha.training.train` takes.

        Raises:
            TypeError: ``batch_size`` not an int; bad ``generator``.
            ValueError: ``batch_size < 1``; ``split`` not ``"train"``/``"test"``.
        """
        check_positive_int("batch_size", batch_size)
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}; expected 'train' or 'test'")
        generator = check_generator(generator)
        years, months, days = [], [], []
        have = 0
        while have < batch_size:
            n = 4 * batch_size + 16
            y = torch.randint(self.min_year, self.max_year + 1, (n,), generator=generator)
            m = torch.randint(1, 13, (n,), generator=generator)
            limit = self._days_in_month[y - self.min_year, m - 1]
            d = (torch.rand(n, generator=generator) * limit).long() + 1
            keep = self._is_test(y, m, d) == (split == "test")
            years.append(y[keep]), months.append(m[keep]), days.append(d[keep])
            have += int(keep.sum())
        y, m, d = (torch.cat(t)[:batch_size] for t in (years, months, days))
        digit = self._digit
        two_digits = d >= 10
        src = torch.full((batch_size, self.src_len), self.PAD, dtype=torch.long)
        year_digits = torch.stack([y // 1000, y // 100 % 10, y // 10 % 10, y % 10], 1) + digit
        src[:, 0] = torch.where(two_digits, d // 10, d) + digit
        src[two_digits, 1] = d[two_digits] % 10 + digit
        start = 1 + two_digits.long()  # month's position: 1 or 2
        rows = torch.arange(batch_size)
        src[rows, start] = m - 1 + self._month
        for k in range(4):
            src[rows, start + 1 + k] = year_digits[:, k]
        src_valid_lens = start + 5
        dash = torch.full((batch_size, 1), self._dash)
        tgt_out = torch.cat(
            [
                year_digits,
                dash,
                torch.stack([m // 10, m % 10], 1) + digit,
                dash,
                torch.stack([d // 10, d % 10], 1) + digit,
                torch.full((batch_size, 1), self.EOS),
            ],
            1,
        )
        tgt_in = torch.cat([torch.full((batch_size, 1), self.BOS), tgt_out[:, :-1]], 1)
        out = [src, src_valid_lens, tgt_in, tgt_out]
        if device is not None:
            out = [t.to(device) for t in out]
        return tuple(out[:3]), out[3]
