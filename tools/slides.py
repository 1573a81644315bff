"""Every chapter as reveal.js slides for a lecture (``make slides``):
``python -m tools.slides OUT_DIR [NOTEBOOK ...]``.

nbconvert's ``--to slides`` exporter cuts each chapter at its cells' slide types (set by
``python -m tools.notebooks slides``). Three things make those decks fit for a lecture:

- **Offline.** reveal.js, RequireJS and MathJax are unpacked from their npm packages
  (``npm pack``, the registry's own client; :mod:`tools.vendor`) into ``OUT_DIR/vendor/``
  and the decks point there.
  nbconvert's template also loads jQuery, mermaid and, through the "simple" theme, Google
  Fonts from CDNs: the course's template (``tools/slides_assets/slides.html.j2``) loads none of
  them (reveal.js's "white" theme, whose font is in the npm package). Without npm the build
  stops, rather than write decks that need the network.
- **Every slide fits the 1280x720 canvas.** :class:`FitToCanvas`, a preprocessor, estimates
  each block's height on the canvas (prose, code, outputs, figures at their pixel size) and
  cuts a slide that is too tall: prose paragraphs that do not fit become the slide's speaker
  notes (reveal.js's ``S`` key), anything else (lists, formulas, code, figures) starts a
  continuation sub-slide under the same title. In the browser, ``fit.js`` then scales what is
  still too big (a wide table, a tall figure, a slide the estimate got wrong), and CSS wraps
  long code lines. It works on the notebooks as they are, so it holds for both editions and
  for cells not written yet; ``e2e/test_slides.py`` measures every slide in Chromium.
- **Widgets** need a kernel: their saved views are dropped and their text form is shown.
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import math
import re
import struct
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from nbconvert.preprocessors import Preprocessor

from d2lmha.editions import TRANSLATED
from d2lmha.text import label
from tools.vendor import npm, npm_package

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).resolve().parent / "slides_assets"
# reveal.js 4.0.2 is the version nbconvert's reveal template is written for (its default URL).
VENDOR = {"reveal.js": "4.0.2", "requirejs": "2.3.7", "mathjax": "2.7.9"}
SETTINGS = {
    "reveal_url_prefix": "vendor/reveal.js",
    "reveal_theme": "white",  # its font is in the package; "simple" imports Google Fonts
    "require_js_url": "vendor/requirejs/require.js",
    "mathjax_url": "vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
}
WIDTH, HEIGHT = 1280, 720  # the canvas, in CSS px
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def vendor(out: Path) -> dict[str, str]:
    """Unpack the npm packages of :data:`VENDOR` into ``out/vendor`` (:mod:`tools.vendor`,
    once per version); the exporter settings that point at them (relative URLs,
    :data:`SETTINGS`).

    Raises:
        FileNotFoundError: npm is not installed (the decks would need the network).
        subprocess.CalledProcessError: ``npm pack`` failed (no registry, unknown version).
    """
    if npm() is None:
        raise FileNotFoundError(
            "npm not found: make slides copies reveal.js, RequireJS and MathJax from their npm "
            "packages so that the slides open offline (install Node.js and npm)"
        )
    for name, version in VENDOR.items():
        npm_package(name, version, out / "vendor" / name)
    return dict(SETTINGS)


# ----------------------------------------------------------------------------------------
# How tall things are on the canvas (CSS px), matching tools/slides_assets/slides.css.


@dataclass(frozen=True)
class Metrics:
    """Sizes on the canvas, in CSS px, as ``slides.css`` sets them: the usable height and
    width, and per kind of text its line height and the width of one narrow character (a
    CJK character counts two). Estimates: ``fit.js`` absorbs what they miss."""

    height: float = HEIGHT - 30
    width: float = WIDTH - 20
    prose_line: float = 22 * 1.4
    prose_char: float = 22 * 0.5
    code_line: float = 17 * 1.3
    code_char: float = 17 * 0.6
    output_line: float = 16 * 1.3
    output_char: float = 16 * 0.6
    block_gap: float = 11
    cell_gap: float = 14
    headings: tuple = (0, 58, 52, 46, 40, 36, 36)  # by level, margins included
    table_row: float = 16 * 2
    display_math: float = 60
    image_floor: float = 0.75  # a figure may be packed at this share of its height


METRICS = Metrics()


def text_width(text: str) -> int:
    """Width of ``text`` in narrow characters: East Asian wide/full-width ones count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrapped_lines(text: str, line_width: float, char: float) -> int:
    """How many lines ``text`` takes when wrapped at ``line_width`` px (``char`` px a char)."""
    per_line = max(1, int(line_width // char))
    return sum(max(1, math.ceil(text_width(line) / per_line)) for line in text.split("\n"))


def _visible(markdown: str) -> str:
    """Roughly the text a markdown block shows: links without their URLs, no markup."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[*_`]", "", text)


def png_size(data: str) -> tuple[int, int] | None:
    """Pixel (width, height) of a base64 PNG, read from its IHDR chunk; None if not a PNG."""
    head = base64.b64decode(data[:64])
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


@dataclass
class Block:
    """A piece of a slide that is never cut: a markdown block (``source``), or part of a code
    cell (``cell``): some of its statements (``source``) or one of its ``outputs``. Its
    estimated height on the canvas is ``height`` px that cannot shrink plus ``figure`` px of
    figures that may; ``prose``: a paragraph that may move into the speaker notes."""

    height: float
    figure: float = 0.0
    prose: bool = False
    source: str = ""
    cell: object = None
    outputs: list = field(default_factory=list)

    def packed(self, m: Metrics = METRICS) -> float:
        """Height it needs at least: figures count at ``m.image_floor`` of theirs."""
        return self.height + self.figure * m.image_floor


def table_blocks(text: str, m: Metrics = METRICS) -> list[Block]:
    """A markdown table as blocks of rows that each fit a continuation slide, its header
    repeated on each; a row's height from its widest cell's wrapped lines."""
    header, rule, *rows = text.split("\n")
    columns = max(1, header.count("|") - 1)

    def row_height(row: str) -> float:
        cells = row.strip().strip("|").split("|")
        lines = max(wrapped_lines(_visible(c), m.width / columns, 16 * 0.5) for c in cells)
        return m.table_row + (lines - 1) * 16 * 1.3

    room = m.height - m.headings[4] - row_height(header) - m.block_gap
    blocks, chunk, used = [], [], 0.0
    for row in rows:
        if chunk and used + row_height(row) > room:
            blocks.append(chunk)
            chunk, used = [], 0.0
        chunk.append(row)
        used += row_height(row)
    blocks.append(chunk)
    return [
        Block(
            sum(map(row_height, [header, *chunk])) + m.block_gap,
            source="\n".join([header, rule, *chunk]),
        )
        for chunk in blocks
    ]


def markdown_blocks(source: str, m: Metrics = METRICS) -> list[Block]:
    """Split a markdown cell at its top-level blocks (markdown-it-py's token map): a heading,
    a paragraph, a list, a table (cut into slide-sized runs of rows), a display formula, a
    fenced code block, each with its estimated height; plain prose paragraphs are ``prose``."""
    from markdown_it import MarkdownIt

    lines = source.split("\n")
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    blocks = []
    for token in tokens:
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        start, end = token.map
        text = "\n".join(lines[start:end]).strip("\n")
        kind = token.type
        if kind == "table_open":
            blocks += table_blocks(text, m)
            continue
        if kind == "heading_open":
            height = m.headings[int(token.tag[1])]
        elif kind in ("fence", "code_block"):
            height = (text.count("\n") + 1) * m.code_line + m.block_gap
        elif kind == "paragraph_open" and text.lstrip().startswith("$$"):
            height = m.display_math * (1 + text.count("\\\\")) + m.block_gap
        elif kind in ("bullet_list_open", "ordered_list_open"):
            items = re.split(r"\n(?=\s*(?:[-*+]|\d+[.)])\s)", text)
            height = sum(
                wrapped_lines(_visible(item), m.width - 40, m.prose_char) * m.prose_line
                for item in items
            )
            height += m.block_gap
        else:  # a paragraph, a quote, an HTML block
            height = wrapped_lines(_visible(text), m.width, m.prose_char) * m.prose_line
            height += m.block_gap
        prose = kind == "paragraph_open" and not text.lstrip().startswith(("$$", "<"))
        blocks.append(Block(height, prose=prose, source=text))
    return blocks


def output_height(output, m: Metrics = METRICS) -> tuple[float, float]:
    """Estimated ``(fixed, figure)`` height of one code-cell output on the canvas."""
    data = output.get("data", {})
    if "image/png" in data:
        size = png_size(data["image/png"])
        if size is None:
            return 0.0, m.height / 2
        width, height = size
        meta = output.get("metadata", {}).get("image/png", {})
        width, height = meta.get("width", width), meta.get("height", height)
        return m.block_gap, height * min(1.0, m.width / width)
    if "text/html" in data:
        rows = data["text/html"].count("<tr")
        if rows:
            return rows * m.table_row + m.block_gap, 0.0
        return wrapped_lines(_visible(data["text/html"]), m.width, m.prose_char) * m.prose_line, 0.0
    if "text/latex" in data and "text/plain" not in data:
        return m.display_math, 0.0
    text = output.get("text") or data.get("text/plain", "") or output.get("evalue", "")
    if output.get("output_type") == "error":
        text = "\n".join(output.get("traceback", [])) or text
    text = text.rstrip("\n")
    return wrapped_lines(text, m.width, m.output_char) * m.output_line + m.block_gap, 0.0


def statements(source: str) -> list[str]:
    """Code cut where a new top-level statement may start: an unindented line (not a closing
    bracket, ``else``/``elif``/``except``/``finally``) after a line that does not leave a
    bracket or a decorator open. Joining the pieces with newlines gives ``source`` back."""
    pieces: list[list[str]] = []
    previous = ""
    for line in source.split("\n"):
        top = bool(line) and line[0] not in " \t)]}" and not CONTINUES.match(line)
        if (
            not pieces
            or top
            and not previous.rstrip().endswith(OPEN)
            and previous[:1] not in ("@", "#")
        ):
            pieces.append([])
        pieces[-1].append(line)
        previous = line
    return ["\n".join(piece) for piece in pieces]


OPEN = ("(", "[", "{", ",", "\\")
CONTINUES = re.compile(r"(else|elif|except|finally)\b")


def code_blocks(cell, m: Metrics = METRICS) -> list[Block]:
    """A code cell as blocks: runs of its statements and each of its outputs, so that a long
    cell continues on the next slide; :func:`page_cells` joins what stays on one slide."""
    blocks = []
    for piece in statements(cell.source):
        height = wrapped_lines(piece, m.width - 16, m.code_char) * m.code_line
        blocks.append(Block(height, source=piece, cell=cell))
    if blocks:
        blocks[0].height += 16 + m.cell_gap  # the code area's padding
    for output in cell.get("outputs", []):
        fixed, figure = output_height(output, m)
        blocks.append(Block(fixed, figure=figure, cell=cell, outputs=[output]))
    return blocks


# ----------------------------------------------------------------------------------------
# Packing a chapter's slides into pages of the canvas.


@dataclass
class Page:
    """One slide as built: its blocks in order, the prose moved to its speaker notes, and
    the height used so far."""

    kind: str  # the first cell's slide type: "slide" or "subslide"
    items: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # markdown sources
    used: float = 0.0


def heading_text(source: str) -> str | None:
    """The text of the first markdown heading in ``source`` (no ``#``), or None."""
    match = re.search(r"^(#{1,6})\s+(.+?)\s*#*$", source, re.M)
    return match.group(2) if match else None


def pack(groups, language: str, m: Metrics = METRICS) -> list:
    """Cells of the slides after packing ``groups`` (each: a markdown cell that starts a slide
    or sub-slide and the code cells under it) into pages no taller than ``m.height``.

    Within a page, blocks are kept in order while they fit. A prose paragraph that does not
    fit goes to the page's speaker notes, and so does the rest of the page's prose (so that
    what stays on the slide reads in order); any other block that does not fit starts a new
    sub-slide, titled with the slide's heading and "(continued)" in ``language``.
    """
    cells, title = [], None
    for lead, code in groups:
        blocks = markdown_blocks(lead.source, m) if lead is not None else []
        title = (lead is not None and heading_text(lead.source)) or title
        kind = lead.metadata.get("slideshow", {}).get("slide_type", "slide") if lead else "slide"
        pages = [Page(kind)]
        spilling = False  # a paragraph of this page went to the notes
        for block in blocks + [b for cell in code for b in code_blocks(cell, m)]:
            page = pages[-1]
            fits = not page.items or page.used + block.packed(m) <= m.height
            if block.prose and (spilling or not fits):
                page.notes.append(block.source)
                spilling = True
                continue
            if not fits:
                pages.append(Page("subslide", used=m.headings[4] if title else 0.0))
                page, spilling = pages[-1], False
            page.items.append(block)
            page.used += block.packed(m)
        for number, page in enumerate(pages):
            cells += page_cells(page, number, title, language)
    return cells


def page_cells(page: Page, number: int, title: str | None, language: str) -> list:
    """The notebook cells of one packed page: its markdown blocks joined into cells, the
    consecutive parts of one code cell joined into one cell (its statements, its outputs; no
    input shown where only outputs are on this page), a continuation title on pages after the
    first, and a ``notes`` cell for the prose moved to the speaker notes."""
    import nbformat

    slide_type = page.kind if number == 0 else "subslide"
    runs: list[list[Block]] = []  # consecutive blocks from the same cell (or markdown)
    for block in page.items:
        if runs and runs[-1][0].cell is block.cell:
            runs[-1].append(block)
        else:
            runs.append([block])
    if number > 0 and title:
        escaped = html.escape(_visible(title))
        continued = label("(continued)", language)  # the editions' labels: d2lmha.text
        heading = f'<h4 class="d2lmha-continued">{escaped} {continued}</h4>'
        if runs and runs[0][0].cell is None:
            runs[0].insert(0, Block(0, source=heading))
        else:
            runs.insert(0, [Block(0, source=heading)])
    cells = []
    for run in runs:
        origin = run[0].cell
        if origin is None:
            cell = nbformat.v4.new_markdown_cell("\n\n".join(b.source for b in run))
        else:
            cell = copy.deepcopy(origin)
            cell.source = "\n".join(b.source for b in run if not b.outputs)
            cell.outputs = [o for b in run for o in b.outputs]
            if not cell.source:
                cell.metadata.setdefault("transient", {})["remove_source"] = True
        cell.metadata["slideshow"] = {"slide_type": "-" if cells else slide_type}
        cells.append(cell)
    if page.notes:
        notes = nbformat.v4.new_markdown_cell("\n\n".join(page.notes))
        notes.metadata["slideshow"] = {"slide_type": "notes"}
        cells.append(notes)
    return cells


class FitToCanvas(Preprocessor):
    """nbconvert preprocessor: a chapter's cells repacked so that every slide fits the canvas
    (:func:`pack`), skipped cells dropped, widget views replaced by their text form. Run it
    before the exporter's own (reveal) preprocessor, which reads the slide types it sets.

    ``resources["language"]`` (an edition's code: "en", "zh") picks the continuation titles'
    language (:func:`d2lmha.text.label`).
    """

    def preprocess(self, nb, resources):
        nb = copy.deepcopy(nb)
        nb.metadata.pop("widgets", None)
        groups, lead, code = [], None, []
        for cell in nb.cells:
            slide_type = cell.metadata.get("slideshow", {}).get("slide_type", "-")
            if slide_type in ("skip", "notes"):
                continue
            for output in cell.get("outputs", []):
                if WIDGET_VIEW in output.get("data", {}):
                    del output["data"][WIDGET_VIEW]
            if cell.cell_type == "markdown" or slide_type in ("slide", "subslide"):
                if lead is not None or code:
                    groups.append((lead, code))
                lead, code = (cell, []) if cell.cell_type == "markdown" else (None, [cell])
            else:
                code.append(cell)
        if lead is not None or code:
            groups.append((lead, code))
        nb.cells = pack(groups, resources.get("language", "en"))
        for number, cell in enumerate(nb.cells):  # unique, and the same on every build
            cell["id"] = f"slide-cell-{number}"
        return nb, resources


def export(notebook: Path, out: Path, settings: dict[str, str] | None = None) -> Path:
    """Write ``out/NAME.slides.html`` for one notebook (nbconvert's SlidesExporter, the
    course's template, :class:`FitToCanvas`); ``NAME.CODE.slides.html`` for a chapter of a
    translated edition (``notebooks/CODE/``, e.g. ``NAME.zh.slides.html``). ``settings``:
    exporter settings (:func:`vendor`'s)."""
    import nbformat
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(
        template_file="slides.html.j2",
        extra_template_paths=[str(ASSETS)],
        exclude_input_prompt=True,  # no "In [n]:" on a slide
        exclude_output_prompt=True,
        **{**SETTINGS, **(settings or {})},
    )
    language = notebook.parent.name if notebook.parent.name in TRANSLATED else "en"
    resources = {
        "metadata": {"name": notebook.stem},
        "language": language,
        "d2lmha_slides": {
            "css": (ASSETS / "slides.css").read_text(encoding="utf-8"),
            "fit_js": (ASSETS / "fit.js").read_text(encoding="utf-8"),
            "width": WIDTH,
            "height": HEIGHT,
        },
    }
    nb, resources = FitToCanvas().preprocess(nbformat.read(notebook, as_version=4), resources)
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    edition = "" if language == "en" else f".{language}"
    path = out / f"{notebook.stem}{edition}.slides.html"
    path.write_text(body, encoding="utf-8")
    return path


def chapters() -> list[Path]:
    """Every chapter notebook: English, then each translated edition's (``notebooks/zh/``…)."""
    chapters = sorted((ROOT / "notebooks").glob("*.ipynb"))
    return chapters + [
        p for code in TRANSLATED for p in sorted((ROOT / "notebooks" / code).glob("*.ipynb"))
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.slides", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "build" / "slides")
    parser.add_argument("notebooks", type=Path, nargs="*")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        settings = vendor(args.out)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    for notebook in args.notebooks or chapters():
        print(export(notebook, args.out, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
