"""Graded exercises: student notebooks in step with their sources, and grading that scores right.

The submissions graded here are made from exercise set 01's own notebooks with nbformat
(``hostile.set_01_cases``): the solution under a name without the set's prefix, the blank
student notebook without its set in the metadata, a wrong answer (no √d), one that raises,
one with a cell that loops forever, one that exits after its answers, one with another
kernelspec, a corrupt file and one of no known set. They are graded in the shared class
(``grading_class.py``). Hostile submissions are in ``test_grading_security.py``.
"""

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from otter.nbmeta_config import NBMetadataConfig
from otter.test_files import create_test_file

from d2lmha import grading
from grading_class import CELL_TIMEOUT, SETS, build


def student_view(path):
    """What a learner gets: each cell's type and source, and otter's metadata (public tests)."""
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source) for c in nb.cells], nb.metadata.get("otter")


def question_tests(path):
    """``{question: [(points, hidden), ...]}`` for the tests stored in a notebook's metadata."""
    config = NBMetadataConfig.from_notebook(nbformat.read(path, as_version=nbformat.NO_CONVERT))
    return {
        q: [(tc.points, tc.hidden) for tc in create_test_file(str(path), config, q).test_cases]
        for q in config.tests
    }


@pytest.fixture(scope="module", params=sorted(SETS))
def built(request):
    return build(request.param)


def test_committed_student_notebook_is_in_step(built):
    committed = grading.ROOT / "exercises" / built.notebook_name
    assert committed.exists(), f"run `make exercises` to write {committed}"
    assert student_view(committed) == student_view(built.student_notebook), (
        f"{committed.name} is stale: run `make exercises`"
    )


@pytest.mark.parametrize("set_id", sorted(SETS))
def test_committed_chinese_student_notebook_is_in_step(set_id):
    built_zh = build(set_id, "zh")  # the 中文 twin (solutions/zh/), built like the English
    committed = grading.ROOT / "exercises" / "zh" / built_zh.notebook_name
    assert committed.exists(), f"run `make zh` to write {committed}"
    assert student_view(committed) == student_view(built_zh.student_notebook), (
        f"zh/{committed.name} is stale: run `make zh`"
    )
    # Same questions and points as the English set, whose grader grades it (same hidden tests).
    assert built_zh.possible == build(set_id).possible


def test_every_question_has_public_and_hidden_tests(built):
    full, public = question_tests(built.solution_notebook), question_tests(built.student_notebook)
    assert full and full.keys() == public.keys() == built.possible.keys()
    for question, cases in full.items():
        hidden = [case for case in cases if case[1]]
        assert hidden and len(hidden) < len(cases), f"{question}: needs public and hidden tests"
        assert public[question] and not any(h for _, h in public[question]), (
            f"{question}: a hidden test reached the student notebook"
        )
        assert built.possible[question] == sum(points for points, _ in cases)


def row(graded_class, role):
    return graded_class["table"].loc[graded_class["names"]["cases"][role]]


def test_csv_has_one_row_per_file_and_the_columns(graded_class):
    table = graded_class["table"]
    assert list(table.reset_index().columns) == [
        "submission",
        "student_id",
        "status",
        "score",
        "possible",
        "set",
        *[f"{s}/q{i}" for s in sorted(SETS) for i in range(1, 10) if f"{s}/q{i}" in table],
        "warning",
        "error",
        "reported",
        "failed",
        "log",
    ]
    folder = Path(graded_class["folder"])
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    files -= {p for p in files if (folder / p).is_dir() and not p.endswith(".ipynb")}
    assert sorted(table.index) == sorted(files) and table.index.is_unique


def test_solution_scores_full_marks(graded_class):
    solution = row(graded_class, "solution")
    full = sum(build("01").possible.values())
    assert float(solution["possible"]) == full and float(solution["score"]) == full
    assert solution["error"] == "" and solution["reported"] == ""  # its cells ran, gc on


def test_blank_scores_zero(graded_class):
    blank = row(graded_class, "blank")
    assert blank["set"] == "01" and blank["score"] == "0.0" and blank["error"] == ""
    assert "q1 - 1: AssertionError: scaled_scores returned NoneType" in blank["failed"]


def test_wrong_answer_gets_partial_credit(graded_class):
    wrong = row(graded_class, "wrong")
    assert 0 < float(wrong["score"]) < float(wrong["possible"])
    # No √d: every q1 test checks a value now (the shape test too), so q1 earns nothing;
    # q2 to q4 do not use it.
    assert [float(wrong[f"01/q{i}"]) for i in range(1, 5)] == [0, 5, 5, 5]


def test_raising_submission_keeps_its_other_points(graded_class):
    raises = row(graded_class, "raises")
    assert 0 < float(raises["score"]) < float(raises["possible"]) and raises["01/q4"] == "0.0"
    assert "RuntimeError: not finished" in raises["reported"] and raises["error"] == ""


def test_a_looping_cell_costs_only_itself(graded_class):
    # The cell that never ends is stopped at the cell time limit and skipped; the rest runs.
    loops = row(graded_class, "loops")
    assert loops["score"] == loops["possible"], loops.to_dict()
    assert f"code cell 2 ran longer than {CELL_TIMEOUT} s; skipped" in loops["reported"]


def test_answers_before_an_exit_still_count(graded_class):
    exits = row(graded_class, "exits")
    assert exits["score"] == exits["possible"]
    assert "ended the process (exit status 0); skipped" in exits["reported"]


