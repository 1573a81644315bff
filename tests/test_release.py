"""`make release`: the students' copy holds the course and nothing of the answers.

One copy is built (from HEAD, into a temporary folder) for a class repository on GitHub at a
branch, and checked as a student would receive it: a new git repository with one commit; the
chapters, student notebooks, package and learner's files of both editions; no solutions, no
hidden test in any form (each hidden test's code and its ``def`` line, searched in every file
as text and as a notebook stores it), no instructor's guide, no grading material; every
Colab, Binder, install and nbgitpuller link pointing at the class repository at its branch;
a Makefile whose ``lab`` and ``test`` work without the instructor's files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from d2lmha import editions
from d2lmha.editions import codes
from tests.test_links import COURSE_LINKS
from tools import release as tool
from tools.links import hand_out, links
from tools.notebooks import all_notebooks, is_badge_line, place

ROOT = Path(__file__).resolve().parents[1]
REPO_URL, REF = "https://github.com/myclass/d2lmha-fall", "fall-2026"
KEPT = ["Makefile", "README.md", "pyproject.toml", "environment.yml", "LICENSE",
        "binder/environment.yml", "binder/postBuild", "d2lmha/__init__.py",
        "d2lmha/data/paraphrases.tsv", "conftest.py"]  # fmt: skip


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("release") / "d2lmha-fall"
    tool.release(dest, REPO_URL, REF)
    return dest


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)


def _hidden_code_in(text: str) -> list[str]:
    """The hidden tests (solutions of both editions) whose code or ``def`` line is in
    ``text``: as written, or JSON-escaped as a notebook's metadata stores a test."""
    found = []
    for name, code in tool.hidden_tests(ROOT).items():
        signature = re.search(r"^def \w+\(", code, re.M).group(0)
        forms = (code, json.dumps(code)[1:-1], signature)
        if any(form in text for form in forms):
            found.append(name)
    return found


def test_the_copy_is_a_new_repository_with_one_commit_on_the_branch(copy):
    assert _git("rev-list", "--count", "HEAD", cwd=copy).stdout.strip() == "1"
    assert _git("branch", "--show-current", cwd=copy).stdout.strip() == REF
    assert _git("status", "--porcelain", cwd=copy).stdout == ""  # everything committed


def test_the_copy_holds_the_course_in_both_editions(copy):
    for folder in ("notebooks", "exercises"):
        for sub in ("", *(f"{code}/" for code in codes())):
            ours = sorted(p.name for p in (ROOT / folder / sub).glob("*.ipynb"))
            assert ours and sorted(p.name for p in (copy / folder / sub).glob("*.ipynb")) == ours
    assert [k for k in KEPT if not (copy / k).is_file()] == []
    package = {p.relative_to(ROOT) for p in (ROOT / "d2lmha").rglob("*.py")}
    assert package <= {p.relative_to(copy) for p in (copy / "d2lmha").rglob("*.py")}


def test_the_copy_has_no_solutions_hidden_tests_guide_or_grading_material(copy):
    paths = [p.relative_to(copy).as_posix() for p in _files(copy)]
    forbidden = re.compile(
        r"(^|/)(solutions|build|tests|docs|translations|tools|e2e)(/|$)|mistakes_|\.zip$|"
        r"plan\.(dill|safetensors)$|instructors\.md$|otter_config"
    )
    assert [p for p in paths if forbidden.search(p)] == []


def test_no_hidden_test_appears_in_any_file_of_the_copy(copy):
    assert len(tool.hidden_tests(ROOT)) > 50  # both editions' hidden tests were found
    leaks = {}
    for path in _files(copy):
        text = path.read_bytes().decode("utf-8", errors="replace")
        if found := _hidden_code_in(text):
            leaks[path.relative_to(copy).as_posix()] = found
    assert leaks == {}
    assert tool.leaks(copy) == []


def test_the_leak_search_finds_hidden_tests_where_they_are():
    """The search above is not blind: it finds the hidden tests in the solution notebooks (as
    cells) and in a notebook that stores them in its metadata, as otter's autograder does."""
    solution = ROOT / "solutions" / "01_single_head.ipynb"
    assert _hidden_code_in(solution.read_text(encoding="utf-8"))
    code = next(iter(tool.hidden_tests(ROOT).values()))
    stored = nbformat.v4.new_notebook(metadata={"otter": {"tests": {"q1": code}}})
    assert _hidden_code_in(nbformat.writes(stored))


def test_every_link_in_the_copy_points_at_the_class_repository_at_its_branch(copy):
    github = REPO_URL.removeprefix("https://github.com/")
    expected = {"colab": github, "binder": github, "install": REPO_URL}
    found = []
    for path in [*all_notebooks(copy), copy / "README.md"]:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        found += [(k, *m.groups()) for k, pattern in COURSE_LINKS for m in pattern.finditer(text)]
    assert {kind for kind, *_ in found} == set(expected)
    assert [f for f in found if f[1:] != (expected[f[0]], REF)] == []
    nothing_old = [p for p in _files(copy) if "d2lmha/d2lmha" in p.read_text(errors="replace")]
    assert nothing_old == []
    made = links(REPO_URL, REF)
    for _, _, path in hand_out(copy):
        assert (copy / path).is_file()
        assert made.nbgitpuller("https://hub.x", path).endswith(f"lab/tree/d2lmha-fall/{path}")


