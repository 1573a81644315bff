"""Printed tables that line up in every language: padding by display width.

A CJK character takes two columns of a terminal or a notebook's monospaced output, a Latin
letter one; ``str.ljust`` and f-string alignment (``{name:<24}``) count characters, so a
Chinese label pads too far and the columns after it drift. :func:`ljust` and :func:`rjust`
count display columns instead (``wcwidth``, the same table IPython's terminal uses).

The labels of tables, figures and the head viewer, by language: :data:`LABELS`, :func:`label`
and :func:`relabel` (a translated view of a DataFrame whose column names the code reads).
"""

from __future__ import annotations

import re

import numpy as np

from ._checks import check_positive_int

__all__ = ["LABELS", "display_width", "label", "ljust", "relabel", "rjust"]


def display_width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font (a CJK character 2, a Latin letter 1).

    Raises:
        TypeError: ``text`` is not a str.
        ValueError: ``text`` holds a control character (no width; e.g. a newline).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    from wcwidth import wcswidth  # on first use: its tables take ~0.1 s to import

    width = wcswidth(text)
    if width < 0:
        raise ValueError(f"text={text!r} holds a control character, which has no display width")
    return width


def _pad(text: str, width: int) -> str:
    check_positive_int("width", width, minimum=0)
    return " " * max(0, width - display_width(text))


def ljust(text: str, width: int) -> str:
    """``text`` padded on the right with spaces to ``width`` display columns (never cut).

    ``ljust("头 2", 6)`` is ``"头 2  "``: 4 columns of text, 2 of padding.

    Raises:
        TypeError: ``text`` is not a str or ``width`` not an int.
        ValueError: ``width < 0``, or ``text`` holds a control character.
    """
    return text + _pad(text, width)


def rjust(text: str, width: int) -> str:
    """``text`` padded on the left with spaces to ``width`` display columns (never cut).

    Raises:
        TypeError: ``text`` is not a str or ``width`` not an int.
        ValueError: ``width < 0``, or ``text`` holds a control character.
    """
    return _pad(text, width) + text


# Labels the package and the chapters put on tables, figures and the head viewer, by language.
# English is the key (and what "en" shows); a chapter passes its edition's language code, so
# both editions run the same code and the 中文 one shows Chinese (a DataFrame's columns keep
# their English names for the code that reads them: relabel() returns a translated view).
LABELS: dict[str, dict[str, str]] = {
    "en": {},
    "zh": {
        # chapter 01: softmax saturation, two scoring functions
        "scaling": "缩放",
        "none": "不缩放",
        "/ sqrt(d)": "除以 √d",
        "max weight": "最大权重",
        "entropy": "熵",
        "gradient size": "梯度大小",
        "scoring": "评分函数",
        "dot product": "点积",
        "additive": "加性",
        "parameters": "参数量",
        "numbers per score": "每个分数用到的数",
        "spread across queries": "各查询间的差异",
        # chapters 04, 05, 07: training, head types, pruning, GQA
        "heads": "头数",
        "width": "维度",
        "steps": "步数",
        "seed": "随机种子",
        "loss": "损失",
        "accuracy": "准确率",
        "mean": "均值",
        "sd": "标准差",
        "min": "最小值",
        "max": "最大值",
        "type": "类型",
        "model": "模型",
        "layer": "层",
        "head": "头",
        "previous token": "前一词元",
        "next token": "后一词元",
        "same token": "相同词元",
        "[CLS] sink": "[CLS] 汇点",
        "broad": "宽泛",
        "cosine": "余弦相似度",
        "spearman": "秩相关",
        "retrieval": "检索准确率",
        "pruned": "移除的头数",
        "heads removed": "移除的头数",
        "K/V heads per layer": "每层 K/V 头数",
        # chapter 07: the K/V cache, GQA (values True/False of a "cache" column level too)
        "tokens": "词元数",
        "cache": "缓存",
        "True": "是",
        "False": "否",
        "median": "中位数",
        "std": "标准差",
        "K/V heads": "K/V 头数",
        "exact match": "精确匹配率",
        "MHA checkpoint": "MHA 检查点",
        "mean-pooled": "均值汇聚后",
        "after uptraining": "追加训练后",
        "cache as K/V heads per layer": "缓存相当于每层 K/V 头数",
        # chapter 00: the [CLS] sink; chapter 06: causality, alignment; chapter 08: search
        "uniform": "均匀分配",
        "[CLS] / uniform": "[CLS] / 均匀分配",
        "max change at positions <= t": "位置 ≤ t 处的最大变化",
        "max change after t": "t 之后的最大变化",
        "year": "年",
        "month": "月",
        "day": "日",
        "strategy": "策略",
        "beam k=2": "束 k=2",
        "beam k=4": "束 k=4",
        "beam k=8": "束 k=8",
        # the head viewer (d2lmha.viewer)
        "sentence": "句子",
        "query": "查询",
        "keys": "键",
        "queries": "查询",
        "attention weight": "注意力权重",
        "layer {layer}, head {head}": "第 {layer} 层，头 {head}",
        "top {k} keys for query {query}: {token!r}": "查询 {query}（{token!r}）权重最大的 {k} 个键",
        "[interactive head viewer: layer {layer}, head {head}, query {query} ({token!r}). "
        "Run the cell with a kernel to use its controls; a static figure of this view follows.]": (
            "[交互式注意力头查看器：第 {layer} 层，头 {head}，查询 {query}（{token!r}）。"
            "用内核运行这个单元格才能使用它的控件；下面是这个视图的静态图。]"
        ),
        # the lecture slides (tools/slides.py): a continuation slide's title, after the heading
        "(continued)": "（续）",
        # a chapter's links under its title (tools/notebooks.py)
        "Open in Colab": "在 Colab 中打开",
        "Launch on Binder": "在 Binder 上启动",
    },
}


