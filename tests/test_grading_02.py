"""Exercise set 02 grades right: the solution scores full marks, the blank notebook zero, and a
plausible wrong answer (the loop over heads divides by √num_hiddens instead of √d_k) partial
credit strictly between. Each submission is graded by ``grading.grade_one``, as ``make grade``
does for every file of a folder. The student notebook's freshness and the public/hidden split
of every set are checked in test_grading.py."""
import copy

import nbformat
import pytest

from d2lmha import grading

MASTER = grading.exercise_sets()["02"]


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    return grading.build(MASTER, tmp_path_factory.mktemp("assign") / MASTER.stem)


def scale_by_num_hiddens(nb):
    """The wrong answer: √num_hiddens in the loop over heads, where √d_k belongs."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "def multihead_loop(" in c.source]
    assert "/ math.sqrt(d_k)" in cell.source
    cell.source = cell.source.replace("/ math.sqrt(d_k)", "/ math.sqrt(num_hiddens)")
    return nb


@pytest.fixture(scope="module")
def grade(autograder, tmp_path_factory):
    """Grade the solution, the blank student notebook or the wrong answer (once each)."""
    rows = {}

    def run(role):
        if role not in rows:
            solution = nbformat.read(autograder.solution_notebook, as_version=4)
            nb = {"solution": lambda: solution,
                  "blank": lambda: nbformat.read(grading.ROOT / "exercises"
                                                 / autograder.notebook_name, as_version=4),
                  "wrong": lambda: scale_by_num_hiddens(copy.deepcopy(solution))}[role]()
            path = tmp_path_factory.mktemp(role) / f"02_{role}.ipynb"
            nbformat.write(nb, path)
            rows[role] = grading.grade_one(path, autograder, timeout=300)
        return rows[role]
    return run


def test_solution_scores_full_marks(autograder, grade):
    row = grade("solution")
    assert autograder.possible == {"q1": 4, "q2": 4, "q3": 4, "q4": 4}
    assert row["set"] == "02" and row["possible"] == 16
    assert row["score"] == 16 and row["error"] == ""


def test_blank_scores_zero(grade):
    row = grade("blank")
    assert row["score"] == 0 and row["possible"] == 16 and row["error"] == ""


def test_wrong_scale_gets_partial_credit(grade):
    row = grade("wrong")
    assert 0 < row["score"] < row["possible"]
    # √num_hiddens instead of √d_k: of q3 only the shape test passes (its one-head case
    # would too, but the same test checks one feature per head); q1, q2, q4 keep theirs.
    assert [row[f"02/q{i}"] for i in range(1, 5)] == [4, 4, 1, 4]
