"""Grade a folder of submitted notebooks: one sandbox each, scores decided outside, one CSV.

Every file under the folder gets exactly one row (:mod:`.collect`): a notebook is graded, or
the row says why not. A notebook's exercise set is read from its metadata
(``otter.assignment_name``) or else its file name (``NN_...``); a copy runs in its own
bubblewrap sandbox (:mod:`.sandbox`), which computes the submission's answers to the set's
recorded calls; the tests then run on those answers in a short-lived scoring process with
limits of its own (:mod:`.scoring`). Submissions are read once and never written.

Rows are kept as they finish: each is appended to ``<out>.rows.jsonl`` and flushed, so a
grading that is stopped half-way keeps them, and ``resume=True`` grades only what is
missing. The CSV is written at the end, atomically. A submission stopped for time while
others ran beside it is graded again alone before its row is final, so a neighbour that
hogs the CPU costs nobody else their points.

Source: the threat model in ``solutions/README.md``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .._checks import check_positive_int
from .assign import BUILD_DIR, ROOT, SET_PATTERN, Autograder, build_many, exercise_sets
from .collect import Found, log_name
from .feedback import edition, set_info
from .lms import collect_submissions, lms_name, read_roster
from .messages import localize_report, say
from .report import finish
from .sandbox import (
    MAX_SLOTS,
    Limits,
    SandboxUnavailable,
    run_sandboxed,
    sandbox_problem,
    usable_cpus,
)
from .scoring import score_answers, warm_up
from .source_check import forbidden_warning
from .shard import in_shard, parse_shard

__all__ = ["grade", "MAX_SUBMISSION_BYTES"]

MAX_SUBMISSION_BYTES = 32 << 20
MAX_NOTES = 20
RERUN_NOTE = "graded again alone: it ran out of time while other submissions ran beside it"


def _identify(key: str, data: bytes, sets: dict) -> tuple[str | None, str, str, dict]:
    """``(set id or None, warning, error, metadata)`` of one notebook, from its bytes and name."""
    name = key.rsplit("/", 1)[-1]
    by_name = SET_PATTERN.match(name)
    by_name = by_name.group(1) if by_name and by_name.group(1) in sets else None
    try:
        nb = json.loads(data.decode("utf-8"))
        metadata = nb.get("metadata") if isinstance(nb, dict) else None
        if not isinstance(metadata, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("no cells or no metadata")
        otter = metadata.get("otter")
        assignment = (otter.get("assignment_name") if isinstance(otter, dict) else None) or ""
    except Exception as error:  # not a notebook: JSON errors, bad UTF-8, another shape
        return None, "", f"unreadable notebook: {type(error).__name__}: {str(error)[:200]}", {}
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
            metadata,
        )
    if by_meta and by_name and by_meta != by_name:
        warning = (
            f"file name says set {by_name}, metadata says set {by_meta}: graded as set {by_meta}"
        )
        return by_meta, warning, "", metadata
    if by_meta or by_name:
        return by_meta or by_name, "", "", metadata
    return (
        None,
        "",
        f"cannot tell the exercise set: name the file NN_... with NN in {sorted(sets)}",
        metadata,
    )


@dataclass
class _Job:
    """One notebook to grade (the first of any identical copies)."""

    found: Found
    set_id: str
    warning: str
    lang: str = ""  # the submission's edition (:func:`~.feedback.edition`): "" or "zh"


def _instructor_warnings(
    jobs: list[_Job], solution_hashes: dict, built: dict, metadata: dict
) -> dict:
    """``{key: warning}`` for copies of a solution notebook, notebooks carrying a solution's
    hidden tests in the metadata, and answers that name what their question may not call
    (:mod:`.source_check`). (Copies of another submission are flagged over the whole class,
    shards joined: :func:`~.report.finish`.) The score stays: the instructor decides."""
    found = {}
    for job in jobs:
        notes = []
        if job.found.sha256 in solution_hashes:
            notes.append("identical to the instructor's solution notebook")
        text = json.dumps(metadata.get(job.found.key, {}))
        graded = built[job.set_id]
        if any(name in text for name in graded.hidden_tests):
            notes.append("its metadata carries the solution's hidden tests")
        notes.append(forbidden_warning(job.found.data, graded.questions, graded.learner_names))
        found[job.found.key] = "; ".join(filter(None, notes))
    return found


def _solution_hashes(solutions: Path, built: dict) -> set:
    import hashlib

    paths = list(Path(solutions).rglob("*.ipynb")) + [b.solution_notebook for b in built.values()]
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


class _Journal:
    """The rows done so far, one JSON line each, flushed as each is added."""

    def __init__(self, path: Path, resume: bool):
        self.path, self.lock = path, threading.Lock()
        self.done = {}
        if resume and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.done[(entry["submission"], entry["sha256"])] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill
        self.file = open(path, "a" if resume else "w", encoding="utf-8")

    def previous(self, found: Found) -> dict | None:
        entry = self.done.get((found.key, found.sha256))
        return None if entry is None or entry.get("provisional") else entry["row"]

    def add(self, found: Found, row: dict, provisional: bool = False) -> None:
        line = json.dumps(
            {
                "submission": found.key,
                "sha256": found.sha256,
                "row": row,
                "provisional": provisional,
            }
        )
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self):
        self.file.close()


def _grade_one(
    job: _Job, graded: Autograder, limits: Limits, slot: int, logs: Path, tests: Path | None
) -> dict:
    """Run one notebook in a sandbox and score its answers: its row (and whether it stalled).
    ``tests``: the autograder notebook of the submission's edition (None: the set's own)."""
    row = _row(job.found.key, graded)
    row["log"] = log_name(job.found.key)
    with tempfile.TemporaryDirectory(prefix="d2lmha-grade-") as folder:
        outcome = run_sandboxed(job.found.data, graded.plan, Path(folder), limits, slot)
        with open(outcome.log, "rb") as log:
            (logs / row["log"]).write_bytes(log.read(1 << 20))
        scored = score_answers(
            graded,
            outcome.answers,
            limits.answers,
            limits.scoring_memory,
            limits.scoring_timeout,
            tests,
            job.lang,
        )
    row["reported"] = _reported(scored.reported, job.lang)
    row["_notes"] = [
        localize_report(str(note)[:300], job.lang) for note in scored.reported[:MAX_NOTES]
    ]
    row["stalled"] = outcome.killed or scored.stalled
    if outcome.killed:
        row["error"] = say("timed_out", job.lang, seconds=f"{limits.timeout:g}")
    elif scored.error:
        row["error"] = scored.error
    else:
        for question, value in scored.points.items():
            row[f"{graded.set_id}/{question}"] = value
        row["score"] = sum(scored.points.values())
        row["failed"] = "; ".join(f"{test}: {message}" for test, _, message in scored.failures)
        row["_failures"] = [list(failure) for failure in scored.failures]
    return row


def _row(key: str, graded: Autograder | None = None, status: str = "graded") -> dict:
    row = {"submission": key, "status": status, "score": 0.0}
    if graded is not None:
        row.update(possible=sum(graded.possible.values()), set=graded.set_id)
        row.update({f"{graded.set_id}/{q}": 0.0 for q in graded.possible})
    return row


def _reported(notes: list, lang: str = "") -> str:
    """What the sandbox says about the run (cells that raised or were skipped), as one short
    line in the edition's language: untrusted text, so capped, one line, and counted
    separately from ``error``."""
    shown = [localize_report(" ".join(str(note).split())[:300], lang) for note in notes[:MAX_NOTES]]
    extra = len(notes) - MAX_NOTES
    return "; ".join(dict.fromkeys(shown)) + (f"; ... {extra} more" if extra > 0 else "")


def _limits(timeout, jobs, memory, cell_timeout, unsafe_no_sandbox) -> tuple[Limits, int]:
    """The checked arguments of :func:`grade` as :class:`Limits` and a number of jobs."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds")
    jobs = check_positive_int("jobs", usable_cpus() if jobs is None else jobs)
    if jobs > MAX_SLOTS:
        raise ValueError(f"jobs={jobs} must be <= {MAX_SLOTS}")
    check_positive_int("memory", memory, minimum=256 << 20)
    if cell_timeout is not None and not 0 < cell_timeout <= timeout:
        raise ValueError(f"cell_timeout={cell_timeout!r} must be in (0, timeout={timeout}]")
    problem = None if unsafe_no_sandbox else sandbox_problem()
    if problem:
        raise SandboxUnavailable(
            f"{problem}. Submissions are untrusted code: without the "
            "sandbox they could read the hidden tests, forge scores or "
            "change other submissions, so nothing was graded."
        )
    limits = Limits(
        timeout=float(timeout),
        memory=memory,
        isolated=not unsafe_no_sandbox,
        cell_timeout=cell_timeout,
    )
    return limits, jobs


