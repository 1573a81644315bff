"""An interactive attention-head viewer (ipywidgets) that also leaves a static figure.

``head_viewer(model, tokenizer, sentence)`` builds a text box for the sentence, sliders for
the layer and the head, and a menu for the query token. Below them: the head's attention
matrix (queries down, keys across, the chosen query's row boxed) and a bar chart of the
keys that query attends to most. Everything is recomputed when a control changes.

``display(viewer)`` shows the widget (or, where no widget can run, a one-line description
instead of ipywidgets' ``VBox(...)`` repr). The figure is a ``matplotlib`` figure: in a
notebook cell that ends with ``plt.show()`` it is also drawn as a plain image, so the
notebook reads well without a kernel and nbval can execute it. Tests drive the viewer
without a browser: :meth:`HeadViewer.update` does what moving a control does.

Source: the per-head viewers of bertviz (Vig, 2019) and of the seed page on multi-head
attention (pick layer and head, list the top attended tokens); d2l.ai section 11.1
(``show_heatmaps``) for the matrix drawing.
"""

from __future__ import annotations

import numpy as np
import torch

from .head_types import sentence_attentions
from .plotting import to_numpy
from .text import check_language, label

__all__ = ["HeadViewer", "head_viewer", "top_attended"]

# What ``display(viewer)`` shows where no widget can run (a template of d2lmha.text.LABELS).
FALLBACK = (
    "[interactive head viewer: layer {layer}, head {head}, query {query} ({token!r}). "
    "Run the cell with a kernel to use its controls; a static figure of this view follows.]"
)


