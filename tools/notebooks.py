"""Mechanical, idempotent changes to every notebook of the course (chapters, exercises, solutions).

    python -m tools.notebooks all            # the three below, in this order
    python -m tools.notebooks setup [PATH…]  # first cell: install d2lmha when missing; badges
                                             # (and, without PATH, the README's links table)
    python -m tools.notebooks slides [PATH…] # reveal.js slide types on every cell
    python -m tools.notebooks strip [PATH…]  # transient metadata off (outputs, counts kept)

With no PATH, every ``*.ipynb`` in ``notebooks/``, ``exercises/`` and ``solutions/``. Running a
command twice changes nothing the second time; ``tests/test_notebook_meta.py`` fails while a
committed notebook differs from what these commands make of it. The repository and the ref in
the set-up cell and the badges come from one place, ``pyproject.toml`` (``[project.urls]
Repository`` and ``[tool.d2lmha] ref``), through :func:`tools.links.course_links`.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from d2lmha import editions
from d2lmha.editions import ENGLISH, TRANSLATED
from d2lmha.text import LABELS, label
from tools.links import Links, course_links

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "exercises", "solutions")
SETUP_ID = "d2lmha-setup"  # a fixed cell id keeps the set-up cell's diffs quiet
SETUP_MARK = "# Set-up for Colab"  # the first line of the set-up cell
BADGE_MARK = "[Open in Colab]("  # an English chapter's badge line starts with one of these
# The links' words, in each edition's language (d2lmha.text.LABELS).
BADGE_TEXTS = ("Open in Colab", "Launch on Binder")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
# nbstripout's defaults (execution timestamps, collapsed/scrolled state, signature), less the
# widget state (metadata.widgets: what renders chapter 04's viewer in a saved notebook), plus
# the Python patch version that nbclient records.
STRIP_KEYS = [
    "metadata.signature",
    "metadata.language_info.version",
    "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime",
    "cell.metadata.execution",
    "cell.metadata.heading_collapsed",
    "cell.metadata.hidden",
    "cell.metadata.scrolled",
]


# the editions (d2lmha.editions): English in each folder, each translation in its subfolder
LANGS = (ENGLISH.code, *TRANSLATED)


def all_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the course, every edition: ``notebooks/``, ``exercises/``,
    ``solutions/`` and each translated edition's folder in each (``zh/``)."""
    return [
        p
        for folder in FOLDERS
        for where in (root / folder, *(root / folder / code for code in TRANSLATED))
        for p in sorted(where.glob("*.ipynb"))
    ]


def place(path: Path) -> tuple[str, str]:
    """``(folder, edition)``: ``notebooks/zh/01_x.ipynb`` → ``("notebooks", "zh")``."""
    path = Path(path)
    if path.parent.name in TRANSLATED:
        return path.parent.parent.name, path.parent.name
    return path.parent.name, ENGLISH.code


def setup_source(
    folder: str, root: Path = ROOT, edition: str = "en", made: Links | None = None
) -> str:
    """The first cell of a notebook in ``folder``: install the course where it is missing.

    Where ``d2lmha`` imports (``make lab``, Binder, the grading sandbox, which is offline) the
    cell does nothing; pip runs only where it does not (Colab). Exercise sets also need
    otter-grader, hence the ``grade`` extra there; an edition may need its own (the 中文
    edition's CJK font for its figures, the ``zh`` extra) and says its comment in its language:
    both from :mod:`d2lmha.editions`. ``made``: the links to install from (default: this
    repository's, :func:`tools.links.course_links`).
    """
    made = made or course_links(root)
    this = editions.edition(edition)
    extras = tuple(e for e in ("grade" if folder != "notebooks" else "", this.extra) if e)
    head = this.setup_comment.format(mark=SETUP_MARK, ref=made.ref)
    return (
        head + "try:\n"
        "    import d2lmha  # noqa: F401\n"
        "except ImportError:\n"
        f'    %pip install --quiet "{made.install(extras)}"'
    )


def badges(path: Path, root: Path = ROOT, made: Links | None = None) -> str:
    """The header line of a chapter: links that open it in Colab and on Binder (text links,
    so nothing is fetched when the notebook is read offline); those the repository allows
    (Colab opens GitHub only; Binder no local repository), "" where there is none."""
    made = made or course_links(root)
    folder, edition = place(path)
    where = "/".join(filter(None, [folder, editions.edition(edition).folder, path.name]))
    colab, binder = (label(text, edition) for text in BADGE_TEXTS)
    parts = [
        f"[{text}]({url})"
        for text, url in ((colab, made.colab(where)), (binder, made.binder(where)))
        if url is not None
    ]
    return " · ".join(parts)


README_BEGIN = "<!-- links: made by `make notebook-meta` (tools/notebooks.py, readme) -->"
README_END = "<!-- links: end -->"