def _run_pool(
    jobs: list[_Job],
    built: dict,
    limits: Limits,
    workers: int,
    logs: Path,
    journal,
    note="",
    translated: dict | None = None,
):
    """Grade ``jobs``, ``workers`` sandboxes at once; each row goes to the journal when done.
    ``translated``: ``{(set id, edition): autograder notebook}`` of the translated sets.

    Returns ``{key: row}``. A row that stalled beside others is provisional until it has
    been graded again alone (by the caller).
    """
    slots, slot_lock, rows = list(range(workers)), threading.Lock(), {}
    translated = translated or {}

    def run(job: _Job) -> None:
        with slot_lock:
            slot = slots.pop()
        try:
            tests = translated.get((job.set_id, job.lang))
            row = _grade_one(job, built[job.set_id], limits, slot, logs, tests)
        except Exception as failure:  # noqa: BLE001 - one row must not cost the others theirs
            row = _row(job.found.key, built[job.set_id], "not graded")
            why = f"{type(failure).__name__}: {failure}"
            row["error"] = say("not_graded", job.lang, why=why)[:300]
        finally:
            with slot_lock:
                slots.append(slot)
        row["warning"] = job.warning
        if note:
            row["reported"] = "; ".join(filter(None, [note, row.get("reported", "")]))
        stalled = bool(row.pop("stalled", False)) and workers > 1
        journal.add(job.found, row, provisional=stalled)
        rows[job.found.key] = (row, stalled)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, jobs))
    return rows


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
    resume: bool = False,
    roster: Path | None = None,
    shard: str | None = None,
) -> Path:
    """Grade every notebook under ``folder``; write the CSVs and feedback; return the CSV path.

    Args:
        folder: the submissions: a folder, nested folders included, or a ``.zip`` as an LMS
            exports it (read in place, never extracted: :mod:`.lms`). Read, never written.
        timeout: wall seconds per submission (> 0).
        out: CSV path; default ``grading_output/<folder or zip name>/scores.csv`` under the
            repository. Each submission's output (first MiB) goes to
            ``<out without .csv>.logs/<log>``; finished rows to ``<out without .csv>.rows.jsonl``;
            the gradebook and the feedback pages beside it (:mod:`.report`).
        jobs: sandboxes at once (>= 1); default: the CPUs this process may use (its
            affinity and any cgroup CPU quota).
        memory: bytes of address space per process in a sandbox.
        cell_timeout: seconds one cell may run before it is skipped (default ``timeout / 2``).
        unsafe_no_sandbox: grade without bubblewrap (each submission still runs in a
            process of its own with the same limits, but can read and write whatever the
            instructor can). Only for submissions you trust.
        resume: keep the rows of an earlier run with the same ``out`` for files that have
            not changed since, and grade only the rest.
        roster: a CSV of ``student_id`` and ``match`` (:func:`~.lms.read_roster`); without
            one, students are derived from the LMS's file and folder names.
        shard: ``"i/n"``: grade only the files of shard ``i`` of ``n`` (:mod:`.shard`);
            join the shards' outputs with ``merge``.

    Returns:
        The CSV path. Columns: ``submission`` (path under the folder), ``student_id`` (""
        when the file matches no student: its ``warning`` says so), ``status``
        (``graded``, ``not graded``: a notebook that could not be run or scored, or
        ``skipped``: not a notebook), ``score, possible, set``, one ``NN/qK`` column per
        question, ``warning`` (e.g. file name and metadata name different sets, a copy, an answer
        that names what its question may not call),
        ``error`` (why a file was not graded or scored), ``reported`` (what the sandbox
        reported: cells that raised or were skipped; untrusted, capped text), ``failed``
        (the tests that failed and why) and ``log`` (the log's file name). One row per file,
        sorted by path. Text a spreadsheet would take for a formula is quoted.

    Raises:
        ValueError: ``folder`` is missing, not a folder or zip, or holds no ``.ipynb``; bad
            ``timeout``, ``jobs``, ``memory``, ``roster`` or ``shard``.
        SandboxUnavailable: bubblewrap cannot be used here (and ``unsafe_no_sandbox`` is
            False).
        RuntimeError: a set cannot be built (its solution fails a test).
    """
    limits, workers = _limits(timeout, jobs, memory, cell_timeout, unsafe_no_sandbox)
    part = parse_shard(shard) if shard is not None else (0, 1)
    students = read_roster(roster) if roster is not None else None
    found = collect_submissions(folder, MAX_SUBMISSION_BYTES)
    if not any(item.key.casefold().endswith(".ipynb") for item in found):
        raise ValueError(f"folder={str(folder)!r} holds no .ipynb files to grade")
    found = [item for item in found if in_shard(item.key, part)]
    warm_up()
    name = Path(folder).resolve()
    name = name.stem if name.is_file() else name.name
    out = Path(out) if out else ROOT / "grading_output" / name / "scores.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.with_suffix(".logs")
    logs.mkdir(exist_ok=True)
    sets = exercise_sets(solutions)
    editions = {item.key: edition(item.data) if item.data is not None else "" for item in found}
    rows, pending, metadata = _sort_out(found, sets, editions)
    needed = sorted({job.set_id for job in pending})
    ready = build_many([(sets[s], Path(build_dir) / sets[s].stem, True) for s in needed])
    built = dict(zip(needed, ready, strict=True))
    translated = _translated_tests(pending, sets, build_dir)
    copies = _instructor_warnings(pending, _solution_hashes(solutions, built), built, metadata)
    journal = _Journal(out.with_suffix(".rows.jsonl"), resume)
    try:
        rows.update(_grade_jobs(pending, built, limits, workers, logs, journal, translated))
    finally:
        journal.close()
    for item in found:
        row = rows[item.key]
        row["warning"] = "; ".join(filter(None, [row.get("warning", ""), copies.get(item.key, "")]))
        row.update(_facts(item, editions[item.key]))
    infos = {
        s: set_info(
            built[s], solutions, {lang: nb for (i, lang), nb in translated.items() if i == s}
        )
        for s in needed
    }
    unmatched = finish([rows[item.key] for item in found], out, students, infos, part)
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        warnings.warn(f"{len(unmatched)} notebook(s) match no student: {shown}", stacklevel=2)
    return out


