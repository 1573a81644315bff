"""Every decimal number in a chapter's prose is printed by a cell (both editions).

A decimal (``0.92``, ``1.5``, ``−0.3``) in a markdown cell must appear among the numbers
that the outputs of the same notebook's code cells print, rounded to as many decimals as
the prose gives (prose ``0.92`` matches a printed ``0.9234``). When its sentence names
another chapter ("chapter 04", "第 4 章"), that chapter's outputs count too. Excepted by
rule, not by list:

- numbers that are not claims of a run: inside inline code, links and URLs;
- section numbers: dotted sequences (``11.7.2``) and decimals right after a section word
  (``§``, "section", "d2l", "d2l.ai", "chapter", "Eq.", "节", ...);
- cited sources: arXiv ids, and a paper's section after its citation ("Vaswani et al.
  (2017) 3.1", "(2017), section 3.2").

Text only (no kernel): about 1 s of CPU for the 16 notebooks.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "zh").glob("[0-9][0-9]_*.ipynb")
)

NUMBER = re.compile(r"(?<![\w.])[-−]?(\d+\.\d+)(?![\w.]*\.?\d)")
"""A decimal not part of a word or of a dotted sequence (``11.7.2``)."""
PRINTED = re.compile(r"\d+\.\d+(?:[eE][-+]?\d+)?")
NOT_PROSE = re.compile(
    r"`[^`]*`"  # inline code
    r"|\]\([^)]*\)"  # a link's target
    r"|https?://\S+"  # a bare URL
    r"|\$\$.*?\$\$|\$[^$]*\$"  # LaTeX: formulas, not measurements
    r"|<[^>]+>",  # HTML tags
    re.S,
)
SECTION_WORD = re.compile(
    r"(?:§|\bsections?|\bsec\.|\bd2l(?:\.ai)?|\bchapters?|\beq(?:uation)?\.?|\bfig(?:ure)?\.?"
    r"|\btable|\bappendix|\barxiv:?|节|章|式|图|表|附录)\s*(?:[\d.]+\s*(?:,|and|与|和|、|[–-])\s*)*$",
    re.I,
)
SECTION_AFTER = re.compile(r"^\s*(?:[–-]\s*[\d.]+\s*)?(?:节|章)")
"""Chinese puts the section word after the number: "10.5 节", "11.1–11.3 节"."""
HEADING = re.compile(r"^#+\s*$")
"""A markdown heading's own number: "### 2.1 A loop over heads"."""
CITATION = re.compile(r"(?:\(\d{4}[a-z]?\)|\d{4}[a-z]?\))[,\s]*(?:§|section|sec\.|第)?\s*$", re.I)
ANOTHER_CHAPTER = re.compile(r"(?:chapter|ch\.)\s*0?(\d)\b|第\s*0?(\d)\s*章", re.I)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n\s*\n|(?<=[。！？])")


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return _source({"source": output.get("text", "")})
    data = output.get("data", {})
    parts = [data.get(kind, "") for kind in ("text/plain", "text/html", "text/markdown")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


@lru_cache(maxsize=None)
def printed_numbers(path: Path) -> frozenset[str]:
    """Every decimal the code cells of ``path`` print, as written."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = "\n".join(
        _output_text(output)
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
    )
    return frozenset(PRINTED.findall(text))


def _is_printed(number: str, printed: frozenset[str]) -> bool:
    decimals = len(number.split(".")[1])
    target = float(number)
    for candidate in printed:
        value = abs(float(candidate))
        if candidate == number or f"{value:.{decimals}f}" == f"{target:.{decimals}f}":
            return True
    return False


def _chapter(path: Path, number: str) -> Path | None:
    matches = sorted(path.parent.glob(f"0{number}_*.ipynb"))
    return matches[0] if matches else None


def _sentences(text: str):
    start = 0
    for end in SENTENCE_END.finditer(text):
        yield start, text[start : end.start()]
        start = end.end()
    yield start, text[start:]


def violations(path: Path) -> list[str]:
    """``"cell N: <number> in '<sentence>'"`` for each unprinted prose decimal of ``path``."""
    path = Path(path)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        prose = NOT_PROSE.sub(lambda m: " " * len(m.group()), _source(cell))
        for _, sentence in _sentences(prose):
            others = [_chapter(path, a or b) for a, b in ANOTHER_CHAPTER.findall(sentence)]
            printed = printed_numbers(path).union(
                *(printed_numbers(p) for p in others if p is not None)
            )
            for match in NUMBER.finditer(sentence):
                before = sentence[max(0, match.start() - 40) : match.start()]
                line_start = sentence[: match.start()].rsplit("\n", 1)[-1]
                if (
                    SECTION_WORD.search(before)
                    or SECTION_AFTER.search(sentence[match.end() :])
                    or CITATION.search(before)
                    or HEADING.search(line_start)
                ):
                    continue
                if not _is_printed(match.group(1), printed):
                    context = " ".join(sentence.split())[:120]
                    found.append(f"cell {index}: {match.group(1)} in {context!r}")
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_prose_decimal_is_printed_by_a_cell(path):
    assert not violations(path), "\n".join(violations(path))


@pytest.mark.parametrize(
    "prose, expected",
    [
        ("Five seeds give 0.92 ± 0.05, not 0.93.", ["0.93"]),  # printed: 0.9234, 0.05
        ("It is 0.77 here.", ["0.77"]),
        ("See d2l 11.7 and §3.2, section 10.7.6 and chapter 4.", []),
        ("Vaswani et al. (2017) 3.1 and Xiong et al. (2020), section 3.2.", []),
        ("arXiv 1706.03762, `dropout=0.1`, [link](https://x.org/1.5), $0.5x$.", []),
        ("第 11.7 节说 0.77。", ["0.77"]),
        ("《动手学深度学习》10.5 节，11.1–11.3 节；sections 11.1–11.3.", []),
        ("### 2.1 A loop\nIt gives 0.5.", ["0.5"]),
    ],
)
def test_the_rule_on_examples(tmp_path, prose, expected):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": prose},
            {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "0.9234 0.05"}]},
        ]
    }
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert [v.split()[2] for v in violations(path)] == expected