def test_another_kernelspec_is_graded_the_same(graded_class):
    kernel = row(graded_class, "kernel")
    assert kernel["score"] == kernel["possible"] and kernel["error"] == ""


def test_broken_submissions_get_a_row(graded_class):
    corrupt, unknown = row(graded_class, "corrupt"), row(graded_class, "unknown")
    assert corrupt["score"] == "0.0" and "unreadable" in corrupt["error"]
    assert corrupt["status"] == unknown["status"] == "not graded"
    assert "cannot tell the exercise set" in unknown["error"]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"timeout": 0}, "timeout"), ({"jobs": 0}, "jobs"), ({"folder": "missing"}, "folder")],
)
def test_grade_refuses_bad_arguments(tmp_path, kwargs, message):
    (tmp_path / "01_x.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    kwargs = {"folder": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=message):
        grading.grade(**kwargs)


def test_command_line_says_what_is_wrong(tmp_path, capsys):
    from d2lmha.grading.__main__ import main

    assert main(["grade", str(tmp_path / "missing")]) == 2
    assert "must be an existing folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not a notebook")
    assert main(["grade", str(tmp_path)]) == 2
    assert "holds no .ipynb files" in capsys.readouterr().err


def test_unsafe_mode_grades_the_same_without_the_sandbox(graded_class, tmp_path):
    """Three of the class's set-01 submissions, graded again without bubblewrap: the same
    scores (and so the same as a second sandboxed run, which the 中文 twins also show)."""
    table, folder = graded_class["table"], Path(graded_class["folder"])
    names = [f"sets/01_{role}.ipynb" for role in ("solution", "blank", "wrong")]
    (tmp_path / "in").mkdir()
    for name in names:
        (tmp_path / "in" / Path(name).name).write_bytes((folder / name).read_bytes())
    csv = grading.grade(tmp_path / "in", jobs=2, out=tmp_path / "g.csv", unsafe_no_sandbox=True)
    unsafe = pd.read_csv(csv, dtype=str, keep_default_na=False).set_index("submission")
    columns = ["score", "01/q1", "01/q2", "01/q3", "01/q4"]
    for name in names:
        assert unsafe.loc[Path(name).name, columns].tolist() == table.loc[name, columns].tolist()


def test_without_bubblewrap_nothing_is_graded_and_the_risk_is_named(tmp_path, monkeypatch, capsys):
    from d2lmha.grading import sandbox
    from d2lmha.grading.__main__ import main

    (tmp_path / "01_x.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-that-is-not-installed")
    with pytest.raises(grading.SandboxUnavailable, match="forge scores"):
        grading.grade(tmp_path, out=tmp_path / "g.csv")
    assert not (tmp_path / "g.csv").exists()
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "bubblewrap (bwrap) is not installed" in capsys.readouterr().err


def test_a_killed_run_keeps_its_rows_and_resume_grades_only_the_rest(tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    import time

    grade_module = sys.modules["d2lmha.grading.grade"]  # the module, not the function

    folder, out = tmp_path / "class", tmp_path / "out" / "scores.csv"
    folder.mkdir()
    blank = nbformat.read(grading.ROOT / "exercises" / "01_single_head.ipynb", as_version=4)
    for i in range(3):  # three different notebooks: no copy is graded once for another
        blank.cells.append(nbformat.v4.new_markdown_cell(f"student {i}"))
        nbformat.write(blank, folder / f"01_student{i}.ipynb")
    journal = out.with_suffix(".rows.jsonl")
    grader = subprocess.Popen(
        [sys.executable, "-m", "d2lmha.grading", "grade", str(folder), "--jobs", "1"]
        + ["--out", str(out)],
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and grader.poll() is None:
        if journal.is_file() and journal.read_text().count("\n") >= 1:
            break
        time.sleep(0.1)
    os.killpg(grader.pid, signal.SIGKILL)  # the grader, its sandboxes and its scorers
    grader.wait()
    done = [line for line in journal.read_text().splitlines() if line.strip()]
    assert 1 <= len(done) < 3 and not out.exists(), "the kill came too late to test anything"
    graded_again = []
    real = grade_module.run_sandboxed

    def counting(data, *args, **kwargs):
        graded_again.append(data)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(grade_module, "run_sandboxed", counting)
    csv = grading.grade(folder, jobs=1, out=out, resume=True)
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert len(graded_again) == 3 - len(done)
    assert table["status"].tolist() == ["graded"] * 3 and set(table["score"]) == {"0.0"}


def test_default_jobs_are_the_cpus_this_process_may_use():
    """Pinned to one CPU (as ``taskset -c 0`` or a container's cpuset does), a process counts
    one. A forked child pins itself: no new interpreter to start."""
    import os

    from d2lmha.grading.sandbox import usable_cpus

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: pin, count, report, leave without running pytest's exit code
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
            os.write(write, str(usable_cpus()).encode())
        finally:
            os._exit(0)
    os.close(write)
    counted = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert counted == "1"
    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))


def test_a_set_is_rebuilt_when_the_package_changes(tmp_path, monkeypatch):
    import importlib
    import shutil

    assign = importlib.import_module("d2lmha.grading.assign")  # the module, not the function

    package = tmp_path / "d2lmha"
    shutil.copytree(assign.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(assign, "PACKAGE", package)
    before = assign._source_key(SETS["07"])
    with open(package / "multihead.py", "a") as file:
        file.write("\n# a change to a class whose objects set 07's plan holds\n")
    assert assign._source_key(SETS["07"]) != before
