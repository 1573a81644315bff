"""The sandboxed runner's start (``d2lmha/grading/runner.py``): its own imports and the set's
(the plan's ``imports``, from the solution's top-level imports) run with the garbage collector
paused, and the collector is on again, whatever happened, before a submission's first cell
(the class's set-01 solution checks that from inside a sandbox: ``hostile.GC_ON``). What the
pause saves: ``benchmarks/runner_start.py``."""

import gc

import nbformat
import pytest

from d2lmha.grading import sandbox
from d2lmha.grading.capture import top_imports
from d2lmha.grading.runner import collector_paused, start


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()  # what the tests froze (and the worker's collection) may be collected again


def test_the_collector_is_paused_for_the_block_then_freezes_what_it_made(unfrozen):
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        made = [[i] for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(made)  # left out of later collections


def test_the_collector_is_back_on_when_the_block_raises(unfrozen):
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("an import failed")
    assert gc.isenabled()


def test_the_plan_names_the_modules_the_sets_notebook_imports_at_its_top(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%matplotlib inline\nimport math, torch.nn as nn\nimport otter"),
        nbformat.v4.new_code_cell("from matplotlib import pyplot\nfrom . import local"),
        nbformat.v4.new_code_cell("def f():\n    import pandas  # not at the top: left out"),
        nbformat.v4.new_code_cell("this is not python"),
        nbformat.v4.new_code_cell("import math"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert top_imports(path) == ["math", "torch.nn", "otter", "matplotlib"]


def test_start_loads_the_plan_and_leaves_a_failing_import_to_the_cell(tmp_path, unfrozen):
    import dill
    import torch

    plan = {"calls": [], "guards": [], "values": [], "imports": ["no_such_module_here", "json"]}
    torch.save(plan, tmp_path / "plan.dill", pickle_module=dill)
    loaded, write_container = start(tmp_path / "plan.dill")
    assert loaded == plan and callable(write_container) and gc.isenabled()
    del plan["imports"]  # a plan built before the runner preloaded anything
    torch.save(plan, tmp_path / "old.dill", pickle_module=dill)
    assert start(tmp_path / "old.dill")[0] == plan


def test_the_sandbox_gets_the_graders_font_list_read_only():
    binds, env = sandbox._matplotlib()
    folder = env["MPLCONFIGDIR"]
    assert binds[:4] == ["--perms", "1777", "--dir", folder]  # its own, writable
    font_list = sandbox._font_list()
    if font_list is not None:  # matplotlib wrote one for the grader
        assert binds[4:] == ["--ro-bind-try", str(font_list), f"{folder}/{font_list.name}"]
