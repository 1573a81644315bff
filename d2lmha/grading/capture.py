"""Record what the tests ask of a set's functions: trusted, at build time, on the solution.

``python -m d2lmha.grading.capture AUTOGRADER_NB OUT_DIR MASTER_NB [STUDENT_NB]`` runs the
instructor's solution (the otter-assign autograder notebook, in student layout) and then every
test, public and hidden, with each learner function wrapped in a recorder, which guards each
call with what the question may not call (:mod:`.guard`; the question configs are the
master's, :mod:`.questions`). It writes two files:

``plan.dill``
    For the sandbox, which must call the submission's functions with the real objects
    (tensors, layers): one flat list of calls ``(function name, args, kwargs)``, for each
    call its question and what that question may not call (``guards``), the names of the
    answers that are values, and the modules the student notebook imports at its top level
    (``imports``, which the runner loads before the first cell: :func:`top_imports`).
    Nothing else: no test names, messages, points or expected values, since everything a
    sandbox is given can be read by the submission.
``plan.safetensors``
    For the trusted grader, as plain data: each call's inputs (to check that a replayed
    test asks the same question) and the size of the solution's answer (so a submission's
    answer much larger than it never reaches a test), for each test the calls it makes, and
    each question's kind and forbidden names (``questions``).

The build fails unless the solution passes every test, with its forbidden names guarded, and
leaves every input unchanged.
This module is the trusted side of the trust boundary; :mod:`.runner` is the sandbox's side.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["capture", "top_imports"]


def capture(
    autograder_notebook: Path, out_dir: Path, master: Path, student: Path | None = None
) -> None:
    """Run the solution and its tests, recording every call (see the top); write the plans.

    Args:
        autograder_notebook: the solution in student layout (``otter assign``'s output).
        out_dir: where the plans go.
        master: the set's source, whose question configs say what each question may not
            call (:func:`~d2lmha.grading.questions.question_configs`).
        student: the student notebook, whose top-level imports the runner loads before a
            submission's first cell (the plan's ``imports``; none without it).

    Raises:
        RuntimeError: a cell of the solution raised, a test failed on the solution (a
            forbidden name it calls raises), or the solution changed one of its inputs in
            place.
        ValueError: a question config is malformed, or a test's question has none.
    """
    import dill
    import torch

    from .cases import load_tests, seed_tests
    from .questions import question_configs
    from .runner import execute_cells
    from .wire import check_node, encode, write_container

    autograder_notebook, out_dir = Path(autograder_notebook), Path(out_dir)
    tests = load_tests(autograder_notebook)  # before the cells replace otter with a stub
    questions = question_configs(master)
    unknown = sorted({test["question"] for test in tests} - set(questions))
    if unknown:
        raise ValueError(f"{Path(master).name}: questions {unknown} have no question config")
    os.chdir(autograder_notebook.parent)
    imports = top_imports(student) if student is not None else []
    namespace, errors = execute_cells(autograder_notebook)
    if errors:
        raise RuntimeError(f"the solution's cells raised: {errors}")
    calls, summary, tensors = [], [], {}
    for test in tests:
        first, kinds, kwargs = len(calls), {}, {}
        for name in test["params"]:
            value = namespace.get(name)
            kinds[name] = "function" if callable(value) else "value"
            question = questions[test["question"]]
            kwargs[name] = (
                _recorder(name, value, calls, question, namespace) if callable(value) else value
            )
        seed_tests()
        try:
            test["func"](**kwargs)
        except Exception as error:
            raise RuntimeError(f"the solution fails test {test['id']}: {error!r}") from error
        summary.append({"id": test["id"], "kinds": kinds, "calls": list(range(first, len(calls)))})
    value_names = sorted(
        {name for entry in summary for name, kind in entry["kinds"].items() if kind == "value"}
    )
    scratch = {}
    values = {name: check_node(encode(namespace[name], scratch), scratch) for name in value_names}
    plan_calls = [
        {"fn": name, "inputs": encode((list(args), kwargs), tensors), "size": size}
        for name, args, kwargs, size, _ in calls
    ]
    described = {
        name: {"kind": q.kind, "forbidden": list(q.forbidden)} for name, q in questions.items()
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    dill.settings["recurse"] = True  # a lambda takes the globals it uses, not its module's
    torch.save(
        {
            "calls": [(name, args, kwargs) for name, args, kwargs, _, _ in calls],
            "guards": [guard for *_, guard in calls],
            "values": value_names,
            # what the runner imports before the first cell (otter is a stand-in there)
            "imports": [
                name for name in imports if name.split(".")[0] != "otter" and name in sys.modules
            ],
        },
        out_dir / "plan.dill",
        pickle_module=dill,
    )
    write_container(
        out_dir / "plan.safetensors",
        {"calls": plan_calls, "tests": summary, "values": values, "questions": described},
        {k: v.clone() for k, v in tensors.items()},
    )


def top_imports(notebook: Path) -> list[str]:
    """The modules a notebook's code cells import at their top level (``import a.b``,
    ``from a.b import c``: ``a.b``), in order, once each; relative imports and cells that are
    not Python (after IPython's own transforms: magics) are left out."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    from .runner import code_cells

    names = []
    for source in code_cells(notebook):
        try:
            tree = ast.parse(TransformerManager().transform_cell(source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
    return list(dict.fromkeys(names))


def _recorder(name, function, calls, question, namespace):
    """Wrap ``function`` so each call's inputs (copied before the call), the size of its
    answer and its guard ``(question name, forbidden paths)`` go to ``calls``; the call runs
    with ``question``'s forbidden names guarded (:func:`~d2lmha.grading.guard.forbid`); a
    call that changes its inputs fails the build."""
    import torch

    from .guard import forbid
    from .runner import copy_inputs, cuda_devices, inputs_changed
    from .wire import check_node, encode

    guard = (question.name, list(question.forbidden))

    def record(*args, **kwargs):
        before = copy_inputs((args, kwargs))
        with torch.random.fork_rng(devices=cuda_devices()):
            try:
                with forbid(*guard, namespace):
                    result = function(*args, **kwargs)
            except Exception:
                calls.append((name, *before, 1, guard))
                raise
        if inputs_changed((args, kwargs), before):
            raise RuntimeError(
                f"the solution's {name} changes its inputs in place: the grader fails "
                "any answer that does, so the solution must not"
            )
        scratch = {}
        calls.append((name, *before, check_node(encode(result, scratch), scratch), guard))
        return result

    return record


if __name__ == "__main__":
    capture(*map(Path, sys.argv[1:5]))
