"""Exercise set 04 grades right: the solution scores full marks, the blank notebook zero, and a
plausible wrong answer (d2l's weights unfolded heads-first, ``reshape(heads, batch, q, k)``
then a transpose: the right shape, the wrong rows) partial credit strictly between. The
student notebook's freshness and the public/hidden split of every set are checked in
test_grading.py."""
import copy

import nbformat
import pandas as pd
import pytest

from d2lmha import grading

MASTER = grading.exercise_sets()["04"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    built = grading.build(MASTER, tmp_path_factory.mktemp("assign") / MASTER.stem)
    solution = nbformat.read(built.solution_notebook, as_version=4)
    wrong = copy.deepcopy(solution)
    (cell,) = [c for c in wrong.cells
               if c.cell_type == "code" and "def unfold_heads(" in c.source]
    right = "return weights.reshape(-1, num_heads, weights.shape[-2], weights.shape[-1])"
    assert right in cell.source
    cell.source = cell.source.replace(
        right, "return weights.reshape(num_heads, -1, *weights.shape[-2:]).transpose(0, 1)")
    blank = nbformat.read(grading.ROOT / "exercises" / built.notebook_name, as_version=4)
    folder = tmp_path_factory.mktemp("submissions")
    for name, nb in (("solution", solution), ("blank", blank), ("wrong", wrong)):
        nbformat.write(nb, folder / f"04_{name}.ipynb")
    csv = grading.grade(folder, timeout=300, jobs=3, out=tmp_path_factory.mktemp("out") / "g.csv",
                        build_dir=tmp_path_factory.mktemp("build"))
    table = pd.read_csv(csv, dtype={"set": str, "error": str}).fillna({"error": ""})
    return table.set_index("submission"), built.possible


def test_solution_scores_full_marks(graded):
    table, possible = graded
    solution = table.loc["04_solution.ipynb"]
    assert solution["set"] == "04" and solution["possible"] == sum(possible.values()) >= 12
    assert solution["score"] == solution["possible"] and solution["error"] == ""


def test_blank_scores_zero(graded):
    table, _ = graded
    blank = table.loc["04_blank.ipynb"]
    assert blank["score"] == 0 and blank["error"] == ""


def test_heads_first_unfold_gets_partial_credit(graded):
    table, possible = graded
    wrong = table.loc["04_wrong.ipynb"]
    assert 0 < wrong["score"] < wrong["possible"]
    # Only q1's shape test passes; the other questions do not use unfold_heads.
    assert (wrong["04/q1"], wrong["04/q2"], wrong["04/q3"], wrong["04/q4"]) == (
        1, possible["q2"], possible["q3"], possible["q4"])
