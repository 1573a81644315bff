"""Each notebook's budget of kernel CPU time, checked while nbval runs it (a pytest plugin).

nbval runs a notebook as one test item per code cell, all in one kernel. This plugin appends
one more item to every notebook nbval collects, ``<notebook>::kernel CPU budget``, which runs
after the notebook's last cell, in the same kernel (pytest-xdist's ``--dist loadscope`` keeps
a notebook's items on one worker, in order). It reads the kernel's CPU time so far (user +
system seconds of the kernel process and its children, kernel start included, as
``python -m tools.notebook_times`` measures it) and fails when that exceeds the notebook's
budget in ``tests/notebook_budgets.toml``.

CPU time, unlike wall time, hardly depends on what else runs on the machine, so the check
holds on a loaded 2-core CI machine; the budgets are about twice the measured medians, so
they catch a notebook that got much slower, not noise. The course's own goal, each chapter
≤ 40 s of kernel CPU time on a quiet machine, is measured by ``tools.notebook_times``.

Registered by the repository's ``conftest.py`` (``pytest_plugins``). A run without nbval
collects no notebooks and adds no items. The terminal summary lists the costliest notebooks
against their budgets.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tools.notebook_times import kernel_cpu_seconds

BUDGETS = Path(__file__).resolve().parent / "notebook_budgets.toml"
ITEM_NAME = "kernel CPU budget"
SHOWN = 8  # notebooks listed in the terminal summary


def load_budgets(path: Path = BUDGETS) -> tuple[dict[str, float], float]:
    """``({notebook path relative to the repository: seconds}, default seconds)``.

    Raises:
        ValueError: a budget that is not a positive number.
    """
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    budgets, default = data.get("notebooks", {}), data["default"]
    for name, value in [*budgets.items(), ("default", default)]:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{path}: budget of {name} must be a positive number, got {value!r}")
    return budgets, default


class KernelBudget(pytest.Item):
    """Fails when the notebook's kernel has used more CPU seconds than ``budget_s``."""

    def __init__(self, *, budget_s: float, **kwargs):
        super().__init__(**kwargs)
        self.budget_s = budget_s

    def runtest(self) -> None:
        kernel = getattr(self.parent, "kernel", None)
        if kernel is None or not kernel.is_alive():
            pytest.skip("no running kernel (a cell failed or timed out)")
        used = kernel_cpu_seconds(kernel.km.provisioner.pid)
        self.user_properties.append(("kernel_cpu_s", used))
        self.user_properties.append(("budget_s", self.budget_s))
        if used > self.budget_s:
            raise BudgetExceeded(
                f"{self.parent.nodeid}: the kernel used {used:.1f} s of CPU time, over its "
                f"budget of {self.budget_s:g} s (tests/{BUDGETS.name}); see where the time "
                f"goes with `python -m tools.notebook_times --cells 5 {self.parent.nodeid}`"
            )

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, BudgetExceeded):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.parent.nodeid}::{ITEM_NAME}"


class BudgetExceeded(Exception):
    """A notebook's kernel used more CPU time than its budget."""


def budget_items(items: list[pytest.Item], root: Path) -> list[pytest.Item]:
    """``items`` with a :class:`KernelBudget` after the last cell of each nbval notebook."""
    last_cell = {}
    for index, item in enumerate(items):
        if type(item).__name__ == "IPyNbCell":
            last_cell[item.parent] = index
    if not last_cell:  # no nbval run
        return items
    budgets, default = load_budgets()
    after = {index: notebook for notebook, index in last_cell.items()}
    result = []
    for index, item in enumerate(items):
        result.append(item)
        if index in after:
            notebook = after[index]
            name = Path(notebook.path).resolve().relative_to(root).as_posix()
            result.append(
                KernelBudget.from_parent(
                    notebook, name=ITEM_NAME, budget_s=budgets.get(name, default)
                )
            )
    return result


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    items[:] = budget_items(items, Path(config.rootpath).resolve())


def pytest_terminal_summary(terminalreporter):
    used = []
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        props = dict(report.user_properties)
        if "kernel_cpu_s" in props:
            notebook = report.nodeid.rsplit("::", 1)[0]
            used.append((props["kernel_cpu_s"], props["budget_s"], notebook))
    if not used:
        return
    terminalreporter.section("notebooks: kernel CPU time against budget")
    for seconds, budget, notebook in sorted(used, reverse=True)[:SHOWN]:
        terminalreporter.line(f"{seconds:6.1f} s of {budget:5g} s  {notebook}")
    terminalreporter.line(
        f"(the {min(SHOWN, len(used))} costliest of {len(used)} notebooks; budgets in "
        f"tests/{BUDGETS.name})"
    )
