"""``show_heatmaps``: attention weights ``[batch, heads, queries, keys]`` as a grid of panels.

Source: d2l.ai section 11.1 (``show_heatmaps``), with one colour scale shared by all
panels (d2l's colour bar is taken from the last panel only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["show_heatmaps", "to_numpy"]


def to_numpy(X) -> np.ndarray:
    """A tensor (any device, grad or not, any float dtype) or array-like -> float ndarray."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(X, torch.Tensor):
        return X.detach().to("cpu", torch.float32).numpy()
    return np.asarray(X, dtype=np.float64)


def _panel_titles(titles, num_rows: int, num_cols: int):
    """``titles`` (one per column, or one list per row) -> a title for every panel, or None."""
    if titles is None:
        return None
    if len(titles) == num_cols and all(isinstance(t, str) for t in titles):
        return [list(titles)] * num_rows
    if len(titles) == num_rows and all(
        not isinstance(r, str) and len(r) == num_cols for r in titles
    ):
        return [list(r) for r in titles]
    raise ValueError(
        f"titles must hold one title per column ({num_cols}) or one list of "
        f"{num_cols} titles per row ({num_rows} rows)"
    )


def show_heatmaps(
    matrices,
    xlabel: str,
    ylabel: str,
    titles: Sequence | None = None,
    figsize=(2.5, 2.5),
    cmap: str = "Reds",
    *,
    row_labels: Sequence[str] | None = None,
    xticklabels=None,
    yticklabels=None,
    vmin: float | None = None,
    vmax: float | None = None,
):
    """Draw a grid of heatmaps sharing one colour scale, with one colour bar.

    Args:
        matrices: ``[rows, cols, queries, keys]``, e.g. ``[batch, heads, q, k]`` attention
            weights (row = batch item, column = head). ``[heads, q, k]`` is drawn as one
            row, ``[q, k]`` as one panel. A ``torch.Tensor`` on any device (requiring grad
            or not) or anything ``numpy.asarray`` accepts.
        xlabel, ylabel: axis labels (shown on the bottom row / first column).
        titles: one title per column (d2l's convention), e.g. ``["head 0", ...]``, or one
            list per row with a title for every panel.
        row_labels: one label per row (e.g. ``["sequence 0", "sequence 1"]``), written
            above ``ylabel`` in the first column.
        figsize: ``(width, height)`` of the whole figure in inches.
        cmap: matplotlib colour map name.
        xticklabels, yticklabels: optional token strings for the key / query axes.
        vmin, vmax: colour range; by default the min and max over *all* panels, so the
            colour bar is true for every panel.

    Returns:
        The ``matplotlib.figure.Figure`` (call ``plt.show()`` or let Jupyter display it).

    Raises:
        ValueError: ``matrices`` is not 2-, 3- or 4-D, is empty, contains NaN/inf, or
            ``titles`` / ``row_labels`` / tick labels have the wrong length.

    Source: d2l.ai section 11.1.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    M = to_numpy(matrices)
    if M.ndim == 2:
        M = M[None, None]
    elif M.ndim == 3:
        M = M[None]
    if M.ndim != 4:
        raise ValueError(
            f"matrices must be [rows, cols, queries, keys] (or 2-D/3-D), got shape {list(M.shape)}"
        )
    if M.size == 0:
        raise ValueError(f"matrices is empty (shape {list(M.shape)})")
    if not np.isfinite(M).all():
        raise ValueError("matrices contains NaN or inf; attention weights should be finite")
    num_rows, num_cols, num_q, num_k = M.shape
    panel_titles = _panel_titles(titles, num_rows, num_cols)
    if row_labels is not None and len(row_labels) != num_rows:
        raise ValueError(
            f"row_labels has {len(row_labels)} entries; expected one per row ({num_rows})"
        )
    if xticklabels is not None and len(xticklabels) != num_k:
        raise ValueError(f"xticklabels has {len(xticklabels)} entries; expected {num_k} keys")
    if yticklabels is not None and len(yticklabels) != num_q:
        raise ValueError(f"yticklabels has {len(yticklabels)} entries; expected {num_q} queries")
    norm = Normalize(vmin=M.min() if vmin is None else vmin, vmax=M.max() if vmax is None else vmax)
    fig, axes = plt.subplots(
        num_rows, num_cols, figsize=figsize, sharex=True, sharey=True, squeeze=False
    )
    image = None
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            image = ax.imshow(M[i, j], cmap=cmap, norm=norm)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel if row_labels is None else f"{row_labels[i]}\n{ylabel}")
            if panel_titles is not None:
                ax.set_title(panel_titles[i][j])
            if xticklabels is not None:
                ax.set_xticks(range(num_k), xticklabels, rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(num_q), yticklabels)
    fig.colorbar(image, ax=axes, shrink=0.6)
    return fig