def readme_links(root: Path = ROOT, made: Links | None = None) -> str:
    """The README's "Run online" table: each chapter of both editions in Colab and on Binder,
    and the set-up cell's pip requirement (``made``: the links; default this repository's)."""
    made = made or course_links(root)
    rows = ["| chapter | Colab | Binder |", "| --- | --- | --- |"]
    for this in (ENGLISH, *TRANSLATED.values()):
        for path in sorted((Path(root) / "notebooks" / this.folder).glob("[0-9][0-9]_*.ipynb")):
            where = path.relative_to(root).as_posix()
            name = f"{path.name[:2]}{f' {this.name}' if this.folder else ''}"
            colab, binder = made.colab(where), made.binder(where)
            rows.append(
                f"| {name} | "
                + (f"[![Open in Colab]({COLAB_BADGE})]({colab})" if colab else "—")
                + " | "
                + (f"[![Launch on Binder]({BINDER_BADGE})]({binder})" if binder else "—")
                + " |"
            )
    install = f'`%pip install "{made.install()}"`'
    return "\n".join([README_BEGIN, *rows, "", f"The set-up cell: {install}.", README_END])


def readme(text: str, root: Path = ROOT, made: Links | None = None) -> str:
    """``text`` (a README) with its links block (between :data:`README_BEGIN` and
    :data:`README_END`) made anew by :func:`readme_links`.

    Raises:
        ValueError: the README has no such block.
    """
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no links block ({README_BEGIN} … {README_END})")
    return text[:start] + readme_links(root, made) + text[end + len(README_END) :]


def is_setup(cell) -> bool:
    """The set-up cell: by its id (any edition), or by the English first words (an older one)."""
    return cell.cell_type == "code" and (
        cell.get("id") == SETUP_ID or cell.source.startswith(SETUP_MARK)
    )


def is_badge_line(line: str) -> bool:
    """A chapter header's line of links, in any edition's words."""
    words = {label(text, code) for text in BADGE_TEXTS for code in LABELS}
    return line.startswith(tuple(f"[{w}](" for w in words))


def add_setup(nb, path: Path, root: Path = ROOT, made: Links | None = None):
    """Put the set-up cell first (replacing an older one) and, in a chapter, the badges under
    the title of the first markdown cell; ``made``: the links (default: this repository's)."""
    made = made or course_links(root)
    folder, edition = place(path)
    nb.cells = [c for c in nb.cells if not is_setup(c)]
    cell = nbformat.v4.new_code_cell(setup_source(folder, root, edition, made))
    cell.id = SETUP_ID
    nb.cells.insert(0, cell)
    if folder == "notebooks":
        header = next(c for c in nb.cells if c.cell_type == "markdown")
        title, *rest = [line for line in header.source.split("\n") if not is_badge_line(line)]
        while rest and not rest[0].strip():
            rest.pop(0)
        line = badges(path, root, made)
        header.source = "\n".join([title, "", *([line, ""] if line else []), *rest]).rstrip("\n")
    return nb


def slide_type(cell, index: int) -> str:
    """reveal.js slide type: prose with a ``#``/``##`` heading starts a slide, other prose a
    sub-slide below it, code (and its output) stays with the prose above; set-up and raw
    cells are skipped."""
    if index == 0 and is_setup(cell) or cell.cell_type == "raw":
        return "skip"
    if cell.cell_type == "markdown":
        return "slide" if re.search(r"^#{1,2} ", cell.source, re.M) else "subslide"
    return "-"


def add_slides(nb, path=None, root=ROOT):
    for index, cell in enumerate(nb.cells):
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell, index)}
    return nb


def strip(nb, path=None, root=ROOT):
    """Transient metadata off, outputs and execution counts kept (nbstripout --keep-output
    --keep-count): nbval refuses a cell that has outputs but no execution count ("unrun
    reference cell has outputs"), and after a top-to-bottom run the counts are 1, 2, 3, ...,
    so they change only where cells do (tests/test_notebook_meta.py checks the order)."""
    from nbstripout._utils import strip_output

    return strip_output(nb, keep_output=True, keep_count=True, keep_id=True, extra_keys=STRIP_KEYS)


STEPS = {"setup": add_setup, "slides": add_slides, "strip": strip}


def apply(steps, path: Path, root: Path = ROOT) -> bool:
    """Apply ``steps`` (names in :data:`STEPS`) to the notebook at ``path``; True if it changed."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    before = copy.deepcopy(nb)
    for step in steps:
        nb = STEPS[step](nb, path, root)
    if nb == before:
        return False
    nbformat.write(nb, path)
    return True


def expected(steps, path: Path, root: Path = ROOT):
    """``(committed, what the steps make of it)``, as notebooks, for the tests."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    made = copy.deepcopy(nb)
    for step in steps:
        made = STEPS[step](made, path, root)
    return nb, made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.notebooks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["all", *STEPS])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    steps = list(STEPS) if args.command == "all" else [args.command]
    paths = []
    for p in args.paths or [ROOT / f for f in FOLDERS]:
        if p.is_dir():
            paths += sorted(p.glob("*.ipynb"))
            if not args.paths:
                paths += [q for code in TRANSLATED for q in sorted((p / code).glob("*.ipynb"))]
        else:
            paths.append(p)
    for path in paths:
        if apply(steps, path.resolve()):
            print(f"{args.command}: {path}")
    if args.command in ("all", "setup") and not args.paths:
        before = (ROOT / "README.md").read_text(encoding="utf-8")
        after = readme(before)
        if after != before:
            (ROOT / "README.md").write_text(after, encoding="utf-8")
            print(f"{args.command}: README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
