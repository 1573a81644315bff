"""The course's editions: English, which the code and every other edition are made from, and
each translation, described once.

A translated edition lives in a folder named by its code in each notebook folder
(``notebooks/zh/``, ``solutions/zh/``, ``exercises/zh/``) and is made from the English
notebooks and ``translations/<code>/`` by ``python -m tools.zh`` (``--edition <code>``). Every
place that treats editions differently reads this registry: the tools (twins, set-up cells,
badges, slides, links), the fonts registered on ``import d2lmha`` (:mod:`.fonts`), the grader
(which edition a submission is, the language it answers in: :mod:`.grading.messages`,
:mod:`.grading.feedback`), ``make lab LANG=…`` (the Makefile's ``EDITIONS``) and the
``pyproject.toml`` extra a notebook's set-up cell installs (``tests/test_zh.py`` checks that
the Makefile and ``pyproject.toml`` agree with it). A new edition is a translation folder and
an entry in :data:`TRANSLATED`, plus its words in the grader's catalog and the feedback page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Edition", "ENGLISH", "TRANSLATED", "edition", "codes"]


@dataclass(frozen=True)
class Edition:
    """One edition of the course.

    Attributes:
        code: its language code, also its folder (``"zh"``); ``"en"`` for English.
        name: the language's own name (``"中文"``).
        locales: the ``LANG`` prefixes that open it with ``make lab`` (``zh_CN.UTF-8``…).
        extra: the ``pyproject.toml`` extra its notebooks install ("" for none).
        font_family: the font matplotlib falls back to for its figure labels ("" for none).
        font_module, font_file: the PyPI package (a module name) shipping that font and the
            font file inside it.
        script: a regex character class of its script, e.g. ``[\\u4e00-\\u9fff]``: a text in
            this edition has such characters ("" for English).
        join_lines: a regex character class between two of whose characters a line break in
            a paragraph is removed (Markdown renders it as a space: a stray gap in Chinese
            or Japanese); "" to keep line breaks.
        setup_comment: the first lines of a notebook's set-up cell (comments, in its
            language), with ``{ref}`` (the ref it installs from) and, optionally, ``{mark}``
            (English's first words, ``# Set-up for Colab``). The cell is found by its id.
    """

    code: str
    name: str
    locales: tuple = ()
    extra: str = ""
    font_family: str = ""
    font_module: str = ""
    font_file: str = ""
    script: str = ""
    join_lines: str = ""
    setup_comment: str = ""

    @property
    def folder(self) -> str:
        """Its folder under ``notebooks/`` and the others: "" for English, else its code."""
        return "" if self is ENGLISH else self.code

    def in_script(self, text: str) -> int:
        """How many characters of ``text`` are in this edition's script (0 for English)."""
        return len(re.findall(self.script, text)) if self.script else 0


ENGLISH = Edition(
    code="en",
    name="English",
    locales=("en",),
    setup_comment=(
        "{mark} (or any Jupyter without the course): installs d2lmha from its\n"
        "# repository at {ref}. Where d2lmha is installed (make lab, Binder) it does nothing.\n"
    ),
)

# CJK symbols and punctuation, unified ideographs, full-width forms
_CJK = "[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"

TRANSLATED: dict[str, Edition] = {
    "zh": Edition(
        code="zh",
        name="中文",
        locales=("zh",),
        extra="zh",
        font_family="Noto Sans CJK SC",
        font_module="mplfonts",
        font_file="fonts/NotoSansCJKsc-Regular.otf",
        script="[\u4e00-\u9fff]",
        join_lines=_CJK,
        setup_comment=(
            "# 在 Colab（或任何未安装本课程的 Jupyter）中的准备：从仓库的 {ref} 安装 d2lmha。\n"
            "# 已安装 d2lmha 时（make lab、Binder）这个单元格什么也不做。\n"
        ),
    ),
}


def codes() -> list[str]:
    """The codes of the translated editions, sorted (``["zh"]``)."""
    return sorted(TRANSLATED)


def edition(code: str) -> Edition:
    """The edition with ``code`` (``"en"`` or ``""`` for English).

    Raises:
        ValueError: no such edition (the known codes named).
    """
    if code in ("", "en"):
        return ENGLISH
    if code not in TRANSLATED:
        raise ValueError(f"edition={code!r} is not one of {['en', *codes()]}")
    return TRANSLATED[code]
