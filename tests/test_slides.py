"""Every chapter builds as reveal.js slides (`make slides`; nbconvert's SlidesExporter), cut
where its cells' slide types say, without the set-up cell."""

import re
from pathlib import Path

import nbformat
import pytest

from tools import slides

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "notebooks" / "zh").glob("*.ipynb")
)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[str(p.relative_to(ROOT)) for p in CHAPTERS])
def test_chapter_builds_as_slides(chapter, tmp_path):
    settings = {"reveal_url_prefix": "vendor/reveal.js"}
    html = slides.export(chapter, tmp_path, settings).read_text()
    cells = nbformat.read(chapter, as_version=4).cells
    types = [c.metadata.get("slideshow", {}).get("slide_type") for c in cells]
    assert types.count("slide") >= 1
    # a slide is a <section> around its own first <section>; each sub-slide adds one more
    assert html.count("<section") == 2 * types.count("slide") + types.count("subslide")
    assert '"vendor/reveal.js/dist/reveal.js"' in html
    assert "Reveal.initialize" in html
    assert "Set-up for Colab" not in html  # the set-up cell is skipped
    title = re.match(r"# (.+)", next(c for c in cells if c.cell_type == "markdown").source)
    assert title and title.group(1).split(":")[0] in html
