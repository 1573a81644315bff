"""Every chapter builds as reveal.js slides (`make slides`; nbconvert's SlidesExporter), cut
where its cells' slide types say, without the set-up cell, with nothing loaded from another
host; a slide too tall for the canvas is cut by tools.slides.FitToCanvas (prose into the
speaker notes, the rest onto continuation slides) without losing a line. Whether the slides
fit in a browser: e2e/test_slides.py."""

import re
from pathlib import Path

import nbformat
import pytest

from tools import slides

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = slides.chapters()


def slide_types(nb):
    return [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[str(p.relative_to(ROOT)) for p in CHAPTERS])
def test_chapter_builds_as_slides(chapter, tmp_path):
    html = slides.export(chapter, tmp_path).read_text()
    nb = nbformat.read(chapter, as_version=4)
    cells = nb.cells
    types = slide_types(slides.FitToCanvas().preprocess(nb, {"language": "en"})[0])
    assert types.count("slide") == slide_types(nb).count("slide")  # continuations: sub-slides
    # a slide is a <section> around its own first <section>; each sub-slide adds one more
    assert html.count("<section") == 2 * types.count("slide") + types.count("subslide")
    assert '"vendor/reveal.js/dist/reveal.js"' in html
    assert "Reveal.initialize" in html and "d2lmhaFit(Reveal)" in html
    assert "width: 1280" in html and "height: 720" in html
    assert "Set-up for Colab" not in html  # the set-up cell is skipped
    title = re.match(r"# (.+)", next(c for c in cells if c.cell_type == "markdown").source)
    assert title and title.group(1).split(":")[0] in html
    # offline: every script, style sheet and import is local (links to Colab/Binder stay links)
    loaded = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", html)
    assert loaded and not [u for u in loaded if re.match(r"(https?:)?//", u)], loaded
    assert not re.search(r"@import\s+url\((?!data:)", html)
    assert "jquery" not in html.lower() and "mermaid" not in html


def lines(n: int, width: int = 90) -> str:
    return " ".join(["word"] * (width // 5 * n))


def test_a_tall_slide_is_cut_without_losing_anything():
    """One slide: a heading, eight long paragraphs, a list, a 60-line code cell and its
    output. What does not fit becomes speaker notes (prose) and continuation sub-slides."""
    code = "\n".join(f"x{i} = {i}" for i in range(60))
    nb = nbformat.v4.new_notebook()
    lead = nbformat.v4.new_markdown_cell(
        "## A long slide\n\n"
        + "\n\n".join(f"Paragraph {i}: {lines(4)}" for i in range(8))
        + "\n\n- one\n- two\n\nClosing words."
    )
    lead.metadata["slideshow"] = {"slide_type": "slide"}
    cell = nbformat.v4.new_code_cell(code)
    cell.outputs = [nbformat.v4.new_output("stream", text="done\n")]
    cell.metadata["slideshow"] = {"slide_type": "-"}
    nb.cells = [lead, cell]

    out, _ = slides.FitToCanvas().preprocess(nb, {"language": "zh"})
    types = slide_types(out)
    assert types[0] == "slide" and types.count("slide") == 1
    assert types.count("subslide") >= 2 and "notes" in types
    notes = "\n".join(c.source for c, t in zip(out.cells, types, strict=True) if t == "notes")
    shown = "\n".join(c.source for c in out.cells if c.cell_type == "markdown")
    for i in range(8):  # each paragraph once: on the slide or in the notes
        assert shown.count(f"Paragraph {i}:") == 1
    assert "Paragraph 7:" in notes and "Paragraph 0:" not in notes
    assert "- one\n- two" in shown and "（续）" in shown  # the continuation title, in Chinese
    pieces = [c for c in out.cells if c.cell_type == "code"]
    assert len(pieces) >= 2  # the code continues on the next slide
    assert "\n".join(c.source for c in pieces if c.source) == code
    assert [o for c in pieces for o in c.outputs] == cell.outputs
    assert len({c.id for c in out.cells}) == len(out.cells)


def test_statements_cut_only_between_statements():
    source = (
        "import a\nx = f(\n    1,\n)\n@dec\ndef g():\n    pass\n# note\ny = 2\n"
        "try:\n    pass\nexcept E:\n    pass"
    )
    pieces = slides.statements(source)
    assert "\n".join(pieces) == source
    assert pieces == [
        "import a",
        "x = f(\n    1,\n)",
        "@dec\ndef g():\n    pass",
        "# note\ny = 2",
        "try:\n    pass\nexcept E:\n    pass",
    ]


def test_table_rows_are_cut_with_their_header():
    table = "| a | b |\n| --- | --- |\n" + "\n".join(f"| {i} | x |" for i in range(60))
    blocks = slides.markdown_blocks(table)
    assert len(blocks) >= 3
    assert all(b.source.startswith("| a | b |\n| --- | --- |\n") for b in blocks)
    rows = [line for b in blocks for line in b.source.split("\n")[2:]]
    assert rows == table.split("\n")[2:]
    assert all(b.height <= slides.METRICS.height for b in blocks)


def test_widths_count_wide_characters_twice():
    assert slides.text_width("ab") == 2 and slides.text_width("注意") == 4
    assert slides.wrapped_lines("注意" * 27, 110, 1) == 1  # 108 narrow characters
    assert slides.wrapped_lines("注意" * 28, 110, 1) == 2
    assert slides.wrapped_lines("a\nb", 110, 1) == 2


def test_no_npm_no_decks(tmp_path, monkeypatch, capsys):
    """Without npm the build stops and says why, rather than write decks that need a CDN."""
    monkeypatch.setattr(slides, "npm", lambda: None)
    with pytest.raises(FileNotFoundError, match="npm"):
        slides.vendor(tmp_path)
    assert slides.main([str(tmp_path), str(CHAPTERS[0])]) == 1
    assert "npm not found" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.html"))
