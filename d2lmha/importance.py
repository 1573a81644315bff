"""Head importance: gates ξ on heads, gradient scores, leave-one-out ablation, pruning curves.

Every head's output is multiplied by a gate ξ_h (``head_mask`` in
:class:`~d2lmha.MultiHeadAttention` and :class:`~d2lmha.BERTEncoder`). At ξ = 1 the model
is unchanged; ξ_h = 0 removes head h. Michel, Levy & Neubig (2019), "Are Sixteen Heads
Really Better than One?", score a head by how strongly the loss reacts to its gate,

    I_h = E_x | ∂L(x) / ∂ξ_h |   at ξ = 1,

which one forward and one backward pass per batch give for all heads at once, and
prune the heads with the smallest scores first. The first-order Taylor estimate of the
loss change when head h is removed (ξ_h: 1 -> 0) is ``-∂L/∂ξ_h``; leave-one-out ablation
measures that change exactly, at the cost of one forward pass per head.

The loss and the quality measures used on the real model are in :mod:`d2lmha.paraphrases`.

Source: Michel et al. (2019) section 4 (head importance, ℓ2 normalisation by layer);
d2l.ai section 11.5, exercise "design an experiment to measure head importance".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from ._checks import check_positive_int, check_tensor

__all__ = [
    "head_gradients",
    "head_importance",
    "normalize_by_layer",
    "ablation_scores",
    "pruning_order",
    "pruning_masks",
    "pruning_curve",
    "random_order",
    "load_random_pruning_study",
]


def _check_shape(shape) -> tuple[int, ...]:
    """``shape`` of the gate: ``(heads,)`` or ``(layers, heads)``, positive ints."""
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if not isinstance(shape, tuple) or len(shape) not in (1, 2):
        raise ValueError(f"shape must be a tuple (heads,) or (layers, heads), got {shape!r}")
    for i, size in enumerate(shape):
        check_positive_int(f"shape[{i}]", size)
    return shape


def _check_loss_inputs(loss_fn, batches, shape) -> tuple[list, tuple[int, ...]]:
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable as loss_fn(head_mask, batch), got {type(loss_fn).__name__}"
        )
    shape = _check_shape(shape)
    if not isinstance(batches, Iterable) or isinstance(batches, (str, bytes)):
        raise TypeError(
            f"batches must be an iterable of batches (e.g. a list), got {type(batches).__name__}"
        )
    batches = list(batches)
    if not batches:
        raise ValueError("batches is empty; expected at least one batch")
    return batches, shape


def _scalar_loss(loss, where: str) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        raise TypeError(
            f"loss_fn must return a floating scalar tensor, got "
            f"{type(loss).__name__} {getattr(loss, 'shape', '')} ({where})"
        )
    return loss.reshape(())


def head_gradients(
    loss_fn: Callable, batches: Iterable, shape, device=None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The gradient of the loss with respect to every gate, ``∂L_b/∂ξ`` at ξ = 1, per batch.

    Args:
        loss_fn: ``loss_fn(head_mask, batch) -> scalar tensor``; must pass ``head_mask``
            (a tensor of ``shape``) to the model, e.g. ``model(X, head_mask=head_mask)``.
            The model should be in eval mode (no dropout), so the loss is deterministic.
        batches: iterable of batches handed to ``loss_fn`` one at a time.
        shape: the gate's shape, ``(layers, heads)`` for an encoder or ``(heads,)`` for
            one layer.
        device: where the gate lives (default CPU; use the model's device).
        dtype: the gate's dtype.

    Returns:
        ``[num_batches, *shape]``, signed gradients, ``dtype``. One forward and one
        backward pass per batch; only the gate's gradient is taken
        (:func:`torch.autograd.grad`), so no ``.grad`` of the model is touched.

    Raises:
        TypeError: ``loss_fn`` not callable; ``batches`` not iterable; ``loss_fn`` does not
            return a floating scalar tensor.
        ValueError: bad ``shape``; no batches; the loss does not depend on the gate.

    Source: Michel et al. (2019) section 4.1.
    """
    batches, shape = _check_loss_inputs(loss_fn, batches, shape)
    grads = []
    for b, batch in enumerate(batches):
        gate = torch.ones(shape, device=device, dtype=dtype, requires_grad=True)
        loss = _scalar_loss(loss_fn(gate, batch), f"batch {b}")
        if not loss.requires_grad:
            raise ValueError(
                "the loss does not depend on head_mask: pass it to the model "
                "and do not compute the loss under torch.no_grad()"
            )
        (grad,) = torch.autograd.grad(loss, gate, allow_unused=True)
        if grad is None:
            raise ValueError(
                "the loss does not depend on head_mask: loss_fn must pass head_mask to the model"
            )
        grads.append(grad.detach())
    return torch.stack(grads)


