"""Argument checks shared by the package: each raises before any work is done.

Every message names the argument, the value received and what was expected, so a
learner can fix the call without reading the traceback.
"""

from __future__ import annotations

import torch

__all__ = [
    "check_tensor",
    "check_valid_lens",
    "check_mask",
    "check_positive_int",
    "check_generator",
    "check_real",
    "check_int_tensor",
]


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` if it is an ``int`` >= ``minimum``; raise otherwise.

    Raises:
        TypeError: ``value`` is not an int (bools are refused too).
        ValueError: ``value < minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}")
    return value


def check_generator(generator) -> torch.Generator | None:
    """Return ``generator`` as a ``torch.Generator`` (an int is a seed) or ``None``.

    Raises:
        TypeError: ``generator`` is neither a ``torch.Generator``, an int (bools refused)
            nor ``None``.
    """
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, an int seed or None, "
            f"got {type(generator).__name__}"
        )
    return generator


def check_tensor(name: str, X, ndim_min: int = 1, floating: bool = True) -> torch.Tensor:
    """Return ``X`` if it is a tensor with at least ``ndim_min`` dims (floating if asked).

    Raises:
        TypeError: ``X`` is not a ``torch.Tensor`` or, with ``floating=True``, its dtype
            is not a floating-point dtype.
        ValueError: ``X.dim() < ndim_min``.
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(X).__name__}")
    if floating and not X.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {X.dtype}")
    if X.dim() < ndim_min:
        raise ValueError(
            f"{name} must have at least {ndim_min} dimensions, got shape {tuple(X.shape)}"
        )
    return X


def check_valid_lens(valid_lens, batch: int, num_queries: int, num_keys: int) -> torch.Tensor:
    """Check d2l-style ``valid_lens`` against scores of shape ``[batch, ..., queries, keys]``.

    Args:
        valid_lens: integer tensor ``[batch]`` (one length per sequence) or
            ``[batch, queries]`` (one length per query), values in ``0..num_keys``.
        batch, num_queries, num_keys: sizes of the scores it will mask.

    Returns:
        ``valid_lens`` unchanged.

    Raises:
        TypeError: not a tensor, or a float/bool dtype.
        ValueError: wrong shape, a negative value, or a value above ``num_keys``.
    """
    if not isinstance(valid_lens, torch.Tensor):
        raise TypeError(
            f"valid_lens must be an integer torch.Tensor of shape [{batch}] or "
            f"[{batch}, {num_queries}], got {type(valid_lens).__name__}"
        )
    if valid_lens.is_floating_point() or valid_lens.is_complex() or valid_lens.dtype == torch.bool:
        raise TypeError(f"valid_lens must have an integer dtype, got {valid_lens.dtype}")
    shape = tuple(valid_lens.shape)
    if shape not in ((batch,), (batch, num_queries)):
        raise ValueError(
            f"valid_lens has shape {list(shape)}; expected [{batch}] (one length per "
            f"sequence) or [{batch}, {num_queries}] (one per query)"
        )
    if valid_lens.numel():
        lo, hi = int(valid_lens.min()), int(valid_lens.max())
        if lo < 0:
            raise ValueError(f"valid_lens must be >= 0, got a value of {lo}")
        if hi > num_keys:
            raise ValueError(
                f"valid_lens must be <= the number of keys ({num_keys}), got a value of {hi}"
            )
    return valid_lens


def check_mask(mask, target_shape) -> torch.Tensor:
    """Check a boolean attention ``mask`` (True = may attend) broadcasts to ``target_shape``.

    Raises:
        TypeError: not a tensor, or not of dtype ``torch.bool``.
        ValueError: it does not broadcast to ``target_shape``.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.bool tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool (True = may attend), got {mask.dtype}")
    try:
        torch.broadcast_shapes(tuple(mask.shape), tuple(target_shape))
    except RuntimeError:
        raise ValueError(
            f"mask of shape {list(mask.shape)} does not broadcast to the scores' shape "
            f"{list(target_shape)} ([..., queries, keys])"
        ) from None
    if torch.broadcast_shapes(tuple(mask.shape), tuple(target_shape)) != tuple(target_shape):
        raise ValueError(
            f"mask of shape {list(mask.shape)} would enlarge the scores' shape {list(target_shape)}"
        )
    return mask


def check_real(
    name: str,
    value,
    minimum: float | None = None,
    maximum: float | None = None,
    open_minimum: bool = False,
) -> float:
    """Return ``value`` as a float if it is a finite real number in range; raise otherwise.

    Args:
        name: the argument's name, for the message. value: the number to check.
        minimum, maximum: bounds (``None``: unbounded); ``maximum`` is inclusive,
            ``minimum`` too unless ``open_minimum=True`` (then ``value > minimum``).

    Raises:
        TypeError: ``value`` is not an int or float (bools are refused too).
        ValueError: NaN, infinite, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    value = float(value)
    low_ok = minimum is None or (value > minimum if open_minimum else value >= minimum)
    if (
        value != value
        or value in (float("inf"), float("-inf"))
        or not low_ok
        or (maximum is not None and value > maximum)
    ):
        low = "" if minimum is None else f"{minimum} {'<' if open_minimum else '<='} "
        high = "" if maximum is None else f" <= {maximum}"
        bounds = f" with {low}{name}{high}" if low or high else ""
        raise ValueError(f"{name}={value}: expected a finite number{bounds}")
    return value


def check_int_tensor(name: str, X, shape: tuple | None = None) -> torch.Tensor:
    """Return ``X`` if it is an integer tensor (of ``shape``, if given); raise otherwise.

    Args:
        name: the argument's name, for the message. X: the tensor to check.
        shape: the expected shape (``None``: any); an entry ``None`` matches any size, so
            ``(4, None)`` is "4 rows, any number of columns".

    Raises:
        TypeError: ``X`` is not a ``torch.Tensor``, or its dtype is floating, complex or bool.
        ValueError: its shape is not ``shape``.
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be an integer torch.Tensor, got {type(X).__name__}")
    if X.is_floating_point() or X.is_complex() or X.dtype == torch.bool:
        raise TypeError(f"{name} must have an integer dtype, got {X.dtype}")
    if shape is not None and (
        X.dim() != len(shape)
        or any(w is not None and w != n for w, n in zip(shape, X.shape, strict=True))
    ):
        wanted = ", ".join("n" if w is None else str(w) for w in shape)
        raise ValueError(f"{name} must have shape [{wanted}], got {list(X.shape)}")
    return X
