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

Each notebook nbval runs also gets a check of its kernel's CPU time against its budget
(``tests/budgets.py``, budgets in ``tests/notebook_budgets.toml``).
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
EXERCISES = ROOT / "exercises"
GRADING = {"test_grading.py", "test_grading_sets.py", "test_grading_security.py"}
pytest_plugins = ["tests.budgets"]


# nbval waits at most 5 s (hard-coded) for each output message after a cell's reply, and fails
# the cell when one is later: on a loaded 2-core machine (load average 30) chapter 06's
# training cell, whose progress bars send many messages, failed that way (issue 21). A later
# message is not a hang (the cell has already replied), so give it a minute.
OUTPUT_TIMEOUT_S = 60


def group(item) -> str:
    """The xdist group of a test: ``grading``, or its file (a notebook or a test module)."""
    path = Path(str(item.fspath)).resolve()
    return "grading" if path.name in GRADING else path.relative_to(ROOT).as_posix()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):  # an nbval cell
            item.output_timeout = OUTPUT_TIMEOUT_S
        folder = Path(str(item.fspath)).resolve().parent
        if EXERCISES in (folder, folder.parent) and hasattr(item, "options"):
            item.options["check"] = False
        item.add_marker(pytest.mark.xdist_group(group(item)))
    items.sort(key=lambda item: group(item) != "grading")  # stable: the rest keep their order
