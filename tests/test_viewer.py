"""The interactive head viewer, driven without a browser."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from d2lmha import head_types  # noqa: E402
from d2lmha.viewer import head_viewer, top_attended  # noqa: E402

SENTENCE = "The cat chased the dog."


def test_top_attended_orders_and_breaks_ties_by_position():
    row = torch.tensor([0.1, 0.4, 0.1, 0.4])
    assert top_attended(row, list("abcd"), k=3) == [
        (1, "b", pytest.approx(0.4)),
        (3, "d", pytest.approx(0.4)),
        (0, "a", pytest.approx(0.1)),
    ]
    assert len(top_attended(row, list("abcd"), k=10)) == 4
    with pytest.raises(ValueError, match="one weight per token"):
        top_attended(row, list("abc"))
    with pytest.raises(ValueError, match="k=0"):
        top_attended(row, list("abcd"), k=0)


def test_viewer_builds_widgets_and_matches_the_model(minilm):
    model, tokenizer = minilm
    viewer = head_viewer(model, tokenizer, SENTENCE, layer=0, head=2, query=3)
    weights, batch = head_types.sentence_attentions(model, tokenizer, SENTENCE)
    assert viewer.tokens == batch["tokens"][0]
    assert (viewer.layer.max, viewer.head.max) == (5, 11)
    assert len(viewer.query.options) == len(viewer.tokens)
    # layer 0, head 2 is the previous-token head: query 3 looks at position 2
    assert viewer.top_tokens[0][:2] == (2, viewer.tokens[2])
    expected = top_attended(weights[0, 0, 2, 3], viewer.tokens, 5)
    assert [t[0] for t in viewer.top_tokens] == [t[0] for t in expected]
    image = viewer.figure.axes[0].get_images()[0]
    np.testing.assert_allclose(image.get_array(), weights[0, 0, 2].cpu().numpy(), atol=1e-6)
    titles = [ax.get_title() for ax in viewer.figure.axes]
    assert "layer 0, head 2" in titles
    plt.close(viewer.figure)


def test_update_and_controls_redraw(minilm):
    model, tokenizer = minilm
    viewer = head_viewer(model, tokenizer, SENTENCE)
    top = viewer.update(layer=4, head=5, query=1)
    assert viewer.top_tokens == top
    weights, _ = head_types.sentence_attentions(model, tokenizer, SENTENCE)
    assert top[0][0] == int(weights[4, 0, 5, 1].argmax())
    assert "layer 4, head 5" in [ax.get_title() for ax in viewer.figure.axes]
    viewer.head.value = 0  # what moving the slider does
    assert "layer 4, head 0" in [ax.get_title() for ax in viewer.figure.axes]
    viewer.text.value = "A much longer sentence with quite a few more words than before ."
    assert viewer.tokens[-1] == "[SEP]" and len(viewer.tokens) > 10
    assert viewer.figure.axes[0].get_images()[0].get_array().shape == (len(viewer.tokens),) * 2
    viewer.update(sentence="Hi.", query=40)  # the query is clamped to the new sentence
    assert viewer.query.value == len(viewer.tokens) - 1
    plt.close(viewer.figure)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"layer": 6}, "layer=6 must be an int in 0..5"),
        ({"head": -1}, "head=-1"),
        ({"top_k": 0}, "top_k=0"),
        ({"sentence": "  "}, "non-empty"),
    ],
)
def test_errors(minilm, kwargs, text):
    model, tokenizer = minilm
    args = {"sentence": SENTENCE, **kwargs}
    with pytest.raises(ValueError, match=text):
        head_viewer(model, tokenizer, **args)
    viewer = head_viewer(model, tokenizer, SENTENCE)
    if "layer" in kwargs or "head" in kwargs:
        with pytest.raises(ValueError, match=text):
            viewer.update(**kwargs)
    plt.close(viewer.figure)


def test_display_bundle_has_the_widget_and_a_readable_fallback(minilm):
    model, tokenizer = minilm
    viewer = head_viewer(model, tokenizer, SENTENCE, layer=2, head=9, query=2)
    bundle = viewer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == viewer.widget.model_id
    text = bundle["text/plain"]
    assert "VBox" not in text and "layer 2, head 9, query 2" in text
    assert repr(viewer.tokens[2]) in text
    viewer.update(layer=0, head=2)
    assert "layer 0, head 2" in viewer._repr_mimebundle_()["text/plain"]
    plt.close(viewer.figure)


def test_language_labels_every_control_and_the_figure(minilm):
    model, tokenizer = minilm
    viewer = head_viewer(model, tokenizer, SENTENCE, layer=2, head=9, query=2, language="zh")
    assert [viewer.text.description, viewer.layer.description, viewer.query.description] == [
        "句子",
        "层",
        "查询",
    ]
    ax_map, ax_top, _ = viewer.figure.axes  # matrix, the top keys, the colour bar
    assert ax_map.get_title() == "第 2 层，头 9" and ax_map.get_xlabel() == "键"
    assert ax_top.get_title().startswith("查询 2（'cat'）") and ax_top.get_xlabel() == "注意力权重"
    assert viewer._repr_mimebundle_()["text/plain"].startswith("[交互式注意力头查看器：第 2 层")
    plt.close(viewer.figure)
    with pytest.raises(ValueError, match="language='fr' must be one of"):
        head_viewer(model, tokenizer, SENTENCE, language="fr")
