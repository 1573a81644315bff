"""Score a submission in the trusted process: the tests run here, on the submission's answers.

Each test (public or hidden) is the instructor's function from the solution source. It runs
again here with every learner function replaced by a stub that returns, in order, what the
submission's function returned inside the sandbox for the same inputs (or raises what it
raised). The test's own asserts decide. No code of the submission runs in this process, and
nothing it wrote is unpickled, imported or ``eval``'d: answers arrive as an
:class:`~d2lmha.grading.wire.Answers`, checked once by :func:`~d2lmha.grading.wire.read_answers`.

A stub first checks that the test is asking the same question it asked the solution at
build time: a call whose inputs were built from another of the submission's answers (e.g.
``f(g(x))``) and differ from the solution's fails that test with a message saying so. It then
refuses, with a message, an answer that changed its inputs in place (the test's inputs stay
as they were, so its expected values are computed from the inputs the answer was given) and
an answer far larger than the solution's (so no test iterates over millions of values).

Each submission is scored in a process of its own (:mod:`.scoring`), so tests may seed the
global generators and set torch's thread count without a lock.
"""

from __future__ import annotations

import torch

from ..device import try_gpu
from .cases import seed_tests
from .messages import localize, say
from .wire import Answers, decode, encode, raise_from_node, same_inputs

__all__ = ["score", "GradingError", "size_allowed"]


class GradingError(RuntimeError):
    """The grader's own inputs are inconsistent (a bug in a test, not in the submission)."""


def size_allowed(solution_size: int) -> int:
    """The largest answer (nodes + tensor elements, see ``wire.check_node``) a test is given,
    for a solution whose answer has ``solution_size``: four times it, plus 4096."""
    return 4 * int(solution_size) + 4096


class _Cursor:
    """The position in one test's recorded calls, shared by that test's stubs."""

    def __init__(
        self, indices: list, plan: dict, plan_tensors: dict, answers: Answers, device, lang=""
    ):
        self.indices, self.position, self.lang = indices, 0, lang
        self.plan, self.plan_tensors = plan, plan_tensors
        self.answers, self.device = answers, device

    def call(self, name, args, kwargs):
        if self.position >= len(self.indices):
            raise AssertionError(say("called_more", self.lang, name=name))
        index = self.indices[self.position]
        self.position += 1
        expected = self.plan["calls"][index]
        if expected["fn"] != name:
            raise AssertionError(say("other_call", self.lang, name=name))
        mine = {}
        if not same_inputs(
            (encode((list(args), kwargs), mine), mine), (expected["inputs"], self.plan_tensors)
        ):
            raise AssertionError(say("other_inputs", self.lang, name=name))
        answer = self.answers.calls[index]
        if answer is None:
            raise AssertionError(say("no_answer", self.lang, name=name))
        if answer["mutated"]:
            raise AssertionError(say("mutated", self.lang, name=name))
        node = answer["result"]
        if node.get("t") == "raise":
            raise_from_node(node)
        what = say("answer_of", self.lang, name=name)
        _check_size(what, self.answers.sizes[index], expected["size"], self.lang)
        return decode(node, self.answers.tensors, self.device)


def _check_size(what: str, size: int, solution_size: int, lang: str = "") -> None:
    if size > size_allowed(solution_size):
        raise AssertionError(say("too_large", lang, what=what, size=size, expected=solution_size))


def _stub(name, cursor):
    def stub(*args, **kwargs):
        return cursor.call(name, args, kwargs)

    stub.__name__ = stub.__qualname__ = name
    return stub


def score(tests: list[dict], plan: dict, plan_tensors: dict, answers: Answers, lang: str = ""):
    """Run every test against one submission's answers.

    Args:
        tests: from :func:`d2lmha.grading.cases.load_tests` on the built autograder.
        plan, plan_tensors: the build's ``plan.safetensors`` (see :mod:`.capture`).
        answers: the submission's answers, from :func:`~d2lmha.grading.wire.read_answers`
            (with ``num_calls`` = the plan's number of calls).
        lang: the submission's edition (``""`` English, ``"zh"``): the language of the
            grader's own failure messages (:mod:`.messages`; ``tests`` bring their own).

    Returns:
        ``(points per question, failures)``: ``{"q1": 3.0, ...}`` and
        ``[(test id, hidden, message), ...]`` for each failed test.

    Raises:
        GradingError: the plan and the tests do not match (rebuild the autograder), or the
            grader has a GPU that the sandbox could not use.
    """
    if not isinstance(answers, Answers):
        raise TypeError(f"answers must come from wire.read_answers, got {type(answers).__name__}")
    device = try_gpu()
    if device.type == "cuda" and answers.device == "cpu":
        raise GradingError(
            "the grader has a GPU but the sandbox could not use it, so the "
            "tests' GPU inputs ran on the CPU; grade on the CPU "
            "(CUDA_VISIBLE_DEVICES=) or allow CUDA in the sandbox (--memory-gib)"
        )
    entries = {entry["id"]: entry for entry in plan["tests"]}
    points = {test["question"]: 0.0 for test in tests}
    failures = []
    torch.set_num_threads(1)
    for test in tests:
        entry = entries.get(test["id"])
        if entry is None:
            raise GradingError(f"test {test['id']} is not in the plan: rebuild")
        cursor = _Cursor(entry["calls"], plan, plan_tensors, answers, device, lang)
        try:
            kwargs = {
                name: _argument(name, entry, cursor, answers, plan) for name in test["params"]
            }
            seed_tests()
            test["func"](**kwargs)
        except Exception as error:  # the test failed: no points for it
            failures.append((test["id"], test["hidden"], _message(error, lang)))
        else:
            points[test["question"]] += test["points"]
    return points, failures


def _argument(name: str, entry: dict, cursor: _Cursor, answers: Answers, plan: dict):
    """What a test gets for the learner name ``name``: a stub, or a freshly decoded value."""
    if entry["kinds"].get(name) == "function":
        return _stub(name, cursor) if answers.functions.get(name) == "function" else None
    if name not in answers.values:
        return None
    what = say("value_of", cursor.lang, name=name)
    _check_size(what, answers.sizes[name], plan["values"].get(name, 1), cursor.lang)
    return decode(answers.values[name], answers.tensors, cursor.device, used=set())


def _message(error: Exception, lang: str = "") -> str:
    text = str(error).strip().splitlines()
    return localize(f"{type(error).__name__}: {text[0][:200] if text else ''}", lang)
