"""Exercise set 04 grades right, graded as ``make grade`` grades a folder.

Three submissions: the solution (full marks), the blank student notebook (zero) and a
plausible wrong answer to q1 (d2l's weights unfolded heads-first: the right shape, the wrong
rows), which must keep q1's shape point and the full marks of q2-q4, so partial credit
strictly between. The student notebook's freshness and the public/hidden split of every set
are checked in test_grading.py.
"""
import copy

import nbformat
import pandas as pd
import pytest

from d2lmha import grading

MASTER = grading.exercise_sets()["04"]
RIGHT_UNFOLD = "return weights.reshape(-1, num_heads, weights.shape[-2], weights.shape[-1])"
WRONG_UNFOLD = "return weights.reshape(num_heads, -1, *weights.shape[-2:]).transpose(0, 1)"


def heads_first(nb):
    """The wrong answer: unfold d2l's (batch·heads, q, k) as if heads came first."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "def unfold_heads(" in c.source]
    assert RIGHT_UNFOLD in cell.source
    cell.source = cell.source.replace(RIGHT_UNFOLD, WRONG_UNFOLD)
    return nb


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """``(table, possible)``: one CSV row per role (index ``04_<role>.ipynb``), points per question."""
    built = grading.build(MASTER, tmp_path_factory.mktemp("assign") / MASTER.stem)
    solution = nbformat.read(built.solution_notebook, as_version=4)
    folder = tmp_path_factory.mktemp("submissions")
    submissions = {"solution": solution, "wrong": heads_first(copy.deepcopy(solution)),
                   "blank": nbformat.read(grading.ROOT / "exercises" / built.notebook_name,
                                          as_version=4)}
    for role, nb in submissions.items():
        nbformat.write(nb, folder / f"04_{role}.ipynb")
    csv = grading.grade(folder, timeout=300, jobs=3, out=folder.parent / "grades.csv",
                        build_dir=tmp_path_factory.mktemp("build"))
    table = pd.read_csv(csv, dtype={"set": str, "error": str}).fillna({"error": ""})
    return table.set_index("submission"), built.possible


@pytest.mark.parametrize("role", ["solution", "blank", "wrong"])
def test_scores_per_question(results, role):
    table, possible = results
    assert sorted(possible) == ["q1", "q2", "q3", "q4"] and sum(possible.values()) >= 12
    expected = {"solution": dict(possible),
                "blank": dict.fromkeys(possible, 0),
                "wrong": {**possible, "q1": 1}}[role]   # q1 keeps only its shape test
    row = table.loc[f"04_{role}.ipynb"]
    assert row["set"] == "04" and row["error"] == ""
    assert {q: row[f"04/{q}"] for q in possible} == expected
    assert row["score"] == sum(expected.values()) and row["possible"] == sum(possible.values())
    if role == "wrong":
        assert 0 < row["score"] < row["possible"]
