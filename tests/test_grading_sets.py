"""Every exercise set grades right, graded the way ``make grade`` grades a folder.

For each set: the solution scores full marks, the blank student notebook scores zero, and a
submission with plausible mistakes scores partial credit strictly between — each mistaken
question loses some but not all of its points, every other question keeps full marks. All
submissions are graded in one ``grade`` call. Set 01's extra cases (a submission that raises,
one that loops forever, unreadable files) and the student notebooks' freshness are in
``test_grading.py``; hostile submissions in ``test_grading_security.py``.
"""

import copy
import importlib

import nbformat
import pandas as pd
import pytest

from d2lmha import grading

# Each set's planned mistakes live in tests/mistakes_NN.py: MISTAKES = {question: (text that
# finds the answer cell, e.g. "def f(" or "prediction =", text in the solution, plausible
# mistake)}. Every set has one.
SETS = grading.exercise_sets()
MISTAKES = {key: importlib.import_module(f"mistakes_{key}").MISTAKES for key in SETS}


def make_mistakes(nb, mistakes):
    for marker, right, wrong in mistakes.values():
        (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
        assert right in cell.source, f"{marker}: the solution no longer contains {right!r}"
        cell.source = cell.source.replace(right, wrong)
    return nb


# The 中文 edition's submissions (made from solutions/zh and exercises/zh) are graded by the same
# call, hence by the English set's grader and hidden tests, and must score exactly the same.
EDITIONS = {"": "", "zh_": "zh"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``(table indexed by file name, {set: points per question})``."""
    folder = tmp_path_factory.mktemp("submissions")
    possible = {}
    for key, master in SETS.items():
        for prefix, edition in EDITIONS.items():
            source = master.parent / edition / master.name
            built = grading.build(source, grading.BUILD_DIR / edition / master.stem, not edition)
            possible[key] = built.possible
            solution = nbformat.read(built.solution_notebook, as_version=4)
            blank = grading.ROOT / "exercises" / edition / built.notebook_name
            blank = nbformat.read(blank, as_version=4)
            wrong = make_mistakes(copy.deepcopy(solution), MISTAKES[key])
            for role, nb in (("solution", solution), ("blank", blank), ("wrong", wrong)):
                nbformat.write(nb, folder / f"{key}_{prefix}{role}.ipynb")
    csv = grading.grade(folder, timeout=300, jobs=2, out=folder.parent / "grades.csv")
    table = pd.read_csv(csv, dtype={"set": str, "error": str}).fillna({"error": ""})
    return table.set_index("submission"), possible


def scores(graded, key, role):
    """The English submission's scores, after checking that the Chinese one scored the same."""
    zh_row, zh_scores, _ = _scores(graded, key, f"zh_{role}")
    row, per_question, possible = _scores(graded, key, role)
    assert zh_scores == per_question and zh_row["score"] == row["score"], (key, role)
    return row, per_question, possible


def _scores(graded, key, role):
    table, possible = graded
    row = table.loc[f"{key}_{role}.ipynb"]
    assert row["set"] == key and row["error"] == ""
    assert row["possible"] == sum(possible[key].values())
    return row, {q: row[f"{key}/{q}"] for q in possible[key]}, possible[key]


def test_every_set_has_a_planned_mistake():
    assert sorted(MISTAKES) == sorted(SETS)


@pytest.mark.parametrize("key", sorted(SETS))
def test_solution_scores_full_marks(graded, key):
    row, per_question, possible = scores(graded, key, "solution")
    assert len(possible) >= 4 and per_question == possible
    assert row["score"] == row["possible"]


@pytest.mark.parametrize("key", sorted(SETS))
def test_blank_scores_zero(graded, key):
    row, per_question, possible = scores(graded, key, "blank")
    assert row["score"] == 0 and per_question == dict.fromkeys(possible, 0)


@pytest.mark.parametrize("key", sorted(SETS))
def test_plausible_mistakes_get_partial_credit(graded, key):
    row, per_question, possible = scores(graded, key, "wrong")
    assert sorted(MISTAKES[key]) == sorted(possible), f"set {key}: a planned mistake per question"
    assert 0 < row["score"] < row["possible"]
    for question, points in per_question.items():
        if question in MISTAKES[key]:
            assert 0 < points < possible[question], (key, question, points)
        else:
            assert points == possible[question], (key, question, points)