def _facts(item: Found, lang: str) -> dict:
    """The private fields of a file's row that the gradebook and feedback use."""
    return {
        "_sha256": item.sha256,
        "_mtime": item.mtime,
        "_lms_submission": lms_name(item.key).submission,
        "_edition": lang,
    }


def _translated_tests(pending: list, sets: dict, build_dir: Path) -> dict:
    """``{(set id, edition): autograder notebook}`` for each translated set a submission of
    that edition needs: ``solutions/<edition>/NN_name.ipynb`` built (``otter assign`` only)
    into ``<build_dir>/<edition>/``. Its tests are the English set's, token for token but
    for their messages (``tests/test_zh.py``), so they run on the English set's plan."""
    wanted = sorted({(job.set_id, job.lang) for job in pending if job.lang})
    items = {}
    for set_id, lang in wanted:
        master = sets[set_id].parent / lang / sets[set_id].name
        if master.is_file():
            items[(set_id, lang)] = (master, Path(build_dir) / lang / master.stem, False)
    ready = build_many(list(items.values()))
    return {key: ag.solution_notebook for key, ag in zip(items, ready, strict=True)}


def _sort_out(found: list[Found], sets: dict, editions: dict) -> tuple[dict, list, dict]:
    """``(rows of the files that will not be graded, jobs to grade, metadata by key)``;
    ``editions``: each file's edition (:func:`~.feedback.edition`) by key."""
    rows, pending, metadata = {}, [], {}
    for item in found:
        if item.skipped:
            rows[item.key] = dict(_row(item.key, status="skipped"), error=item.skipped)
            continue
        set_id, warning, error, metadata[item.key] = _identify(item.key, item.data, sets)
        if set_id is None:
            rows[item.key] = dict(_row(item.key, status="not graded"), warning=warning, error=error)
        else:
            pending.append(_Job(item, set_id, warning, editions[item.key]))
    return rows, pending, metadata


def _grade_jobs(
    pending: list,
    built: dict,
    limits: Limits,
    workers: int,
    logs: Path,
    journal,
    translated: dict | None = None,
):
    """The rows of ``pending``: kept from the journal, or graded (identical copies once;
    those starved beside others graded again alone)."""
    rows, first, todo = {}, {}, []
    for job in pending:
        original = first.setdefault(job.found.sha256, job)
        previous = journal.previous(job.found)
        if previous is not None:
            rows[job.found.key] = previous
        elif original is job:
            todo.append(job)
    done = _run_pool(todo, built, limits, workers, logs, journal, translated=translated)
    alone = [job for job in todo if done[job.found.key][1]]
    if alone:
        done.update(_run_pool(alone, built, limits, 1, logs, journal, RERUN_NOTE, translated))
    rows.update({key: row for key, (row, _) in done.items()})
    for job in pending:  # a copy gets its original's scores, under its own name
        if job.found.key not in rows:
            row = dict(rows[first[job.found.sha256].found.key])
            rows[job.found.key] = dict(row, submission=job.found.key, warning=job.warning)
    return rows
