"""d2lmha.text: padding by display width, and labels in the edition's language."""

import pandas as pd
import pytest

import d2lmha
from d2lmha import text


def test_padding_counts_display_columns():
    assert d2lmha.display_width("头 2") == 4 and d2lmha.ljust("头 2", 6) == "头 2  "
    assert d2lmha.rjust("ab", 4) == "  ab" and d2lmha.ljust("长长的标签", 3) == "长长的标签"
    rows = [d2lmha.ljust(name, 12) + "|" for name in ("无掩蔽", "valid_lens", "因果掩蔽")]
    assert {d2lmha.display_width(r) for r in rows} == {13}
    with pytest.raises(TypeError, match="text must be a str"):
        d2lmha.ljust(3, 4)
    with pytest.raises(ValueError, match="control character"):
        d2lmha.display_width("a\nb")
    with pytest.raises(ValueError, match="width=-1"):
        d2lmha.rjust("a", -1)


def test_relabel_is_a_translated_view():
    frame = pd.DataFrame(
        {"scaling": ["none", "/ sqrt(d)"], "max weight": [0.9, 0.2], "1 head: cosine": [1, 2]},
        index=pd.Index([1, 2], name="heads removed"),
    ).set_index("scaling", append=True)
    shown = d2lmha.relabel(frame, "zh")
    assert list(shown.columns) == ["最大权重", "1 head: 余弦相似度"]
    assert shown.index.names == ["移除的头数", "缩放"]
    assert list(shown.index.get_level_values(1)) == ["不缩放", "除以 √d"]
    assert list(frame.columns) == ["max weight", "1 head: cosine"], "the original is untouched"
    assert d2lmha.relabel(frame, "en") is frame
    assert (
        d2lmha.label("layer {layer}, head {head}", "zh").format(layer=2, head=9) == "第 2 层，头 9"
    )
    timings = pd.DataFrame({"tokens": [8, 8], "cache": [False, True], "ms": [2.0, 1.0]})
    wide = timings.groupby(["tokens", "cache"])["ms"].agg(["median"]).unstack("cache")
    shown = d2lmha.relabel(wide, "zh")
    assert list(shown.columns) == [("中位数", "否"), ("中位数", "是")], "bool labels too"
    assert shown.columns.names == [None, "缓存"] and shown.index.name == "词元数"
    assert wide[("median", False)].iloc[0] == 2.0, "the code still reads False"
    with pytest.raises(ValueError, match="language='xx'"):
        d2lmha.relabel(frame, "xx")
    with pytest.raises(TypeError, match="DataFrame or Series"):
        d2lmha.relabel([1], "zh")


def test_relabel_shows_bool_cells_as_yes_or_no_in_chinese():
    import numpy as np

    frame = pd.DataFrame(
        {
            "answer": ["1989-01-31", "2014-12-10"],
            "right": [False, True],
            "exact match": [np.bool_(True), None],  # object column: NumPy bools, a gap
            "loss": [0.5, 0.25],
            "mixed": [True, "x"],
        }
    )
    shown = d2lmha.relabel(frame.round(3), "zh")
    assert list(shown["right"]) == ["否", "是"] and shown["精确匹配率"].iloc[0] == "是"
    assert shown["精确匹配率"].isna().iloc[1] and list(shown["mixed"]) == [True, "x"]
    assert list(shown["损失"]) == [0.5, 0.25] and shown["answer"].iloc[0] == "1989-01-31"
    assert frame["right"].dtype == bool, "the original keeps its bools"
    assert d2lmha.relabel(frame, "en") is frame, "English shows True/False"
    assert list(d2lmha.relabel(pd.Series([True, False], name="cache"), "zh")) == ["是", "否"]
    assert list(d2lmha.relabel(pd.Series([], dtype=bool), "zh")) == []


def test_every_language_translates_the_same_labels_or_none():
    for code, table in text.LABELS.items():
        assert not table or set(table) == set(text.LABELS["zh"]), code
