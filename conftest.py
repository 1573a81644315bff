"""Repository-wide pytest settings: student notebooks are run, not output-compared.

``exercises/*.ipynb`` and ``exercises/zh/*.ipynb`` are committed without outputs (see
``d2lmha.grading.assign``), so nbval runs each of their cells (a cell that raises fails) but
has no stored output to compare, even in cells marked ``# NBVAL_CHECK_OUTPUT`` (those marks
serve the solutions).

Each notebook nbval runs also gets a check of its kernel's CPU time against its budget
(``tests/budgets.py``, budgets in ``tests/notebook_budgets.toml``).
"""

from pathlib import Path

EXERCISES = Path(__file__).resolve().parent / "exercises"
pytest_plugins = ["tests.budgets"]


def pytest_collection_modifyitems(items):
    for item in items:
        folder = Path(str(item.fspath)).resolve().parent
        if EXERCISES in (folder, folder.parent) and hasattr(item, "options"):
            item.options["check"] = False