def top_attended(weights_row, tokens, k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` keys with the largest weights in one query's row, largest first.

    Args:
        weights_row: ``[keys]`` attention weights of one query (tensor or array).
        tokens: ``keys`` token strings.
        k: how many to return (fewer if there are fewer keys).

    Returns:
        A list of ``(key position, token, weight)``; ties keep the earlier position first.

    Raises:
        ValueError: ``weights_row`` is not 1-D, its length differs from ``tokens``, or
            ``k < 1``.
    """
    row = to_numpy(weights_row)
    if row.ndim != 1 or len(row) != len(tokens):
        raise ValueError(
            f"weights_row must be 1-D with one weight per token ({len(tokens)}), "
            f"got shape {list(row.shape)}"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be an int >= 1")
    order = np.argsort(-row, kind="stable")[:k]  # stable: ties keep the earlier key
    return [(int(j), tokens[j], float(row[j])) for j in order]


class HeadViewer:
    """Widget state and drawing for :func:`head_viewer` (see there for the arguments).

    Attributes:
        widget: the ``ipywidgets.VBox`` to display.
        figure: the ``matplotlib`` figure, redrawn in place on every change.
        weights: float32 CPU tensor ``[layers, heads, tokens, tokens]`` for the sentence.
        tokens: the sentence's token strings (with ``[CLS]`` and ``[SEP]``).
        top_tokens: :func:`top_attended` of the current layer, head and query.
    """

    def __init__(
        self,
        model,
        tokenizer,
        sentence: str,
        layer: int = 0,
        head: int = 0,
        query: int = 1,
        top_k: int = 5,
        figsize=(10, 4.2),
        language: str = "en",
    ):
        import ipywidgets as widgets

        self.language = check_language(language)

        if not isinstance(sentence, str) or not sentence.strip():
            raise ValueError(f"sentence must be a non-empty string, got {sentence!r}")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k={top_k!r} must be an int >= 1")
        self.model, self.tokenizer, self.top_k, self.figsize = model, tokenizer, top_k, figsize
        self.num_layers, self.num_heads = model.num_blks, model.num_heads
        for name, value, size in (
            ("layer", layer, self.num_layers),
            ("head", head, self.num_heads),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
                raise ValueError(f"{name}={value!r} must be an int in 0..{size - 1}")
        self.figure, self.top_tokens, self._holding = None, [], True
        self.text = widgets.Text(
            value=sentence,
            description=self._label("sentence"),
            continuous_update=False,
            layout=widgets.Layout(width="95%"),
        )
        self.layer = widgets.IntSlider(
            value=layer, min=0, max=self.num_layers - 1, description=self._label("layer")
        )
        self.head = widgets.IntSlider(
            value=head,
            min=0,
            max=self.num_heads - 1,
            description=self._label("head"),
        )
        self.query = widgets.Dropdown(description=self._label("query"))
        self.output = widgets.Output()
        self.widget = widgets.VBox(
            [self.text, widgets.HBox([self.layer, self.head, self.query]), self.output]
        )
        self._set_sentence(sentence, query)
        self._holding = False
        self.text.observe(self._on_sentence, names="value")
        for control in (self.layer, self.head, self.query):
            control.observe(self._on_control, names="value")
        self.draw()

    def _repr_mimebundle_(self, **kwargs):
        """What ``display(viewer)`` shows: the live widget, with a readable text fallback.

        A notebook front end shows the widget where it can (a running kernel, a trusted
        notebook). Where it cannot, for example in a notebook opened before it is run, it
        shows the ``text/plain`` entry instead: a sentence saying what the viewer is and
        how to get it, rather than ipywidgets' ``VBox(children=(...))`` repr.
        """
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self._label(
            FALLBACK,
            layer=self.layer.value,
            head=self.head.value,
            query=self.query.value,
            token=self.tokens[self.query.value],
        )
        return bundle

    def _label(self, text: str, **fields) -> str:
        """``text`` (an English label or template) in the viewer's language, filled in."""
        return label(text, self.language).format(**fields)

    def _set_sentence(self, sentence: str, query: int | None = None) -> None:
        weights, batch = sentence_attentions(self.model, self.tokenizer, sentence)
        self.weights = weights[:, 0].to("cpu", torch.float32)
        self.tokens = batch["tokens"][0]
        keep = self.query.value if query is None else query
        keep = 1 if keep is None else keep
        self.query.options = [(f"{i}: {t}", i) for i, t in enumerate(self.tokens)]
        self.query.value = min(max(keep, 0), len(self.tokens) - 1)

    def _on_sentence(self, change) -> None:
        if self._holding:
            return
        self._holding = True
        try:
            self._set_sentence(change["new"])
        finally:
            self._holding = False
        self.draw()

    def _on_control(self, change) -> None:
        if not self._holding:
            self.draw()

    def update(
        self,
        sentence: str | None = None,
        layer: int | None = None,
        head: int | None = None,
        query: int | None = None,
    ):
        """Change any control, as a user would, and redraw once.

        Args:
            sentence: new text (re-runs the model). layer, head: slider values.
            query: token position of the query (clamped to the sentence).

        Returns:
            :attr:`top_tokens` after the change.

        Raises:
            ValueError: ``layer`` or ``head`` out of range (checked before anything
                changes).
        """
        for name, value, size in (
            ("layer", layer, self.num_layers),
            ("head", head, self.num_heads),
        ):
            if value is not None and not (isinstance(value, int) and 0 <= value < size):
                raise ValueError(f"{name}={value!r} must be an int in 0..{size - 1}")
        self._holding = True
        try:
            if sentence is not None and sentence != self.text.value:
                self.text.value = sentence
                self._set_sentence(sentence)
            if layer is not None:
                self.layer.value = layer
            if head is not None:
                self.head.value = head
            if query is not None:
                self.query.value = min(max(int(query), 0), len(self.tokens) - 1)
        finally:
            self._holding = False
        self.draw()
        return self.top_tokens

    def draw(self):
        """Redraw the figure for the current controls; returns the figure."""
        import matplotlib.pyplot as plt
        from IPython.display import clear_output, display
        from matplotlib.patches import Rectangle

        layer, head, q = self.layer.value, self.head.value, self.query.value
        matrix = self.weights[layer, head].numpy()
        self.top_tokens = top_attended(matrix[q], self.tokens, self.top_k)
        if self.figure is None:
            self.figure = plt.figure(figsize=self.figsize)
        self.figure.clear()
        ax_map, ax_top = self.figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        n = len(self.tokens)
        image = ax_map.imshow(matrix, cmap="Reds", vmin=0.0, vmax=1.0)
        ax_map.set_xticks(range(n), self.tokens, rotation=90, fontsize=8)
        ax_map.set_yticks(range(n), self.tokens, fontsize=8)
        ax_map.add_patch(Rectangle((-0.5, q - 0.5), n, 1, fill=False, edgecolor="black", lw=1.5))
        ax_map.set(
            xlabel=self._label("keys"),
            ylabel=self._label("queries"),
            title=self._label("layer {layer}, head {head}", layer=layer, head=head),
        )
        self.figure.colorbar(image, ax=ax_map, shrink=0.8)
        labels = [f"{j}: {token}" for j, token, _ in self.top_tokens]
        ax_top.barh(labels, [w for _, _, w in self.top_tokens], color="tab:red")
        ax_top.invert_yaxis()
        ax_top.set(
            xlim=(0, 1),
            xlabel=self._label("attention weight"),
            title=self._label(
                "top {k} keys for query {query}: {token!r}",
                k=len(labels),
                query=q,
                token=self.tokens[q],
            ),
        )
        self.figure.tight_layout()
        with self.output:
            clear_output(wait=True)
            display(self.figure)
        return self.figure


def head_viewer(
    model,
    tokenizer,
    sentence: str,
    layer: int = 0,
    head: int = 0,
    query: int = 1,
    top_k: int = 5,
    figsize=(10, 4.2),
    language: str = "en",
) -> HeadViewer:
    """Build an interactive viewer of one attention head on a sentence.

    Args:
        model, tokenizer: an encoder and tokenizer from :func:`~d2lmha.load_minilm`
            (any :class:`~d2lmha.BERTEncoder` with a matching ``tokenizers`` tokenizer).
        sentence: the text shown first (the text box can change it).
        layer, head: the first layer and head shown.
        query: position of the query token whose top keys are listed (1 = the first
            word after ``[CLS]``).
        top_k: how many keys to list. figsize: figure size in inches.
        language: the language of the controls' and the figure's labels, a code of
            :data:`d2lmha.text.LABELS` (``"en"``; the 中文 edition passes ``"zh"``).

    Returns:
        A :class:`HeadViewer`; ``display(viewer)`` shows its widget (with a readable
        fallback where widgets cannot run), and ending the cell with ``plt.show()`` leaves
        a static figure of the first view. Drive a second viewer from code if the displayed
        one should keep matching that figure.

    Raises:
        ValueError: empty sentence, ``layer``/``head`` out of range, ``top_k < 1``, unknown
            ``language``.
        ModuleNotFoundError: ipywidgets is not installed.

    Source: see this module's docstring.
    """
    return HeadViewer(model, tokenizer, sentence, layer, head, query, top_k, figsize, language)
