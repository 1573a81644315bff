"""Repository-wide pytest settings: student notebooks run, not output-compared; nbval's
output timeout; each notebook's CPU budget.

``exercises/*.ipynb`` and ``exercises/zh/*.ipynb`` are committed without outputs (see
``d2lmha.grading.assign``), so nbval runs each of their cells (a cell that raises fails) but
has no stored output to compare, even in cells marked ``# NBVAL_CHECK_OUTPUT`` (those marks
serve the solutions).

Each notebook nbval runs also gets a check of its kernel's CPU time against its budget
(``tests/budgets.py``, budgets in ``tests/notebook_budgets.toml``).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
EXERCISES = ROOT / "exercises"
# A students' copy (`make release`) has no tests/: there the notebooks run without budgets.
pytest_plugins = (
    ["tests.budgets", "tests.timeline"] if (ROOT / "tests" / "budgets.py").is_file() else []
)


# nbval waits at most 5 s (hard-coded) for each output message after a cell's reply, and fails
# the cell when one is later: on a loaded 2-core machine (load average 30) chapter 06's
# training cell, whose progress bars send many messages, failed that way (issue 21). A later
# message is not a hang (the cell has already replied), so give it a minute.
OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):  # an nbval cell
            item.output_timeout = OUTPUT_TIMEOUT_S
        folder = Path(str(item.fspath)).resolve().parent
        if EXERCISES in (folder, folder.parent) and hasattr(item, "options"):
            item.options["check"] = False
