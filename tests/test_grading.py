"""Graded exercises: student notebooks in step with their sources, and grading that scores right.

The submissions graded here are made from exercise set 01's own notebooks with nbformat: the
solution, the blank student notebook, a wrong answer (no √d), one that raises, one with a
cell that loops forever, one that exits after its answers, one with another kernelspec, a
corrupt file and one of no known set. They are graded in one ``grade`` call. Hostile
submissions are in ``test_grading_security.py``.
"""

import copy

import nbformat
import pandas as pd
import pytest
from otter.nbmeta_config import NBMetadataConfig
from otter.test_files import create_test_file

from d2lmha import grading

SETS = grading.exercise_sets()
MASTER_01 = SETS["01"]


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


def build(set_id):
    """A set built into the shared, git-ignored build folder (reused while unchanged)."""
    return grading.build(SETS[set_id], grading.BUILD_DIR / SETS[set_id].stem)


@pytest.fixture(scope="module", params=sorted(SETS))
def built(request):
    return build(request.param)


def test_committed_student_notebook_is_in_step(built):
    committed = grading.ROOT / "exercises" / built.notebook_name
    assert committed.exists(), f"run `make exercises` to write {committed}"
    assert student_view(committed) == student_view(built.student_notebook), (
        f"{committed.name} is stale: run `make exercises`"
    )


def build_zh(set_id):
    """The 中文 twin of a set (``solutions/zh/``), built like the English one."""
    master = grading.ROOT / "solutions" / "zh" / SETS[set_id].name
    return grading.build(master, grading.BUILD_DIR / "zh" / master.stem, capture=False)


@pytest.mark.parametrize("set_id", sorted(SETS))
def test_committed_chinese_student_notebook_is_in_step(set_id):
    built_zh = build_zh(set_id)
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


def _answer_cell(nb, name):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source]
    return cell