def test_the_notebooks_are_the_courses_but_for_their_links(copy):
    """Same cells, outputs and metadata as in this repository, except the set-up cell's
    install line and the chapter header's badges."""

    def without_links(nb):
        nb.cells = nb.cells[1:]  # the set-up cell
        for cell in nb.cells:
            cell.source = "\n".join(
                line for line in cell.source.split("\n") if not is_badge_line(line)
            )
        return nb

    for path in all_notebooks(copy):
        folder, edition = place(path)
        ours = ROOT / folder / editions.edition(edition).folder / path.name
        assert without_links(nbformat.read(path, as_version=4)) == without_links(
            nbformat.read(ours, as_version=4)
        ), path.name


def test_the_copys_readme_and_makefile_have_only_the_learners_part(copy):
    readme = (copy / "README.md").read_text(encoding="utf-8")
    makefile = (copy / "Makefile").read_text(encoding="utf-8")
    for text in (readme, makefile):
        assert "instructor only" not in text
    assert "docs/instructors.md" not in readme and "make grade" not in readme
    assert tool.dangling_links(copy) == []
    run = [
        "make",
        "-n",
        "--no-print-directory",
        "-o",
        ".venv/.installed",
    ]
    lab = subprocess.run([*run, "lab"], cwd=copy, capture_output=True, text=True, check=True)
    assert "jupyter lab" in lab.stdout and "notebooks/00_overview.ipynb" in lab.stdout
    test = subprocess.run([*run, "test"], cwd=copy, capture_output=True, text=True, check=True)
    assert test.stdout.rstrip().endswith("--nbval-current-env notebooks exercises"), test.stdout
    for target in ("grade", "release", "links", "e2e", "notebook-meta"):
        gone = subprocess.run([*run, target], cwd=copy, capture_output=True, text=True)
        assert gone.returncode != 0, target


def test_the_copys_tests_collect_without_the_instructors_files(copy):
    """conftest.py loads the CPU budgets only where tests/ exists: in the copy, pytest
    collects the notebooks (nbval) without it."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         "--nbval-lax", "notebooks/00_overview.ipynb", "exercises/01_single_head.ipynb"],
        cwd=copy, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "budget" not in out.stdout


def test_the_copy_is_refused_when_it_would_hand_out_what_it_must_not(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    with pytest.raises(ValueError, match="dest must be a new or empty folder"):
        tool.release(full, REPO_URL, REF)
    with pytest.raises(ValueError, match="ref must be"):
        tool.release(tmp_path / "new", REPO_URL, "no such..ref")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("a\n# instructor only\nb\n", "never closed"),
        ("a\n# end instructor only\n", "never opened"),
        ("# instructor only\n<!-- instructor only -->\n", "inside another"),
    ],
)
def test_unbalanced_instructor_blocks_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        tool.drop_instructor_blocks(text, "Makefile")


def test_instructor_blocks_are_dropped_with_their_markers():
    text = "keep\n# instructor only: why\ndrop\n# end instructor only\nkeep too\n"
    assert tool.drop_instructor_blocks(text) == "keep\nkeep too\n"
    spaced = "keep\n\n<!-- instructor only -->\ndrop\n<!-- end instructor only -->\n\nnext\n\n\nx\n"
    assert tool.drop_instructor_blocks(spaced) == "keep\n\nnext\n\n\nx\n"


def test_a_release_into_a_clone_of_the_class_repository_is_one_more_commit(tmp_path):
    """An update during the term: the new copy is committed on top of the last one, so a
    learner's clone with their own work merges it (git pull, as nbgitpuller does)."""
    first, server = tmp_path / "class", tmp_path / "server.git"
    tool.release(first, REPO_URL, REF, rev="HEAD~1")
    _git("clone", "--quiet", "--bare", str(first), str(server), cwd=tmp_path)  # the hosting
    clone, learner = tmp_path / "clone", tmp_path / "learner"
    for target in (clone, learner):
        _git("clone", "--quiet", str(server), str(target), cwd=tmp_path)
    answer = learner / "exercises" / "01_single_head.ipynb"
    answer.write_text(answer.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    _git(*tool.AUTHOR, "commit", "--quiet", "-am", "my answers", cwd=learner)

    tool.release(clone, REPO_URL, REF)
    assert _git("rev-list", "--count", "HEAD", cwd=clone).stdout.strip() == "2"
    assert tool.leaks(clone) == [] and not (clone / "solutions").exists()
    _git("push", "--quiet", "origin", REF, cwd=clone)
    _git(*tool.AUTHOR, "pull", "--quiet", "--no-rebase", "origin", REF, cwd=learner)
    assert answer.read_text(encoding="utf-8").endswith("\n\n")  # the learner's work is kept

    (clone / "stray.txt").write_text("uncommitted")
    with pytest.raises(ValueError, match="a clone of the class repository on branch"):
        tool.release(clone, REPO_URL, REF)
    assert (clone / "stray.txt").exists()  # refused before anything was touched
