"""Every notebook (chapters, exercises, solutions) as ``python -m tools.notebooks all`` leaves it:
the Colab set-up cell first, Colab/Binder links under a chapter's title, reveal.js slide types
on every cell, and no transient metadata (execution timestamps and the like; outputs and
execution counts kept, the counts in run order)."""

import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

from d2lmha import editions
from tools import notebooks as tool
from tools.links import course_links, links

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = tool.all_notebooks()
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def test_every_folder_has_notebooks_in_both_editions():
    assert {tool.place(p) for p in NOTEBOOKS} == {
        (folder, edition) for folder in tool.FOLDERS for edition in tool.LANGS
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_starts_with_the_setup_cell(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "code"
    folder, edition = tool.place(path)
    assert first.source == tool.setup_source(folder, edition=edition), (
        "run `python -m tools.notebooks setup` (the set-up cell is made from pyproject.toml)"
    )


@pytest.mark.parametrize(
    "path",
    [p for p in NOTEBOOKS if tool.place(p)[0] == "notebooks"],
    ids=[i for i in IDS if i.startswith("notebooks/")],
)
def test_chapter_header_links_to_colab_and_binder(path):
    header = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    title, blank, links = header.source.split("\n")[:3]
    assert title.startswith("# ") and blank == ""
    assert links == tool.badges(path)
    where = path.relative_to(ROOT).as_posix()
    assert f"/blob/{course_links().ref}/{where})" in links


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_transient_metadata(path):
    committed, stripped = tool.expected(["strip"], path)
    assert committed == stripped, (
        f"{path.name} carries execution timestamps or other transient metadata: "
        "run `python -m tools.notebooks strip`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_cell_has_its_slide_type(path):
    committed, made = tool.expected(["slides"], path)
    assert committed == made, "run `python -m tools.notebooks slides`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_cells_were_run_top_to_bottom(path):
    """Execution counts rise cell by cell: the notebook was run top to bottom (make notebooks),
    not saved after cells were re-run by hand in another order."""
    counts = [
        c.execution_count
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code" and c.execution_count is not None
    ]
    assert counts == sorted(set(counts)), counts


def test_strip_removes_what_a_run_adds_and_keeps_outputs():
    nb = nbformat.read(ROOT / "notebooks" / "01_single_head_attention.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs)
    cell = nb.cells[index]
    cell.metadata["execution"] = {"iopub.status.busy": "2026-12-02T08:00:00.000000Z"}
    cell.metadata["ExecuteTime"] = {"end_time": "2026-12-02T08:00:01.000000Z"}
    nb.metadata.setdefault("language_info", {})["version"] = "3.11.7"
    texts = [o.get("text") or o.get("data") for o in cell.outputs]
    count = cell.execution_count
    stripped = tool.strip(nb).cells[index]
    assert stripped.execution_count == count is not None  # kept: nbval needs it
    assert "execution" not in stripped.metadata and "ExecuteTime" not in stripped.metadata
    assert "version" not in nb.metadata["language_info"]
    assert [o.get("text") or o.get("data") for o in stripped.outputs] == texts  # outputs kept


def test_tool_is_idempotent(tmp_path):
    for folder in tool.FOLDERS:
        (tmp_path / folder).mkdir()
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    source = ROOT / "notebooks" / "00_overview.ipynb"
    target = tmp_path / "notebooks" / source.name
    target.write_bytes(source.read_bytes())
    tool.apply(list(tool.STEPS), target, tmp_path)
    once = target.read_bytes()
    assert tool.apply(list(tool.STEPS), target, tmp_path) is False
    assert target.read_bytes() == once


def _run_setup_cell(folder, edition, monkeypatch, importable):
    calls = []
    shell = InteractiveShell.instance()
    monkeypatch.setitem(shell.magics_manager.magics["line"], "pip", calls.append)
    if not importable:
        monkeypatch.setitem(sys.modules, "d2lmha", None)  # `import d2lmha` raises ImportError
    result = shell.run_cell(tool.setup_source(folder, edition=edition), store_history=False)
    assert result.success, result.error_in_exec
    return calls


PLACES = [(folder, edition) for folder in tool.FOLDERS for edition in tool.LANGS]


@pytest.mark.parametrize("folder, edition", PLACES)
def test_setup_cell_does_nothing_where_d2lmha_imports(folder, edition, monkeypatch):
    # make lab, Binder and the grading sandbox (offline): pip must never run there.
    assert _run_setup_cell(folder, edition, monkeypatch, importable=True) == []


@pytest.mark.parametrize("folder, edition", PLACES)
def test_setup_cell_installs_from_the_repository_at_the_ref_where_d2lmha_is_missing(
    folder, edition, monkeypatch
):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    url, ref = pyproject["project"]["urls"]["Repository"], pyproject["tool"]["d2lmha"]["ref"]
    (line,) = _run_setup_cell(folder, edition, monkeypatch, importable=False)
    wanted = ["grade" if folder != "notebooks" else "", editions.edition(edition).extra]
    extras = f"[{','.join(filter(None, wanted))}]" if any(wanted) else ""
    assert line == f'install --quiet "d2lmha{extras} @ git+{url}@{ref}"'


def test_readme_links_every_chapter_to_colab_and_binder():
    readme = (ROOT / "README.md").read_text()
    assert tool.readme(readme) == readme, "run `make notebook-meta` (the README's links table)"
    for path in (p for p in NOTEBOOKS if tool.place(p)[0] == "notebooks"):
        for link in tool.badges(path).split(" · "):
            assert link.split("](", 1)[1].rstrip(")") in readme, path.name


def test_a_repository_off_github_gets_the_links_it_can_have(tmp_path):
    """A class's copy on another git server: Binder's git link, no Colab (GitHub only); on a
    local path: neither, and the chapter's header keeps no empty badge line."""
    path = ROOT / "notebooks" / "01_single_head_attention.ipynb"
    gitlab = links("https://gitlab.example.edu/class/d2lmha.git", "fall-2026")
    assert tool.badges(path, made=gitlab) == (
        "[Launch on Binder](https://mybinder.org/v2/git/"
        "https%3A%2F%2Fgitlab.example.edu%2Fclass%2Fd2lmha.git/fall-2026"
        "?urlpath=lab/tree/notebooks/01_single_head_attention.ipynb)"
    )
    local = links("file:///srv/class/d2lmha", "main")
    assert tool.badges(path, made=local) == ""
    nb = tool.add_setup(nbformat.read(path, as_version=4), path, made=local)
    header = next(c for c in nb.cells if c.cell_type == "markdown").source.split("\n")
    assert header[0].startswith("# ") and header[1] == "" and header[2].strip() != ""
    assert "Colab" not in header[2] and "Binder" not in header[2]


STUDENT = [p for p in NOTEBOOKS if tool.place(p)[0] == "exercises"]


@pytest.mark.parametrize("path", STUDENT, ids=[str(p.relative_to(ROOT)) for p in STUDENT])
def test_student_cells_have_the_ids_a_rebuild_gives(path, tmp_path):
    """The cells otter writes get ids from their content (d2lmha.grading.assign's
    stable_cell_ids), not otter's random ones, so rebuilding an unchanged set changes no line."""
    from d2lmha.grading.assign import stable_cell_ids

    edition = path.parent.name if path.parent.name in editions.TRANSLATED else ""
    master = ROOT / "solutions" / edition / path.name
    copy = tmp_path / path.name
    nb = nbformat.read(path, as_version=4)
    kept = {c.id for c in nbformat.read(master, as_version=4).cells}
    for index, cell in enumerate(nb.cells):  # as otter leaves them: random ids but the master's
        cell.id = cell.id if cell.id in kept else f"otter{index}"
    nbformat.write(nb, copy)
    stable_cell_ids(copy, master)
    stable_cell_ids(copy, master)  # idempotent
    rebuilt = [c.id for c in nbformat.read(copy, as_version=4).cells]
    assert rebuilt == [c.id for c in nbformat.read(path, as_version=4).cells]