def normalize_by_layer(importance: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Divide each layer's scores by their ℓp norm, so layers are comparable.

    Args:
        importance: ``[layers, heads]`` (or ``[heads]``: one layer), floating.
        p: the norm's order (> 0); Michel et al. use ℓ2.

    Returns:
        Same shape and dtype; every row has ℓp norm 1, except a row of zeros, which stays
        zeros (never NaN).

    Raises:
        TypeError: not a floating tensor. ValueError: not 1-D/2-D, or ``p <= 0``.

    Source: Michel et al. (2019) section 4.1 ("normalize the importance scores by layer").
    """
    check_tensor("importance", importance)
    if importance.dim() not in (1, 2):
        raise ValueError(
            f"importance must be [layers, heads] or [heads], got shape {list(importance.shape)}"
        )
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
        raise ValueError(f"p must be a number > 0, got {p!r}")
    norms = torch.linalg.vector_norm(importance, ord=p, dim=-1, keepdim=True)
    return importance / torch.where(norms > 0, norms, torch.ones_like(norms))


def head_importance(
    loss_fn: Callable,
    batches: Iterable,
    shape,
    normalize: bool = False,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Michel et al.'s importance ``I_h = mean over batches |∂L/∂ξ_h|``.

    The expectation is taken over the batches (with batches of one example it is the
    paper's per-example expectation; a loss with in-batch negatives, like
    :func:`contrastive_loss`, is only defined per batch).

    Args:
        loss_fn, batches, shape, device, dtype: as in :func:`head_gradients`.
        normalize: divide by the ℓ2 norm of each layer (:func:`normalize_by_layer`), as
            the paper does before ranking heads across layers.

    Returns:
        ``shape``, non-negative, ``dtype``.

    Raises:
        As :func:`head_gradients`.

    Source: Michel et al. (2019) section 4.1, eq. for I_h.
    """
    scores = head_gradients(loss_fn, batches, shape, device, dtype).abs().mean(0)
    return normalize_by_layer(scores) if normalize else scores


@torch.no_grad()
def ablation_scores(
    loss_fn: Callable,
    batches: Iterable,
    shape,
    device=None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> torch.Tensor:
    """Leave-one-out: the loss change when head h alone is removed, ``L(ξ_h = 0) - L(ξ = 1)``.

    Args:
        loss_fn, batches, shape, device, dtype: as in :func:`head_gradients` (the loss
            need not carry gradients: it runs under ``torch.no_grad()``).
        progress: show a ``tqdm.auto`` bar over the heads.

    Returns:
        ``shape``: mean over batches of the loss change in the loss's units (positive =
        the model gets worse without that head). Costs ``(1 + heads) × batches`` forward
        passes.

    Raises:
        As :func:`head_gradients`, except that a loss that does not depend on the gate is
        not detected (every score is then 0).

    Source: Michel et al. (2019) section 2 (ablating one head at a time).
    """
    from tqdm.auto import tqdm

    batches, shape = _check_loss_inputs(loss_fn, batches, shape)
    gate = torch.ones(shape, device=device, dtype=dtype)
    base = [_scalar_loss(loss_fn(gate, batch), f"batch {b}") for b, batch in enumerate(batches)]
    changes = torch.zeros(math.prod(shape), dtype=dtype, device=device)
    for h in tqdm(range(changes.numel()), desc="ablating heads", disable=not progress):
        gate.view(-1)[h] = 0.0
        losses = [
            _scalar_loss(loss_fn(gate, batch), f"batch {b}") for b, batch in enumerate(batches)
        ]
        changes[h] = torch.stack(losses).mean() - torch.stack(base).mean()
        gate.view(-1)[h] = 1.0
    return changes.view(shape)


def pruning_order(scores: torch.Tensor, descending: bool = False) -> torch.Tensor:
    """Flat head indices, the head to prune first first.

    Args:
        scores: importance ``[layers, heads]`` or ``[heads]`` (any real dtype).
        descending: prune the *most* important heads first (the "reverse order" control).

    Returns:
        int64 ``[layers·heads]``: a permutation of ``0..layers·heads-1`` (flat index
        ``layer·heads + head``), lowest score first; ties keep index order.

    Raises:
        TypeError: not a floating tensor. ValueError: not 1-D/2-D or contains NaN.
    """
    check_tensor("scores", scores)
    if scores.dim() not in (1, 2):
        raise ValueError(
            f"scores must be [layers, heads] or [heads], got shape {list(scores.shape)}"
        )
    if torch.isnan(scores).any():
        raise ValueError("scores contains NaN; a pruning order needs comparable numbers")
    return torch.sort(scores.flatten(), descending=descending, stable=True).indices


def pruning_masks(order: torch.Tensor, shape, counts: Iterable[int]) -> torch.Tensor:
    """Gates with the first ``k`` heads of ``order`` removed, for each ``k`` in ``counts``.

    Args:
        order: int64 permutation of ``0..prod(shape)-1`` (e.g. from :func:`pruning_order`
            or ``torch.randperm``).
        shape: ``(layers, heads)`` or ``(heads,)``.
        counts: numbers of heads to remove, each in ``0..prod(shape)``.

    Returns:
        float32 ``[len(counts), *shape]`` on ``order``'s device: 1 = kept, 0 = removed.

    Raises:
        TypeError: ``order`` not an integer tensor, a count not an int.
        ValueError: ``order`` not a permutation of the heads, a count out of range.
    """
    shape = _check_shape(shape)
    n = math.prod(shape)
    if (
        not isinstance(order, torch.Tensor)
        or order.is_floating_point()
        or order.dtype == torch.bool
    ):
        raise TypeError("order must be an integer torch.Tensor of flat head indices")
    if order.shape != (n,) or not torch.equal(order.sort().values.cpu(), torch.arange(n)):
        raise ValueError(
            f"order must be a permutation of 0..{n - 1} (one entry per head of "
            f"shape {shape}), got shape {list(order.shape)}"
        )
    counts = list(counts)
    for k in counts:
        check_positive_int("counts entry", k, minimum=0)
        if k > n:
            raise ValueError(f"cannot remove {k} heads: shape {shape} has {n}")
    masks = torch.ones(len(counts), n, device=order.device)
    for i, k in enumerate(counts):
        masks[i, order[:k]] = 0.0
    return masks.view(len(counts), *shape)


def pruning_curve(
    evaluate: Callable, order: torch.Tensor, shape, counts: Iterable[int], progress: bool = False
):
    """Evaluate the model with the first ``k`` heads of ``order`` masked, for each ``k``.

    Args:
        evaluate: ``evaluate(head_mask) -> float`` or ``-> dict[str, float]`` (several
            measures), e.g. accuracy on held-out data.
        order, shape, counts: as in :func:`pruning_masks`.
        progress: show a ``tqdm.auto`` bar.

    Returns:
        ``pandas.DataFrame``, one row per count: ``pruned`` (heads removed),
        ``fraction`` (of all heads), then the measure(s) (column ``value`` for a float).

    Raises:
        TypeError: ``evaluate`` not callable; as :func:`pruning_masks`.

    Source: Michel et al. (2019) section 4.2 (pruning by increasing importance).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if not callable(evaluate):
        raise TypeError(f"evaluate must be callable, got {type(evaluate).__name__}")
    counts = list(counts)
    masks = pruning_masks(order, shape, counts)
    rows = []
    for k, mask in zip(counts, tqdm(masks, desc="pruning", disable=not progress), strict=True):
        value = evaluate(mask)
        measures = dict(value) if isinstance(value, dict) else {"value": float(value)}
        rows.append({"pruned": k, "fraction": k / math.prod(shape), **measures})
    return pd.DataFrame(rows)


def random_order(num_heads: int, seed: int, device=None) -> torch.Tensor:
    """A random pruning order (the control of a pruning curve), the same on every device.

    Args:
        num_heads: how many heads (all layers together). seed: non-negative int.
        device: where to put the result (drawn on the CPU first).

    Returns:
        int64 ``[num_heads]``: ``torch.randperm`` with a generator seeded by ``seed``.

    Raises:
        TypeError / ValueError: ``num_heads`` not a positive int, ``seed`` not an int >= 0.
    """
    check_positive_int("num_heads", num_heads)
    check_positive_int("seed", seed, minimum=0)
    order = torch.randperm(num_heads, generator=torch.Generator().manual_seed(seed))
    return order.to(device)


def load_random_pruning_study():
    """Chapter 05's stored pruning curves of all-MiniLM-L6-v2 in five random orders.

    Made by ``python -m tools.pruning_study`` and shipped in
    ``d2lmha/data/random_pruning_study.csv``: for each seed 0-4, the heads of
    :func:`random_order` ``(72, seed)`` removed 18, 36 and 54 at a time (25, 50, 75 %), and the
    pruned model's sentence embeddings of chapter 05's 60 evaluation sentences (the second
    half of :func:`~d2lmha.paraphrases.load_paraphrases`) compared with the full model's.
    Columns: ``seed``, ``pruned``, ``fraction``, ``cosine`` and ``spearman``
    (:func:`~d2lmha.paraphrases.embedding_agreement`), ``retrieval``
    (:func:`~d2lmha.paraphrases.retrieval_accuracy`). ``tests/test_importance.py`` recomputes
    a stored row and checks it agrees.

    Raises:
        FileNotFoundError: the CSV is missing from the installed package.
    """
    from importlib import resources

    import pandas as pd

    with resources.files("d2lmha").joinpath("data", "random_pruning_study.csv").open() as file:
        return pd.read_csv(file)
