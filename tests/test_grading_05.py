"""Exercise set 05 grades right: the solution scores full marks, the blank notebook zero, and a
plausible wrong answer (importance as |mean gradient| instead of mean |gradient|) partial
credit strictly between. The student notebook's freshness and the public/hidden split of
every set are checked in test_grading.py."""
import copy

import nbformat
import pandas as pd
import pytest

from d2lmha import grading

MASTER = grading.exercise_sets()["05"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    built = grading.build(MASTER, tmp_path_factory.mktemp("assign") / MASTER.stem)
    solution = nbformat.read(built.solution_notebook, as_version=4)
    wrong = copy.deepcopy(solution)
    (cell,) = [c for c in wrong.cells
               if c.cell_type == "code" and "def importance_from_gradients(" in c.source]
    right = "scores = gradients.abs().mean(dim=0)"
    assert right in cell.source
    cell.source = cell.source.replace(right, "scores = gradients.mean(dim=0).abs()")
    blank = nbformat.read(grading.ROOT / "exercises" / built.notebook_name, as_version=4)
    folder = tmp_path_factory.mktemp("submissions")
    for name, nb in (("solution", solution), ("blank", blank), ("wrong", wrong)):
        nbformat.write(nb, folder / f"05_{name}.ipynb")
    csv = grading.grade(folder, timeout=300, jobs=3, out=tmp_path_factory.mktemp("out") / "g.csv",
                        build_dir=tmp_path_factory.mktemp("build"))
    table = pd.read_csv(csv, dtype={"set": str, "error": str}).fillna({"error": ""})
    return table.set_index("submission"), built.possible


def test_solution_scores_full_marks(graded):
    table, possible = graded
    solution = table.loc["05_solution.ipynb"]
    assert solution["set"] == "05" and solution["possible"] == sum(possible.values()) >= 9
    assert solution["score"] == solution["possible"] and solution["error"] == ""


def test_blank_scores_zero(graded):
    table, _ = graded
    blank = table.loc["05_blank.ipynb"]
    assert blank["score"] == 0 and blank["error"] == ""


def test_wrong_importance_gets_partial_credit(graded):
    table, possible = graded
    wrong = table.loc["05_wrong.ipynb"]
    assert 0 < wrong["score"] < wrong["possible"]
    # Signs cancel in |mean gradient|: q2's worked example and the hidden comparison with the
    # package fail; the unit-norm and silent-layer checks still pass. q1 and q3 keep theirs.
    assert (wrong["05/q1"], wrong["05/q2"], wrong["05/q3"]) == (possible["q1"], 2, possible["q3"])
