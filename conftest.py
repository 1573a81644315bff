"""Repository-wide pytest settings: student notebooks run, not output-compared; nbval's
output timeout; each notebook's CPU budget.

``exercises/*.ipynb`` and ``exercises/zh/*.ipynb`` are committed without outputs (see
``d2lmha.grading.assign``), so nbval runs each of their cells (a cell that raises fails) but
has no stored output to compare, even in cells marked ``# NBVAL_CHECK_OUTPUT`` (those marks
serve the solutions).

Each notebook nbval runs also gets a check of its kernel's CPU time against its budget
(``tests/budgets.py``, budgets in ``tests/notebook_budgets.toml``).

In the nbval run, the 中文 chapters are scheduled after all the rest, and their kernels load
the models the English chapters trained in the same run instead of training them again
(``tests/train_cache.py``).
"""

import collections
import gc
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
EXERCISES = ROOT / "exercises"
TRAIN_CACHE = ROOT / "tests" / "train_cache.py"
RUNNER = ROOT / "d2lmha" / "grading" / "runner.py"
ZH_CHAPTERS = ROOT / "notebooks" / "zh"
# A students' copy (`make release`) has no tests/: there the notebooks run without budgets.
pytest_plugins = (
    ["tests.budgets", "tests.timeline"] if (ROOT / "tests" / "budgets.py").is_file() else []
)


# nbval waits at most 5 s (hard-coded) for each output message after a cell's reply, and fails
# the cell when one is later: on a loaded 2-core machine (load average 30) chapter 06's
# training cell, whose progress bars send many messages, failed that way (issue 21). A later
# message is not a hang (the cell has already replied), so give it a minute.
OUTPUT_TIMEOUT_S = 60


def pytest_configure(config):
    """For the nbval run's kernels: an IPython start-up file that installs the run's train
    cache (``tests/train_cache.py``), in a folder of the run's own."""
    if not (TRAIN_CACHE.is_file() and config.getoption("nbval_lax", False)):
        return
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex  # one per run
    ipython = ROOT / "build" / "ipython"
    startup = ipython / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    # No name is left in the notebook's namespace, and sys.path is untouched.
    part = startup / f".50-train-cache.py.{os.getpid()}"  # each worker writes it: atomically
    # The cache imports torch and the package: with the collector paused, as the grader's
    # sandboxed runner does (``collector_paused``; the runner is a script: standard library
    # only until it is called), about 0.5 s of CPU less per kernel.
    part.write_text(
        "def _install():\n"
        "    import importlib.util\n"
        "\n"
        "    def load(name, path):\n"
        "        spec = importlib.util.spec_from_file_location(name, path)\n"
        "        module = importlib.util.module_from_spec(spec)\n"
        "        spec.loader.exec_module(module)\n"
        "        return module\n"
        "\n"
        f"    runner = load('_d2lmha_runner', {str(RUNNER)!r})\n"
        "    with runner.collector_paused():\n"
        f"        load('train_cache', {str(TRAIN_CACHE)!r}).install()\n"
        "\n"
        "\n"
        "_install()\n"
        "del _install\n"
    )
    part.replace(startup / "50-train-cache.py")
    os.environ["IPYTHONDIR"] = str(ipython)
    caches = ROOT / "build" / "train-cache"
    os.environ["D2LMHA_TRAIN_CACHE"] = str(caches / run)
    for old in caches.glob("*"):  # earlier runs' (a few MB each); a run lasts minutes
        try:
            stale = old.name != run and time.time() - old.stat().st_mtime > 3600
        except OSError:  # another run removed it
            continue
        if stale:
            shutil.rmtree(old, ignore_errors=True)


def _scheduled(items):
    """Files with more tests first (what pytest-xdist's ``loadscope`` does on its own, turned
    off by the Makefile), but the 中文 chapters after everything else, so that their English
    twins have run (their training is then loaded: ``tests/train_cache.py``)."""
    count = collections.Counter(str(item.fspath) for item in items)

    def key(item):
        path = Path(str(item.fspath)).resolve()
        return (ZH_CHAPTERS == path.parent, -count[str(item.fspath)], str(item.fspath))

    return sorted(items, key=key)  # stable: each file's items keep their order


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """Collect with the garbage collector paused, then freeze what was loaded: importing the
    test modules (torch, pandas, nbformat, ...) makes little garbage, and later collections in
    this process no longer walk it (as the grader's runner does: ``collector_paused``)."""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()
        gc.freeze()


def pytest_collection_modifyitems(items):
    items[:] = _scheduled(items)
    for item in items:
        if hasattr(item, "output_timeout"):  # an nbval cell
            item.output_timeout = OUTPUT_TIMEOUT_S
        folder = Path(str(item.fspath)).resolve().parent
        if EXERCISES in (folder, folder.parent) and hasattr(item, "options"):
            item.options["check"] = False
