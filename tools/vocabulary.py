"""The 中文 edition's one vocabulary: ``translations/zh/glossary.yml``, enforced.

    python -m tools.vocabulary check     # list every forbidden variant a Chinese reader would see
    python -m tools.vocabulary tables    # rewrite the glossary table (chapter 00, the guide)

The glossary file lists each term once: its English name, the one Chinese rendering the edition
uses (after d2l-zh) and the variants it must not use (``掩码`` where the glossary says
``掩蔽``, ``宽度`` for a dimension, ``et al.`` in Chinese prose…), plus optional regular
expressions for misuses no plain variant catches (an answer-option column headed ``键``).
What is checked is what a Chinese reader reads: the prose cells of ``notebooks/zh``,
``solutions/zh`` and ``exercises/zh`` (without their inline code, code blocks and link
targets), the string literals and comments of their code cells (never identifiers), and the
Chinese guide ``docs/zh/*.md``. ``tests/test_zh_vocabulary.py`` runs the check and fails while
chapter 00's glossary table, in either edition, is not the one this file makes.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "translations" / "zh" / "glossary.yml"
FOLDERS = ("notebooks", "solutions", "exercises")
# The notebook whose glossary cell shows the table, and that cell's id (both editions).
TABLE_NOTEBOOK = ROOT / "notebooks" / "00_overview.ipynb"
TABLE_TRANSLATION = ROOT / "translations" / "zh" / "notebooks" / "00_overview.yml"
TABLE_CELL = "glossary"
GUIDE = ROOT / "docs" / "instructors.md"  # the instructor's guide shows the table too
TABLE_HEADER = "| English | 中文 |"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# Inline code, fenced code blocks and link targets: identifiers and paths, not prose.
_NOT_PROSE = re.compile(r"```.*?```|`[^`\n]*`|\]\([^)\s]*\)|https?://\S+", re.S)
_KEYS = {"en", "zh", "forbidden", "patterns", "note"}


@dataclass(frozen=True)
class Term:
    """One glossary entry: ``en`` → ``zh``; ``forbidden`` variants and ``patterns`` (regexes)."""

    en: str
    zh: str
    forbidden: tuple[str, ...] = ()
    patterns: tuple[re.Pattern, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Finding:
    """A forbidden variant (or pattern match) at ``where`` (a file, with its cell id)."""

    where: str
    found: str
    term: Term
    context: str

    def __str__(self):
        return (
            f"{self.where}: {self.found!r} — {self.term.en}: write {self.term.zh!r} "
            f"(in …{self.context}…)"
        )


def load(path: Path = GLOSSARY) -> list[Term]:
    """The glossary's terms, in order.

    Raises ValueError naming the entry when one lacks ``en`` or ``zh``, has an unknown key, a
    forbidden variant that is empty or contained in its own rendering, or a pattern that does
    not compile.
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("terms"), list):
        raise ValueError(f"{path}: expected a mapping with a list `terms`")
    terms = []
    for i, entry in enumerate(data["terms"]):
        where = f"{path}: terms[{i}]"
        if not isinstance(entry, dict) or not {"en", "zh"} <= entry.keys():
            raise ValueError(f"{where}: each term needs `en` and `zh`, got {entry!r}")
        if entry.keys() - _KEYS:
            raise ValueError(f"{where}: unknown keys {sorted(entry.keys() - _KEYS)}")
        forbidden = tuple(entry.get("forbidden") or ())
        for variant in forbidden:
            if not isinstance(variant, str) or not variant or variant in entry["zh"]:
                raise ValueError(f"{where}: forbidden variant {variant!r} is empty or in `zh`")
        try:
            patterns = tuple(re.compile(p) for p in entry.get("patterns") or ())
        except re.error as error:
            raise ValueError(f"{where}: pattern does not compile: {error}") from error
        terms.append(
            Term(str(entry["en"]), str(entry["zh"]), forbidden, patterns, entry.get("note", ""))
        )
    return terms


def table(terms: list[Term]) -> str:
    """Chapter 00's glossary table (markdown), one row a term."""
    rows = [TABLE_HEADER, "| --- | --- |"]
    rows += [f"| {t.en} | {t.zh} |" for t in terms]
    return "\n".join(rows)


def prose(markdown: str) -> str:
    """A markdown cell's text without its inline code, code blocks and link targets."""
    return _NOT_PROSE.sub(" ", markdown)


