"""Score one submission's answers in a short-lived process with limits of its own.

The answers are untrusted data, and the tests iterate over them: the trusted grader never
reads them itself. Each submission is scored in a process forked from a server that has
imported torch and otter once (``multiprocessing``'s forkserver), so it starts in a few
milliseconds. That process reads the answers (:func:`~d2lmha.grading.wire.read_answers`),
runs the tests (:func:`~d2lmha.grading.replay.score`) and sends back plain JSON of bounded
size. Its address space is capped at what it had when it started plus ``memory`` bytes, its
CPU time at ``timeout`` seconds, and it is killed at ``timeout`` wall seconds: whatever an
answers file is shaped like, the worst it can do is its own zero. No lock is shared between
submissions.

Source: multiprocessing (forkserver start method); setrlimit(2).
"""

from __future__ import annotations

import json
import multiprocessing
import resource
from dataclasses import dataclass, field
from pathlib import Path

from .messages import say

__all__ = ["Scored", "score_answers", "warm_up", "PRELOAD"]

# Imported once by the fork server, so each scoring process starts warm ("__main__" too:
# else each process would import the main module again, e.g. pytest's).
PRELOAD = [
    "__main__",
    "torch",
    "torch.testing",
    "torch.distributed.tensor",  # torch.testing.assert_close imports it on first use (~1 s)
    "numpy",
    "d2lmha",
    "nbformat",
    "safetensors.torch",
    "otter.nbmeta_config",
    "otter.test_files",
    "d2lmha.grading.cases",
    "d2lmha.grading.replay",
]
MAX_RESULT = 4 << 20  # bytes of JSON a scoring process may send back


@dataclass
class Scored:
    """What scoring one submission gave.

    Attributes:
        points: question -> points (empty when ``error`` is set).
        failures: ``[test id, hidden, message]`` per failed test.
        reported: what the sandbox reported (untrusted text, capped), one item per note.
        stalled: the sandbox stopped a cell or call for time.
        unfinished: the notebook never got as far as answering.
        error: why the answers could not be scored ("" when they were).
    """

    points: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    reported: list = field(default_factory=list)
    stalled: bool = False
    unfinished: bool = False
    error: str = ""


_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def warm_up() -> None:
    """Start the fork server now (it imports :data:`PRELOAD` in the background), so the
    first submission's scoring does not wait for it."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def score_answers(
    autograder,
    answers: Path,
    max_bytes: int,
    memory: int,
    timeout: float,
    tests: Path | None = None,
    lang: str = "",
) -> Scored:
    """Score the answers file ``answers`` for the set ``autograder`` in a process of its own.

    Args:
        autograder: the set's :class:`~d2lmha.grading.assign.Autograder`.
        answers: the file the sandbox wrote (untrusted).
        max_bytes: the answers file's size limit.
        memory: bytes of address space the scoring process may add to what it starts with.
        timeout: seconds (wall and CPU) it may take.
        tests: the autograder notebook whose tests to run (default the set's own): a
            translation of the set (``build/grading/zh/...``), whose tests are the same code
            with messages in the submission's language; graded with ``autograder``'s plan.
        lang: the submission's edition, the language of the grader's own messages
            (:mod:`.messages`).

    Returns:
        A :class:`Scored`; its ``error`` says why when the answers could not be scored
        (malformed, too large, or scoring ran out of time or memory).
    """
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_child,
        args=(
            send,
            str(tests or autograder.solution_notebook),
            str(autograder.plan_data),
            str(answers),
            max_bytes,
            memory,
            timeout,
            lang,
        ),
        daemon=True,
    )
    process.start()
    send.close()
    try:
        if not receive.poll(timeout):
            return Scored(error=say("scoring_time", lang, seconds=f"{timeout:g}"))
        data = receive.recv_bytes(MAX_RESULT)
    except (EOFError, OSError):
        process.join(5)
        return Scored(error=say("scoring_ended", lang, status=process.exitcode))
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join()
    result = json.loads(data)
    return Scored(**result)


def _child(send, notebook, plan_path, answers, max_bytes, memory, timeout, lang=""):
    """The scoring process: limits first, then read, check and score; one JSON message."""
    import torch

    from .cases import load_tests
    from .replay import GradingError, score
    from .wire import WireError, read_answers, read_container

    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + memory,) * 2)
    cpu = int(timeout) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    torch.set_num_threads(1)
    try:
        tests = load_tests(Path(notebook))
        plan, plan_tensors = read_container(Path(plan_path), 1 << 30)
        try:
            got = read_answers(Path(answers), max_bytes, len(plan["calls"]))
        except WireError as error:
            result = Scored(error=say("no_answers", lang, why=error))
        else:
            result = Scored(reported=got.errors, stalled=got.stalled, unfinished=got.unfinished)
            if got.unfinished:
                result.error = say("unfinished", lang)
            else:
                result.points, failures = score(tests, plan, plan_tensors, got, lang)
                result.failures = [list(f) for f in failures]
    except MemoryError:
        result = Scored(error=say("scoring_memory", lang))
    except GradingError as error:
        result = Scored(error=say("grader_error", lang, why=error))
    send.send_bytes(json.dumps(result.__dict__).encode())
    send.close()


def _address_space() -> int:
    """Bytes of address space this process has mapped now (``VmSize``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0
