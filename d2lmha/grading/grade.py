"""Grade a folder of submitted notebooks: one sandbox each, scores decided outside, one CSV.

For every ``*.ipynb`` in the folder: its exercise set is read from its metadata
(``otter.assignment_name``) or else its file name (``NN_...``); a copy runs in its own
bubblewrap sandbox (:mod:`~d2lmha.grading.sandbox`), which computes the submission's answers
to the set's recorded calls; the tests then run in this process on those answers
(:mod:`~d2lmha.grading.replay`). Submissions are read once and never written. Every
submission gets exactly one row; the CSV is written once, atomically, after every sandbox
has ended.

Source: the threat model in ``solutions/README.md``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._checks import check_positive_int
from .assign import BUILD_DIR, ROOT, SET_PATTERN, Autograder, build, exercise_sets
from .replay import GradingError, score
from .cases import load_tests
from .sandbox import MAX_SLOTS, Limits, SandboxUnavailable, run_sandboxed, sandbox_problem
from .wire import WireError, read_container

__all__ = ["grade", "MAX_SUBMISSION_BYTES"]

MAX_SUBMISSION_BYTES = 32 << 20
MAX_NOTES = 20
FIXED_COLUMNS = ["submission", "score", "possible", "set"]
TRAILING_COLUMNS = ["warning", "error", "reported", "failed"]


def _identify(name: str, data: bytes, sets: dict) -> tuple[str | None, str, str]:
    """``(set id or None, warning, error)`` of one submission, from its bytes and file name."""
    by_name = SET_PATTERN.match(name)
    by_name = by_name.group(1) if by_name and by_name.group(1) in sets else None
    if len(data) > MAX_SUBMISSION_BYTES:
        return None, "", f"not graded: larger than {MAX_SUBMISSION_BYTES >> 20} MiB"
    import nbformat

    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        assignment = nb.metadata.get("otter", {}).get("assignment_name") or ""
    except Exception as error:  # not a notebook: JSON or schema errors, bad UTF-8
        return None, "", f"unreadable notebook: {type(error).__name__}: {str(error)[:200]}"
    match = SET_PATTERN.match(str(assignment))
    by_meta = match.group(1) if match and match.group(1) in sets else None
    if assignment and by_meta is None:
        return (
            None,
            "",
            (
                f"unknown exercise set {str(assignment)[:60]!r} in the notebook's "
                f"metadata; expected one of {sorted(sets)}"
            ),
        )
    if by_meta and by_name and by_meta != by_name:
        return (
            by_meta,
            (f"file name says set {by_name}, metadata says set {by_meta}: graded as set {by_meta}"),
            "",
        )
    if by_meta or by_name:
        return by_meta or by_name, "", ""
    return (
        None,
        "",
        (f"cannot tell the exercise set: name the file NN_... with NN in {sorted(sets)}"),
    )


class _Set:
    """One built set, with its tests loaded once (trusted)."""

    def __init__(self, autograder: Autograder):
        self.autograder = autograder
        self.tests = load_tests(autograder.solution_notebook)
        self.summary, self.plan_tensors = read_container(autograder.plan_data, 1 << 30)


def _grade_one(name: str, data: bytes, graded: _Set, limits: Limits, slot: int, logs: Path) -> dict:
    ag = graded.autograder
    row = {
        "submission": name,
        "score": 0.0,
        "possible": sum(ag.possible.values()),
        "set": ag.set_id,
        **{f"{ag.set_id}/{q}": 0.0 for q in ag.possible},
    }
    with tempfile.TemporaryDirectory(prefix="d2lmha-grade-") as job:
        outcome = run_sandboxed(data, ag.plan, Path(job), limits, slot)
        with open(outcome.log, "rb") as log:
            (logs / f"{name}.log").write_bytes(log.read(1 << 20))
        try:
            tree, tensors = read_container(outcome.answers, limits.answers)
        except WireError as error:
            row["error"] = (
                f"timed out after {limits.timeout:g} s"
                if outcome.killed
                else f"no answers: {error}"
            )
            return row
    row["reported"] = _reported(tree)
    if not isinstance(tree, dict) or "calls" not in tree:  # the supervisor's "unfinished" file
        row["error"] = "the notebook did not finish (see reported)"
        return row
    try:
        points, failures = score(graded.tests, graded.summary, graded.plan_tensors, tree, tensors)
    except WireError as error:
        row["error"] = f"malformed answers: {error}"
        return row
    for question, value in points.items():
        row[f"{ag.set_id}/{question}"] = value
    row["score"] = sum(points.values())
    row["failed"] = "; ".join(failures)
    return row


def _reported(tree) -> str:
    """What the sandbox says about the run (cells that raised or were skipped), as one short
    line: untrusted text, so capped, one line, and counted separately from ``error``."""
    notes = tree.get("errors") if isinstance(tree, dict) else None
    if not isinstance(notes, list):
        return "(malformed report)" if notes is not None else ""
    notes = [" ".join(str(note).split())[:300] for note in notes[:MAX_NOTES]]
    extra = len(tree["errors"]) - MAX_NOTES
    more = f"; ... {extra} more" if extra > 0 else ""
    return "; ".join(dict.fromkeys(notes)) + more


def _spreadsheet_safe(value):
    """Text that a spreadsheet would read as a formula (``=...``) is quoted (OWASP CSV
    injection); everything else is left as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def grade(
    folder: Path,
    timeout: float = 120.0,
    out: Path | None = None,
    jobs: int | None = None,
    memory: int = Limits.memory,
    cell_timeout: float | None = None,
    solutions: Path = ROOT / "solutions",
    build_dir: Path = BUILD_DIR,
    unsafe_no_sandbox: bool = False,
) -> Path:
    """Grade every ``*.ipynb`` in ``folder``; write a CSV and return its path.

    Args:
        folder: the submissions (read, never written).
        timeout: wall seconds per submission (> 0).
        out: CSV path; default ``grading_output/<folder name>.csv`` under the repository.
            Each submission's output (first MiB) goes to ``<out without .csv>.logs/``.
        jobs: sandboxes at once (>= 1); default: the number of CPU cores.
        memory: bytes of address space per process in a sandbox.
        cell_timeout: seconds one cell may run before it is skipped (default ``timeout / 2``).
        unsafe_no_sandbox: grade without bubblewrap (each submission still runs in a
            process of its own with the same limits, but can read and write whatever the
            instructor can). Only for submissions you trust.

    Returns:
        The CSV path. Columns: ``submission, score, possible, set``, one ``NN/qK`` column per
        question, ``warning`` (e.g. file name and metadata name different sets), ``error``
        (why a submission could not be graded), ``reported`` (what the sandbox reported:
        cells that raised or were skipped; untrusted, capped text), ``failed`` (the tests
        that failed and why). One row per submission, sorted by file name. Text a
        spreadsheet would take for a formula is quoted.

    Raises:
        ValueError: ``folder`` is missing, not a folder, or holds no ``.ipynb``; bad
            ``timeout``, ``jobs`` or ``memory``.
        SandboxUnavailable: bubblewrap cannot be used here (and ``unsafe_no_sandbox`` is
            False).
        RuntimeError: a set cannot be built (its solution fails a test).
    """
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder={str(folder)!r} must be an existing folder of .ipynb submissions")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds")
    jobs = check_positive_int("jobs", (os.cpu_count() or 1) if jobs is None else jobs)
    if jobs > MAX_SLOTS:
        raise ValueError(f"jobs={jobs} must be <= {MAX_SLOTS}")
    check_positive_int("memory", memory, minimum=256 << 20)
    submissions = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not submissions:
        raise ValueError(f"folder={str(folder)!r} holds no .ipynb files to grade")
    problem = None if unsafe_no_sandbox else sandbox_problem()
    if problem:
        raise SandboxUnavailable(
            f"{problem}. Submissions are untrusted code: without the "
            "sandbox they could read the hidden tests, forge scores or "
            "change other submissions, so nothing was graded."
        )
    if cell_timeout is not None and not 0 < cell_timeout <= timeout:
        raise ValueError(f"cell_timeout={cell_timeout!r} must be in (0, timeout={timeout}]")
    limits = Limits(
        timeout=float(timeout),
        memory=memory,
        isolated=not unsafe_no_sandbox,
        cell_timeout=cell_timeout,
    )
    sets = exercise_sets(solutions)
    inputs = {}
    for path in submissions:  # each file is read once; later changes to it do not matter
        data = path.read_bytes()
        inputs[path.name] = (data, *_identify(path.name, data, sets))
    needed = sorted({s for _, s, _, _ in inputs.values() if s})
    built = {s: _Set(build(sets[s], Path(build_dir) / sets[s].stem)) for s in needed}
    out = Path(out) if out else ROOT / "grading_output" / f"{folder.resolve().name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.with_suffix(".logs")
    logs.mkdir(exist_ok=True)
    slots = list(range(jobs))
    slot_lock = threading.Lock()

    def run(name):
        data, set_id, warning, error = inputs[name]
        if set_id is None:
            return {"submission": name, "score": 0.0, "warning": warning, "error": error}
        with slot_lock:
            slot = slots.pop()
        try:
            row = _grade_one(name, data, built[set_id], limits, slot, logs)
        except GradingError as failure:
            row = {
                "submission": name,
                "score": 0.0,
                "set": set_id,
                "error": f"grader error (not the submission's fault): {failure}",
            }
        except Exception as failure:  # noqa: BLE001 - one row must not cost the others theirs
            row = {
                "submission": name,
                "score": 0.0,
                "set": set_id,
                "error": f"could not be graded: {type(failure).__name__}: {failure}"[:300],
            }
        finally:
            with slot_lock:
                slots.append(slot)
        row["warning"] = warning
        return row

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(run, sorted(inputs)))
    table = pd.DataFrame(rows)
    questions = sorted(c for c in table.columns if c not in FIXED_COLUMNS + TRAILING_COLUMNS)
    for column in FIXED_COLUMNS + TRAILING_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table = table[FIXED_COLUMNS + questions + TRAILING_COLUMNS].map(_spreadsheet_safe)
    partial = out.with_name(f".{out.name}.partial")
    table.to_csv(partial, index=False)
    os.replace(partial, out)  # written once, whole
    return out
