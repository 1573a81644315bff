"""Repository-wide pytest settings: how the suite is split over xdist workers, and student
notebooks run, not output-compared.

Workers (``make test`` runs ``--dist loadgroup``): every test carries an ``xdist_group``: a
notebook's cells share one group (one kernel runs them in order), each test module is a
group of its own, and the three modules that read the shared graded class
(``tests/grading_class.py``) are one group, ``grading``, scheduled first: it is the longest.

``exercises/*.ipynb`` and ``exercises/zh/*.ipynb`` are committed without outputs (see
``d2lmha.grading.assign``), so nbval runs each of their cells (a cell that raises fails) but
has no stored output to compare, even in cells marked ``# NBVAL_CHECK_OUTPUT`` (those marks
serve the solutions).
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
EXERCISES = ROOT / "exercises"
GRADING = {"test_grading.py", "test_grading_sets.py", "test_grading_security.py"}


def group(item) -> str:
    """The xdist group of a test: ``grading``, or its file (a notebook or a test module)."""
    path = Path(str(item.fspath)).resolve()
    return "grading" if path.name in GRADING else path.relative_to(ROOT).as_posix()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        folder = Path(str(item.fspath)).resolve().parent
        if EXERCISES in (folder, folder.parent) and hasattr(item, "options"):
            item.options["check"] = False
        item.add_marker(pytest.mark.xdist_group(group(item)))
    items.sort(key=lambda item: group(item) != "grading")  # stable: the rest keep their order
