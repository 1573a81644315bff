"""show_heatmaps: layout, one shared colour scale, inputs of every kind, errors."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from d2lmha import show_heatmaps  # noqa: E402


def _images(fig):
    return [im for ax in fig.axes for im in ax.get_images()]


def test_grid_and_shared_colour_scale(device):
    weights = torch.rand(2, 3, 4, 5, device=device, requires_grad=True)
    weights_np = weights.detach().cpu().numpy()
    weights_np[0, 0, 0, 0], weights_np[1, 2, 3, 4] = 0.0, 3.0  # extremes in different panels
    fig = show_heatmaps(
        torch.tensor(weights_np, device=device, requires_grad=True),
        "keys",
        "queries",
        titles=["h0", "h1", "h2"],
    )
    images = _images(fig)
    assert len(images) == 6
    assert {im.norm.vmin for im in images} == {0.0} and {im.norm.vmax for im in images} == {3.0}
    assert len(fig.axes) == 7  # 6 panels + 1 colour bar
    titles = [ax.get_title() for ax in fig.axes[:6]]
    assert titles == ["h0", "h1", "h2"] * 2
    np.testing.assert_allclose(images[5].get_array(), weights_np[1, 2])
    plt.close(fig)


@pytest.mark.parametrize("shape, panels", [((4, 5), 1), ((3, 4, 5), 3), ((2, 2, 4, 5), 4)])
def test_accepts_2d_3d_4d_and_arrays(shape, panels):
    fig = show_heatmaps(np.random.rand(*shape), "k", "q")
    assert len(_images(fig)) == panels
    plt.close(fig)


def test_titles_per_panel_and_row_labels():
    fig = show_heatmaps(
        torch.rand(2, 3, 2, 2),
        "keys",
        "queries",
        titles=[["a", "b", "c"], ["d", "e", "f"]],
        row_labels=["s0", "s1"],
    )
    assert [ax.get_title() for ax in fig.axes[:6]] == list("abcdef")
    assert fig.axes[0].get_ylabel() == "s0\nqueries" and fig.axes[3].get_ylabel() == "s1\nqueries"
    assert fig.axes[1].get_ylabel() == ""
    plt.close(fig)


def test_token_tick_labels():
    fig = show_heatmaps(
        torch.rand(1, 1, 2, 3), "k", "q", xticklabels=["a", "b", "c"], yticklabels=["x", "y"]
    )
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]
    plt.close(fig)


@pytest.mark.parametrize(
    "matrices, kwargs, text",
    [
        (torch.rand(1, 1, 1, 2, 2), {}, "rows, cols, queries, keys"),
        (torch.rand(1, 2, 3, 3), {"titles": ["only one"]}, "one title per column"),
        (torch.rand(2, 2, 3, 3), {"titles": [["a", "b"], ["c"]]}, "one title per column"),
        (torch.rand(2, 2, 3, 3), {"row_labels": ["only one"]}, "one per row"),
        (torch.tensor([[0.5, float("nan")]]), {}, "NaN"),
        (torch.rand(1, 1, 2, 3), {"xticklabels": ["a"]}, "xticklabels"),
    ],
)
def test_errors(matrices, kwargs, text):
    with pytest.raises(ValueError, match=text):
        show_heatmaps(matrices, "k", "q", **kwargs)
