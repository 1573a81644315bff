"""Exercise set 03 grades right: the solution scores full marks, the blank notebook zero, and a
submission with one plausible mistake per question partial credit on every question. The
student notebook's freshness and the public/hidden split of every set are checked in
test_grading.py."""
import copy

import nbformat
import pandas as pd
import pytest

from d2lmha import grading

# One plausible mistake per question: (function, correct text, wrong text).
MISTAKES_03 = {
    "q1": ("sinusoidal_matrix", "torch.arange(0, num_hiddens, 2, dtype=torch.float64) / num_hiddens",
           "torch.arange(0, num_hiddens // 2, dtype=torch.float64) / num_hiddens"),   # i, not 2i
    "q2": ("offset_matrix", "[[math.cos(b), math.sin(b)], [-math.sin(b), math.cos(b)]]",
           "[[math.cos(b), -math.sin(b)], [math.sin(b), math.cos(b)]]"),              # backwards
    "q3": ("is_permutation_equivariant", "f(X)[:, perm]", "f(X)"),                 # output not permuted
    "q4": ("rope_rotate", "x_even, x_odd = x[..., 0::2], x[..., 1::2]",
           "x_even, x_odd = x[..., : d // 2], x[..., d // 2:]"),                     # half-split pairs
}


@pytest.fixture(scope="module")
def graded_03(tmp_path_factory):
    master = grading.exercise_sets()["03"]
    built = grading.build(master, tmp_path_factory.mktemp("assign") / master.stem)
    folder = tmp_path_factory.mktemp("submissions")
    solution = nbformat.read(built.solution_notebook, as_version=4)
    wrong = copy.deepcopy(solution)
    for name, right, mistake in MISTAKES_03.values():
        (cell,) = [c for c in wrong.cells if c.cell_type == "code" and f"def {name}(" in c.source]
        assert right in cell.source, f"{name}: the solution no longer contains {right!r}"
        cell.source = cell.source.replace(right, mistake)
    nbformat.write(solution, folder / "03_solution.ipynb")
    nbformat.write(wrong, folder / "03_wrong.ipynb")
    nbformat.write(nbformat.read(grading.ROOT / "exercises" / master.name, as_version=4),
                   folder / "03_blank.ipynb")
    csv = grading.grade(folder, timeout=300, jobs=1, out=folder.parent / "g03.csv",
                        build_dir=tmp_path_factory.mktemp("build"))
    return pd.read_csv(csv, dtype={"set": str}).set_index("submission")


def test_set_03_solution_blank_and_wrong(graded_03):
    solution, blank, wrong = (graded_03.loc[f"03_{r}.ipynb"] for r in ("solution", "blank", "wrong"))
    assert solution["score"] == solution["possible"] == 17
    assert blank["score"] == 0
    assert 0 < wrong["score"] < wrong["possible"]
    for question in MISTAKES_03:   # every mistake loses points, none loses all of them
        assert 0 < wrong[f"03/{question}"] < solution[f"03/{question}"], question