def check_language(language) -> str:
    """Return ``language`` if :data:`LABELS` has it; raise otherwise.

    Raises:
        ValueError: ``language`` is not one of ``LABELS``' codes (``"en"``, ``"zh"``).
    """
    if language not in LABELS:
        raise ValueError(f"language={language!r} must be one of {sorted(LABELS)}")
    return language


def label(text: str, language: str = "en") -> str:
    """``text`` (an English label or a format template) in ``language``; itself if untranslated.

    ``label("max weight", "zh")`` is ``"最大权重"``. A label made of known labels joined by
    spaces, commas or colons (``"1 head: cosine"``) has each known part translated. A bool
    (Python's or NumPy's) is looked up as ``"True"`` or ``"False"``: ``label(True, "zh")``
    is ``"是"``.

    Raises:
        ValueError: unknown ``language``.
    """
    table = LABELS[check_language(language)]
    if isinstance(text, (bool, np.bool_)):  # a True/False label, e.g. the levels of "cache"
        return table.get(str(bool(text)), text)
    if not isinstance(text, str) or not table:
        return text
    if text in table:
        return table[text]
    parts = re.split(r"(: |, |：|，)", text)
    return "".join(table.get(p, p) for p in parts)


def relabel(frame, language: str = "en"):
    """A view of a pandas DataFrame or Series with its labels in ``language``.

    Column and index labels (every level, string ones only) and the axes' names are passed
    through :func:`label`; so are the cells of a column (or Series) that holds only bools
    (``True``/``False``, NumPy's too; missing values allowed), so a 中文 table shows 是/否.
    Other values and the original frame are untouched, so code that reads
    ``frame["max weight"]`` keeps working while the reader sees ``最大权重``. In English
    (``"en"``) the frame itself is returned: its bools show as ``True``/``False``.

    Raises:
        TypeError: ``frame`` is not a DataFrame or Series.
        ValueError: unknown ``language``.
    """
    import pandas as pd

    if not isinstance(frame, (pd.DataFrame, pd.Series)):
        raise TypeError(f"frame must be a pandas DataFrame or Series, got {type(frame).__name__}")
    check_language(language)
    if language == "en":
        return frame
    shown = frame.rename(lambda x: label(x, language))
    axes = [shown.index] + ([shown.columns] if isinstance(shown, pd.DataFrame) else [])
    for axis in axes:
        axis.names = [label(n, language) if isinstance(n, str) else n for n in axis.names]
    if isinstance(shown, pd.DataFrame):
        shown = shown.rename(columns=lambda x: label(x, language))
        for i in range(shown.shape[1]):  # by position: translated column names may repeat
            if _all_bools(shown.iloc[:, i]):
                shown.isetitem(i, shown.iloc[:, i].map(lambda v: label(v, language)))
    elif _all_bools(shown):
        shown = shown.map(lambda v: label(v, language))
    return shown


def _all_bools(values) -> bool:
    """Whether a pandas Series holds bools only (missing values aside) and at least one."""
    present = values.dropna()
    if values.dtype == bool:
        return len(present) > 0
    return (
        values.dtype == object
        and len(present) > 0
        and all(isinstance(v, (bool, np.bool_)) for v in present)
    )
