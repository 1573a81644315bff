"""Every relative link between chapters, exercises and solutions (and from the README and
docs) points to a file that exists: `make lab` serves the repository root, so JupyterLab
opens each of them (make e2e clicks one). Every Colab, Binder and install link points at
pyproject's repository, at a ref git resolves here; `tools.links` makes them (and
nbgitpuller's) as their services document."""

import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest

from d2lmha.editions import codes
from tools.links import course_links, hand_out, links
from tools.notebooks import all_notebooks

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
SOURCES = all_notebooks()  # both editions
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXTS = [*DOCS, ROOT / "CONTRIBUTING.md", ROOT / "solutions" / "README.md"]
# (kind, pattern): the repository and the ref of every link into the course.
COURSE_LINKS = [
    ("colab", re.compile(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w.-]+)/")),
    ("binder", re.compile(r"mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/([\w.-]+)\?")),
    ("install", re.compile(r"git\+((?:https?|file)://[^\s@\"']+)@([\w./-]+?)[\"'`)\s]")),
]


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


@pytest.mark.parametrize("edition", ["", *(f"{code}/" for code in codes())], ids=["en", *codes()])
def test_every_chapter_with_a_set_links_to_it_and_back(edition):
    up = "../" * (1 + edition.count("/"))  # from notebooks/zh/ to the root is ../../
    for exercise in sorted((ROOT / "exercises" / edition).glob("*.ipynb")):
        chapter = next((ROOT / "notebooks" / edition).glob(f"{exercise.name[:2]}_*.ipynb"))
        chapter_text = "".join(c.source for c in nbformat.read(chapter, as_version=4).cells)
        exercise_text = "".join(c.source for c in nbformat.read(exercise, as_version=4).cells)
        assert f"{up}exercises/{edition}{exercise.name}" in chapter_text, chapter.name
        assert f"{up}notebooks/{edition}{chapter.name}" in exercise_text, exercise.name


def _text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    return path.read_text(encoding="utf-8")


@cache
def _resolves(ref: str) -> bool:
    """``git rev-parse --verify`` finds ``ref`` here (or as origin's branch, in a clone)."""
    return any(
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
            cwd=ROOT,
            capture_output=True,
        ).returncode
        == 0
        for name in (ref, f"refs/remotes/origin/{ref}")
    )


@pytest.mark.parametrize("path", SOURCES + TEXTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_course_links_point_at_the_repository_at_a_ref_that_exists(path):
    """No link to an invented tag: each Colab/Binder/install link's ref resolves in git."""
    course = course_links()
    repo = {"colab": course.github, "binder": course.github, "install": course.repo_url}
    text = _text(path) + "\n"
    found = [(kind, *m.groups()) for kind, pattern in COURSE_LINKS for m in pattern.finditer(text)]
    wrong = [(k, r, ref) for k, r, ref in found if r != repo[k] or not _resolves(ref)]
    assert wrong == [], f"links to another repository or to a ref git cannot resolve: {wrong}"
    if path.suffix == ".ipynb":  # every notebook installs the course from its set-up cell
        assert any(kind == "install" for kind, *_ in found)


def test_the_link_checks_catch_an_invented_tag_and_another_repository():
    text = (
        "[a](https://colab.research.google.com/github/d2lmha/d2lmha/blob/v9.9.9/x.ipynb) "
        '%pip install "d2lmha @ git+https://github.com/someone/fork@main"\n'
    )
    found = [m.groups() for _, pattern in COURSE_LINKS for m in pattern.finditer(text)]
    assert found == [("d2lmha/d2lmha", "v9.9.9"), ("https://github.com/someone/fork", "main")]
    assert not _resolves("v9.9.9") and _resolves(course_links().ref)


def test_every_link_kind_is_made_from_one_repository_and_ref():
    made = links("https://github.com/d2lmha/d2lmha", "main")
    path = "exercises/01_single_head.ipynb"
    assert made.install(("grade",)) == "d2lmha[grade] @ git+https://github.com/d2lmha/d2lmha@main"
    assert made.colab(path) == (
        "https://colab.research.google.com/github/d2lmha/d2lmha/blob/main/" + path
    )
    assert made.binder(path) == (
        "https://mybinder.org/v2/gh/d2lmha/d2lmha/main?urlpath=lab/tree/" + path
    )
    # nbgitpuller's documented form: HUB/hub/user-redirect/git-pull?repo=&branch=&urlpath=,
    # the clone in a folder named after the repository URL's last part.
    link = made.nbgitpuller("https://hub.example.edu/", path)
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "hub.example.edu",
        "/hub/user-redirect/git-pull",
    )
    assert parse_qs(parts.query) == {
        "repo": ["https://github.com/d2lmha/d2lmha"],
        "branch": ["main"],
        "urlpath": ["lab/tree/d2lmha/" + path],
    }


@pytest.mark.parametrize(
    "repo_url, ref, message",
    [
        ("github.com/d2lmha/d2lmha", "main", "repo_url must be"),
        ("https://github.com/d2lmha/d2lmha", "../main", "ref must be"),
        ("https://github.com/d2lmha/d2lmha", "main branch", "ref must be"),
        ("https://github.com/d2lmha/d2lmha", "", "ref must be"),
    ],
)
def test_links_refuse_what_is_not_a_repository_or_a_ref(repo_url, ref, message):
    with pytest.raises(ValueError, match=message):
        links(repo_url, ref)


def test_nbgitpuller_links_need_the_hubs_url():
    with pytest.raises(ValueError, match="hub must be"):
        links("https://github.com/d2lmha/d2lmha", "main").nbgitpuller("hub.example.edu", "x")


def test_make_links_prints_one_link_per_set_and_chapter_in_both_editions():
    out = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "links",
            f"PYTHON={sys.executable}",
            "REPO_URL=https://github.com/class/d2lmha-fall",
            "REF=fall-2026",
            "HUB=https://hub.example.edu",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    expected = hand_out()
    assert len(out) == len(expected) == 2 * (9 + 7)  # chapters 00-08, sets 01-07, two editions
    for line, (edition, kind, path) in zip(out, expected, strict=True):
        assert line.split("\t")[:3] == [edition, kind, path]
        assert line.endswith(f"urlpath=lab/tree/d2lmha-fall/{path}")
        assert "repo=https://github.com/class/d2lmha-fall&branch=fall-2026&" in line