def _submissions(built, folder):
    """Write the submissions; return {role: file name}."""
    solution = nbformat.read(built.solution_notebook, as_version=4)
    wrong, raises, loops, exits, kernel = (copy.deepcopy(solution) for _ in range(5))
    cell = _answer_cell(wrong, "scaled_scores")
    cell.source = cell.source.replace(" / math.sqrt(d)", "")  # forgets the √d
    assert cell.source != _answer_cell(solution, "scaled_scores").source
    cell = _answer_cell(raises, "sliding_window_attention")
    cell.source = 'raise RuntimeError("not finished")\n' + cell.source
    loops.cells.insert(
        2,
        nbformat.v4.new_code_cell(
            "import time\n"
            "while True:  # waits forever (sleeping, so it leaves the CPU to the others)\n"
            "    time.sleep(0.5)"
        ),
    )
    exits.cells.append(nbformat.v4.new_code_cell("import os\nos._exit(0)  # ends the kernel"))
    kernel.metadata["kernelspec"] = {
        "name": "conda-env-course-py",
        "display_name": "Course",
        "language": "python",
    }
    blank = nbformat.read(grading.ROOT / "exercises" / "01_single_head.ipynb", as_version=4)
    del blank.metadata["otter"]["assignment_name"]  # its set must then come from its name
    files = {
        "solution": ("solution.ipynb", solution),
        "blank": ("01_blank.ipynb", blank),
        "wrong": ("01_wrong.ipynb", wrong),
        "raises": ("01_raises.ipynb", raises),
        "loops": ("01_loops.ipynb", loops),
        "exits": ("01_exits.ipynb", exits),
        "kernel": ("01_kernel.ipynb", kernel),
    }
    for name, nb in files.values():
        nbformat.write(nb, folder / name)
    (folder / "01_corrupt.ipynb").write_text("{ not a notebook")
    (folder / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    return {role: name for role, (name, _) in files.items()} | {
        "corrupt": "01_corrupt.ipynb",
        "unknown": "notes.ipynb",
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    names = _submissions(build("01"), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    csv = grading.grade(
        folder, timeout=90, cell_timeout=10, jobs=2, out=tmp_path_factory.mktemp("out") / "g.csv"
    )
    text = {column: str for column in ("set", "error", "warning", "reported", "failed")}
    table = pd.read_csv(csv, dtype=text).fillna({column: "" for column in text})
    return {
        "table": table.set_index("submission"),
        "names": names,
        "folder": folder,
        "before": before,
        "columns": list(table.columns),
        "full": sum(build("01").possible.values()),
    }


def row(graded, role):
    return graded["table"].loc[graded["names"][role]]


def test_csv_has_one_row_per_submission_and_the_columns(graded):
    assert graded["columns"] == [
        "submission",
        "score",
        "possible",
        "set",
        "01/q1",
        "01/q2",
        "01/q3",
        "01/q4",
        "warning",
        "error",
        "reported",
        "failed",
    ]
    assert sorted(graded["table"].index) == sorted(graded["before"])


def test_solution_scores_full_marks(graded):
    solution = row(graded, "solution")
    assert solution["possible"] == graded["full"] and solution["score"] == graded["full"]
    assert solution["error"] == ""


def test_blank_scores_zero(graded):
    blank = row(graded, "blank")
    assert blank["set"] == "01" and blank["possible"] == graded["full"]
    assert blank["score"] == 0 and blank["error"] == ""
    assert "q1 - 1: AssertionError: scaled_scores returned NoneType" in blank["failed"]


def test_wrong_answer_gets_partial_credit(graded):
    wrong = row(graded, "wrong")
    assert 0 < wrong["score"] < wrong["possible"]
    # No √d: of q1's five tests only the shape test still passes; q2 to q4 do not use it.
    assert (wrong["01/q1"], wrong["01/q2"], wrong["01/q3"], wrong["01/q4"]) == (1, 4, 4, 5)


def test_raising_submission_keeps_its_other_points(graded):
    raises = row(graded, "raises")
    assert 0 < raises["score"] < raises["possible"] and raises["01/q4"] == 0
    assert "RuntimeError: not finished" in raises["reported"] and raises["error"] == ""


def test_a_looping_cell_costs_only_itself(graded):
    # The cell that never ends is stopped at the cell time limit and skipped; the rest runs.
    loops = row(graded, "loops")
    assert loops["score"] == graded["full"], loops.to_dict()
    assert "code cell 2 ran longer than 10 s; skipped" in loops["reported"]


def test_answers_before_an_exit_still_count(graded):
    exits = row(graded, "exits")
    assert exits["score"] == graded["full"]
    assert "ended the process (exit status 0); skipped" in exits["reported"]


def test_another_kernelspec_is_graded_the_same(graded):
    kernel = row(graded, "kernel")
    assert kernel["score"] == graded["full"] and kernel["error"] == ""


def test_broken_submissions_get_a_row(graded):
    assert row(graded, "corrupt")["score"] == 0 and "unreadable" in row(graded, "corrupt")["error"]
    assert "cannot tell the exercise set" in row(graded, "unknown")["error"]


def test_submissions_are_unchanged(graded):
    after = {p.name: p.read_bytes() for p in graded["folder"].iterdir()}
    assert after == graded["before"]


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
    assert main(["grade", str(tmp_path)]) == 2
    assert "holds no .ipynb files" in capsys.readouterr().err


@pytest.fixture(scope="module")
def regraded(graded, tmp_path_factory):
    """The same three submissions graded twice in the sandbox, and once without it."""
    folder = tmp_path_factory.mktemp("again")
    for role in ("solution", "blank", "wrong"):
        name = graded["names"][role]
        (folder / name).write_bytes((graded["folder"] / name).read_bytes())
    out = tmp_path_factory.mktemp("again-out")
    runs = [grading.grade(folder, timeout=90, jobs=2, out=out / f"{i}.csv") for i in range(2)]
    runs.append(
        grading.grade(folder, timeout=90, jobs=2, out=out / "unsafe.csv", unsafe_no_sandbox=True)
    )
    return [pd.read_csv(csv, dtype=str).fillna("").set_index("submission") for csv in runs]


def test_a_rerun_gives_the_same_scores(graded, regraded):
    first, second, _ = regraded
    pd.testing.assert_frame_equal(first, second)
    for name in first.index:
        assert first.loc[name, "score"] == str(graded["table"].loc[name, "score"])


def test_unsafe_mode_grades_the_same_without_the_sandbox(regraded):
    first, _, unsafe = regraded
    columns = ["score", "01/q1", "01/q2", "01/q3", "01/q4"]
    pd.testing.assert_frame_equal(first[columns], unsafe[columns])


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
