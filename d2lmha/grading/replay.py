"""Score a submission in the trusted process: the tests run here, on the submission's answers.

Each test (public or hidden) is the instructor's function from the solution source. It runs
again here with every learner function replaced by a stub that returns, in order, what the
submission's function returned inside the sandbox for the same inputs (or raises what it
raised, or changes its inputs as it changed them). The test's own asserts decide. No code of
the submission runs in this process, and nothing it wrote is unpickled, imported or
``eval``'d: answers arrive as checked plain data (:mod:`d2lmha.grading.wire`).

A stub first checks that the test is asking the same question it asked the solution at
build time: a call whose inputs were built from another of the submission's answers (e.g.
``f(g(x))``) and differ from the solution's fails that test with a message saying so.
"""

from __future__ import annotations

import threading

import torch

from ..device import try_gpu
from .cases import seed_tests
from .wire import WireError, decode, encode, raise_from_node, same_inputs, tensor_leaves

__all__ = ["score", "GradingError"]

# Tests seed the global random generators and may set torch's thread count: one at a time.
_LOCK = threading.Lock()


class GradingError(RuntimeError):
    """The grader's own inputs are inconsistent (a bug in a test, not in the submission)."""


class _Cursor:
    """The position in one test's recorded calls, shared by that test's stubs."""

    def __init__(
        self, expected: list, answered: list | None, plan_tensors, tensors, device, used: set
    ):
        self.expected, self.answered, self.index = expected, answered, 0
        self.plan_tensors, self.tensors = plan_tensors, tensors
        self.device, self.used = device, used

    def call(self, name, args, kwargs):
        i = self.index
        self.index += 1
        if i >= len(self.expected) or self.expected[i]["fn"] != name:
            raise AssertionError(
                f"{name} was called where the solution's test made another "
                "call (its inputs came from another of your answers)"
            )
        mine = {}
        if not same_inputs(
            (encode((list(args), kwargs), mine), mine),
            (self.expected[i]["inputs"], self.plan_tensors),
        ):
            raise AssertionError(
                f"the inputs of this call to {name} came from another of "
                "your answers, which differs from the expected one"
            )
        answer = self.answered[i] if self.answered and i < len(self.answered) else None
        if not isinstance(answer, dict) or "result" not in answer:
            raise AssertionError(f"no answer was recorded for this call to {name}")
        if answer.get("mutated") is not None:
            _replay_mutation(
                args, kwargs, decode(answer["mutated"], self.tensors, self.device, self.used)
            )
        node = answer["result"]
        if isinstance(node, dict) and node.get("t") == "raise":
            raise_from_node(node)
        return decode(node, self.tensors, self.device, self.used)


def _replay_mutation(args, kwargs, changed):
    """Do to this test's inputs what the submission did to its copies of them."""
    if not (isinstance(changed, tuple) and len(changed) == 2):
        raise WireError("malformed record of changed inputs")
    ours, theirs = tensor_leaves((list(args), kwargs)), tensor_leaves(changed)
    if len(ours) != len(theirs):
        raise WireError("the record of changed inputs does not match the inputs")
    with torch.no_grad():
        for mine, new in zip(ours, theirs, strict=True):
            if mine.shape != new.shape:
                raise AssertionError("your function changed the shape of an input in place")
            mine.copy_(new.to(mine.device, mine.dtype))


def _stub(name, cursor):
    def stub(*args, **kwargs):
        return cursor.call(name, args, kwargs)

    stub.__name__ = stub.__qualname__ = name
    return stub


def score(tests: list[dict], summary: dict, plan_tensors: dict, tree: dict, tensors: dict):
    """Run every test against one submission's answers.

    Args:
        tests: from :func:`d2lmha.grading.runner.load_tests` on the built autograder.
        summary, plan_tensors: the build's ``plan.safetensors`` (the solution's calls).
        tree, tensors: the submission's answers, as read by ``wire.read_container``.

    Returns:
        ``(points per question, failures)``: ``{"q1": 3.0, ...}`` and
        ``["q1 - 3: message", ...]``.

    Raises:
        WireError: the answers are malformed.
        GradingError: the plan and the tests do not match (rebuild the autograder).
    """
    if not isinstance(tree, dict):
        raise WireError("the answers are not a JSON object")
    functions = tree.get("functions") or {}
    calls, values = tree.get("calls") or {}, tree.get("values") or {}
    if not all(isinstance(x, dict) for x in (functions, calls, values)):
        raise WireError("the answers are malformed")
    device = try_gpu()
    if device.type == "cuda" and tree.get("device") == "cpu":
        raise GradingError(
            "the grader has a GPU but the sandbox could not use it, so the "
            "tests' GPU inputs ran on the CPU; grade on the CPU "
            "(CUDA_VISIBLE_DEVICES=) or allow CUDA in the sandbox (--memory-gib)"
        )
    used = set()  # tensor keys decoded so far: each at most once
    decoded_values = {
        name: decode(node, tensors, device, used)
        for name, node in values.items()
        if isinstance(name, str)
    }
    entries = {entry["id"]: entry for entry in summary["tests"]}
    points = {test["question"]: 0.0 for test in tests}
    failures = []
    with _LOCK:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for test in tests:
                entry = entries.get(test["id"])
                if entry is None:
                    raise GradingError(f"test {test['id']} is not in the plan: rebuild")
                answered = calls.get(test["id"])
                cursor = _Cursor(
                    entry["calls"],
                    answered if isinstance(answered, list) else None,
                    plan_tensors,
                    tensors,
                    device,
                    used,
                )
                kwargs = {}
                for name in test["params"]:
                    if entry["kinds"].get(name) == "function":
                        kwargs[name] = (
                            _stub(name, cursor) if functions.get(name) == "function" else None
                        )
                    else:  # a plain value (a prediction, a choice): the same object each time
                        kwargs[name] = decoded_values.get(name)
                seed_tests()
                try:
                    test["func"](**kwargs)
                except WireError:
                    raise
                except Exception as error:  # the test failed: no points for it
                    failures.append(f"{test['id']}: {_message(error)}")
                else:
                    points[test["question"]] += test["points"]
        finally:
            torch.set_num_threads(threads)
    return points, failures


def _message(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:120] if text else ''}"