def code_text(source: str) -> list[str]:
    """The string literals and comments of a code cell (what it prints or says, never its
    identifiers). IPython lines (``%``, ``!``) are skipped; untokenizable code counts whole."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [source]
    kinds = {tokenize.STRING, tokenize.COMMENT}
    kinds |= {getattr(tokenize, n) for n in ("FSTRING_MIDDLE",) if hasattr(tokenize, n)}
    return [t.string for t in tokens if t.type in kinds]


def _without_english_column(text: str) -> str:
    """``text`` without the English column of a glossary table (its terms are English)."""
    lines = text.split("\n")
    if TABLE_HEADER not in lines:
        return text
    start = end = lines.index(TABLE_HEADER)
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = ["|" + line.split("|", 2)[-1] for line in lines[start:end]]
    return "\n".join(lines[:start] + rows + lines[end:])


def texts(path: Path):
    """``(where, text)`` for every piece of a Chinese notebook or markdown file a reader reads."""
    path = Path(path)
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    if path.suffix == ".md":
        yield name, _without_english_column(prose(path.read_text(encoding="utf-8")))
        return
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    for cell in nb.cells:
        where = f"{name} cell {cell.get('id', '?')}"
        if cell.cell_type == "markdown":
            yield where, _without_english_column(prose(cell.source))
        elif cell.cell_type == "code":
            for piece in code_text(cell.source):
                yield where, piece


def findings(where: str, text: str, terms: list[Term]) -> list[Finding]:
    """Every forbidden variant and pattern match of ``terms`` in ``text``. A variant written
    in Latin letters (``et al.``) counts only in a piece with Chinese in it."""
    found = []
    chinese = bool(CJK.search(text))
    for term in terms:
        hits = [
            m
            for v in term.forbidden
            if CJK.search(v) or chinese
            for m in re.finditer(re.escape(v), text)
        ]
        hits += [m for p in term.patterns for m in p.finditer(text)]
        for m in hits:
            context = text[max(0, m.start() - 15) : m.end() + 15].replace("\n", " ")
            found.append(Finding(where, m.group(0), term, context))
    return found


def chinese_files(root: Path = ROOT) -> list[Path]:
    """The Chinese notebooks and guide pages: ``<folder>/zh/*.ipynb`` and ``docs/zh/*.md``."""
    paths = [p for folder in FOLDERS for p in sorted((root / folder / "zh").glob("*.ipynb"))]
    return paths + sorted((root / "docs" / "zh").glob("*.md"))


def check(paths=None, terms: list[Term] | None = None) -> list[Finding]:
    """Every finding in ``paths`` (default: all Chinese files)."""
    terms = load() if terms is None else terms
    paths = chinese_files() if paths is None else paths
    return [
        f for path in paths for where, text in texts(path) for f in findings(where, text, terms)
    ]


def _replace_table(text: str, new: str, indent: str = "") -> str:
    """``text`` with the glossary table (from its header row to the table's last row)
    replaced by ``new``, each line prefixed by ``indent``."""
    lines = text.split("\n")
    start = lines.index(indent + TABLE_HEADER)
    end = start
    while end < len(lines) and lines[end].startswith(indent + "|"):
        end += 1
    block = [indent + line for line in new.split("\n")]
    return "\n".join(lines[:start] + block + lines[end:])


def english_table_cell():
    """Chapter 00's English notebook and its glossary cell."""
    nb = nbformat.read(TABLE_NOTEBOOK, as_version=nbformat.NO_CONVERT)
    return nb, next(c for c in nb.cells if c.get("id") == TABLE_CELL)


def chinese_table_cell() -> str:
    """The Chinese glossary cell's text, from the translation file."""
    data = yaml.safe_load(TABLE_TRANSLATION.read_text(encoding="utf-8"))
    return data["markdown"][TABLE_CELL]


def write_tables(terms: list[Term] | None = None) -> None:
    """Rewrite chapter 00's glossary table in the English notebook, the Chinese translation
    file and the instructor's guides that show it (then ``python -m tools.zh sync`` makes the
    Chinese twin)."""
    new = table(load() if terms is None else terms)
    nb, cell = english_table_cell()
    cell.source = _replace_table(cell.source, new)
    nbformat.write(nb, TABLE_NOTEBOOK)
    raw = TABLE_TRANSLATION.read_text(encoding="utf-8")
    TABLE_TRANSLATION.write_text(_replace_table(raw, new, indent="    "), encoding="utf-8")
    for guide in [GUIDE, *sorted((ROOT / "docs" / "zh").glob("*.md"))]:
        text = guide.read_text(encoding="utf-8")
        if TABLE_HEADER in text.split("\n"):
            guide.write_text(_replace_table(text, new), encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.vocabulary", description=__doc__)
    parser.add_argument("command", choices=["check", "tables"])
    args = parser.parse_args(argv)
    if args.command == "tables":
        write_tables()
        return 0
    found = check()
    for f in found:
        print(f)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
