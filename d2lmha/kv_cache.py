"""The key/value cache of incremental (token-by-token) decoding.

Generating token t with a causal decoder needs the keys and values of tokens 0..t-1 in
every layer. They do not change once computed (position s only sees positions <= s), so
a decoder can keep them and compute only the new token's key and value at each step:
the cost of a step falls from a pass over the whole prefix to a pass over one token.
The cache's size is ``2 · layers · kv_heads · d_k`` numbers per token and sequence, which
is why multi-query and grouped-query attention (fewer K/V heads) shrink it.

Source: the incremental decoding of Vaswani et al. (2017)'s decoder as implemented in
fairseq and Hugging Face ``past_key_values``; Shazeer (2019), "Fast Transformer Decoding:
One Write-Head is All You Need" (the cache as the memory-bandwidth cost of decoding).
"""

from __future__ import annotations

import torch

from ._checks import check_int_tensor, check_tensor

__all__ = ["KVCache"]


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer or decoder block.

    Created empty; each :meth:`update` appends the new tokens' keys and values along the
    token axis and returns everything cached so far.

    Attributes:
        keys, values: ``[batch, kv_heads, cached_len, d_k]`` tensors, or ``None`` before the
            first update.
        source: ``None``, or the ``(K, V)`` pair of a fixed source that a decoder block's
            cross-attention computed once (``[batch, kv_heads, source_len, d_k]`` each) and
            reuses at every step; set by :class:`~d2lmha.TransformerDecoderBlock`.

    Raises (in :meth:`check` and :meth:`update`, before anything is stored):
        TypeError: keys or values not floating tensors.
        ValueError: not 4-D, K and V of different shapes, or a batch size, K/V head count,
            head size, dtype or device other than the cached ones.

    Source: see the module docstring.
    """

    def __init__(self):
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.source: tuple[torch.Tensor, torch.Tensor] | None = None
        self.source_key: tuple | None = None  # which enc_outputs ``source`` came from

    @property
    def cached_len(self) -> int:
        """Number of tokens cached (0 when empty)."""
        return 0 if self.keys is None else self.keys.shape[2]

    def __len__(self) -> int:
        return self.cached_len

    def __repr__(self) -> str:
        shape = None if self.keys is None else list(self.keys.shape)
        return (
            f"KVCache(cached_len={self.cached_len}, keys={shape}, source={self.source is not None})"
        )

    def check(self, batch: int, kv_heads: int, head_size: int) -> None:
        """Raise ``ValueError`` unless new entries ``[batch, kv_heads, n, head_size]`` fit."""
        if self.keys is not None and (batch, kv_heads, head_size) != (
            self.keys.shape[0],
            self.keys.shape[1],
            self.keys.shape[3],
        ):
            raise ValueError(
                f"cache holds keys of shape {list(self.keys.shape)} ([batch, kv_heads, "
                f"cached_len, d_k]) but the new ones are for batch={batch}, "
                f"kv_heads={kv_heads}, d_k={head_size}; use one KVCache per layer and "
                f"sequence batch"
            )

    def update(self, K: torch.Tensor, V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``K`` and ``V`` (``[batch, kv_heads, new, d_k]``) and return all so far.

        Returns:
            ``(keys, values)``, ``[batch, kv_heads, cached_len + new, d_k]`` each.
        """
        check_tensor("K", K, ndim_min=4)
        check_tensor("V", V, ndim_min=4)
        if K.dim() != 4 or K.shape != V.shape:
            raise ValueError(
                f"K and V must both be [batch, kv_heads, new, d_k], got "
                f"{list(K.shape)} and {list(V.shape)}"
            )
        self.check(K.shape[0], K.shape[1], K.shape[3])
        if self.keys is not None and (K.dtype, K.device) != (self.keys.dtype, self.keys.device):
            raise ValueError(
                f"cache holds {self.keys.dtype} on {self.keys.device}, new keys "
                f"are {K.dtype} on {K.device}"
            )
        if self.keys is None:
            self.keys, self.values = K, V
        else:
            self.keys = torch.cat([self.keys, K], dim=2)
            self.values = torch.cat([self.values, V], dim=2)
        return self.keys, self.values

    def reorder(self, indices: torch.Tensor) -> None:
        """Keep, for each row ``i`` of the batch, the cached tokens of row ``indices[i]``.

        Beam search calls it after choosing each step's beams: beam ``i`` continues the
        sequence of beam ``indices[i]``, so its cached keys and values must become that
        beam's (several beams may continue the same one; some are dropped). The keys and
        values are index-selected along the batch axis (new tensors; the old ones are not
        changed in place).

        The cross-attention's ``source`` is kept as it is: reorder only among rows that
        read the same source (as the beams of one input do, where the source was
        repeated ``beam_size`` times), or start a new cache. A reorder cannot check this
        cheaply, so it is the caller's contract (d2lmha.decoding.beam_search keeps it).

        Args:
            indices: int64 ``[batch]``, values in ``0..batch-1``, on the cache's device.

        Raises (before anything is changed):
            RuntimeError: the cache is empty (nothing to reorder).
            TypeError: ``indices`` not an integer tensor.
            ValueError: ``indices`` not ``[batch]`` or a value outside ``0..batch-1``.

        Source: the beam reordering of fairseq's ``reorder_incremental_state`` and Hugging
        Face's ``Cache.reorder_cache(beam_idx)``.
        """
        if self.keys is None:
            raise RuntimeError("the cache is empty: nothing to reorder")
        batch = self.keys.shape[0]
        check_int_tensor("indices", indices, shape=(batch,))
        if batch and (int(indices.min()) < 0 or int(indices.max()) >= batch):
            raise ValueError(
                f"indices must lie in 0..{batch - 1}, got values "
                f"{int(indices.min())}..{int(indices.max())}"
            )
        indices = indices.to(self.keys.device)
        self.keys = self.keys.index_select(0, indices)
        self.values = self.values.index_select(0, indices)

    def nbytes(self) -> int:
        """Bytes held: the cached keys and values plus the source pair, if any."""
        tensors = [t for t in (self.keys, self.values) if t is not None]
        tensors += list(self.source or ())
        return sum(t.numel() * t.element_size() for t in tensors)
