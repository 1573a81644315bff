"""Every relative link between chapters, exercises and solutions (and from the README and
docs) points to a file that exists: `make lab` serves the repository root, so JupyterLab
opens each of them (make e2e clicks one)."""

import re
from pathlib import Path

import nbformat
import pytest

from tools.notebooks import all_notebooks

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
SOURCES = all_notebooks()  # both editions
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]


@pytest.mark.parametrize("path", SOURCES + DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    if path.suffix == ".ipynb":
        text = "\n".join(
            c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
        )
    else:
        text = path.read_text()
    missing = [
        t for t in _relative_links(text) if not (path.parent / t.split("#")[0]).resolve().exists()
    ]
    assert missing == []


@pytest.mark.parametrize("edition", ["", "zh/"], ids=["en", "zh"])
def test_every_chapter_with_a_set_links_to_it_and_back(edition):
    up = "../" * (1 + edition.count("/"))  # from notebooks/zh/ to the root is ../../
    for exercise in sorted((ROOT / "exercises" / edition).glob("*.ipynb")):
        chapter = next((ROOT / "notebooks" / edition).glob(f"{exercise.name[:2]}_*.ipynb"))
        chapter_text = "".join(c.source for c in nbformat.read(chapter, as_version=4).cells)
        exercise_text = "".join(c.source for c in nbformat.read(exercise, as_version=4).cells)
        assert f"{up}exercises/{edition}{exercise.name}" in chapter_text, chapter.name
        assert f"{up}notebooks/{edition}{chapter.name}" in exercise_text, exercise.name
