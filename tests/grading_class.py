"""One class of submissions, graded once per test run and shared by every grading test.

Grading runs each submission in a sandbox: the suite's most expensive thing. So every
submission the grading tests need — each set's solution, blank and planned mistakes in both
editions, set 01's odd cases, the hostile submissions — goes into one folder, graded by one
``grading.grade`` call, the way ``make grade`` grades a class. The first test process that
needs it grades it (under a lock); the others, and later modules, read the result from
``build/test-class/<run>/``. Everything the security tests observe around that call (files
outside the sandboxes, the host's loopback, leftover processes, the instructor's
environment) is recorded there too.
"""

from __future__ import annotations

import compileall
import copy
import functools
import fcntl
import hashlib
import importlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd

from d2lmha import grading
from d2lmha.grading.questions import question_configs

import hostile

SETS = grading.exercise_sets()
# Each question's kind and what it may not call: the question configs of the set's source, the
# one place these are written (the build reads the same).
QUESTIONS = {key: question_configs(master) for key, master in SETS.items()}
MISTAKES = {key: importlib.import_module(f"mistakes_{key}").MISTAKES for key in SETS}
# Each set's planned degenerate answers (no work: identity, zeros, a constant, an error), a
# cell that redefines every function of the set; they must earn nothing.
# Per question with forbidden names, a cell that hands the work to one of them (appended to the
# solution): it must earn nothing on that question's function tests.
DELEGATING = {
    key: getattr(importlib.import_module(f"mistakes_{key}"), "DELEGATING", {}) for key in SETS
}
DEGENERATE = {
    key: getattr(importlib.import_module(f"mistakes_{key}"), "DEGENERATE", "") for key in SETS
}
# The 中文 edition's submissions (from solutions/zh and exercises/zh) are graded by the same
# call, hence by the English set's grader and hidden tests.
EDITIONS = {"": "", "zh_": "zh"}
# Three sandboxes at once on two CPUs: several hostile submissions sleep (or spin) until their
# cell's time limit, and with two slots the CPUs idled while two of them waited. The limit,
# 20 s a cell, is several times the longest honest cell of any set (about 4 s, set 06's
# training, on a quiet machine); a cell that ran over it only because others held the CPUs
# is graded again alone (the runner's starvation check), so a loaded machine does not fail it.
TIMEOUT, CELL_TIMEOUT, JOBS = 300, 20, 3
ROOT = grading.ROOT / "build" / "test-class"
# The class's roster (student_id: match): a Moodle folder's name, two set-01 notebooks (one
# per edition), one who handed in twice and one who handed in nothing.
ROSTER = {
    "zoe@uni.edu": "Zoë 学生",
    "wrong01": "sets/01_wrong",
    "zhwrong01": "sets/01_zh_wrong",
    "twice": "round2/01_twice",
    "absent": "nothing-by-this-name",
}


def _where(set_id: str, edition: str = "") -> tuple:
    """``(master, build folder, capture)`` of a set in an edition."""
    master = SETS[set_id].parent / edition / SETS[set_id].name
    return master, grading.BUILD_DIR / edition / master.stem, not edition


@functools.cache
def build(set_id: str, edition: str = ""):
    """A set built into the shared, git-ignored build folder (reused while unchanged). The
    first call in a process builds every set of both editions (:func:`build_all`); later
    calls with the same set return the same build (the sources do not change during a run)."""
    build_all()
    return grading.build(*_where(set_id, edition))


@functools.cache
def build_all() -> None:
    """Build every set of both editions at once: one ``otter assign`` process for all, the
    captures ``JOBS`` at a time (importing otter costs ~3 s of CPU per process)."""
    pairs = [(key, edition) for key in SETS for edition in EDITIONS.values()]
    grading.build_many([_where(*pair) for pair in pairs], jobs=JOBS)


def make_mistakes(nb, mistakes):
    """``nb`` with each planned mistake ``(marker, right, wrong)`` made in its answer cell."""
    for marker, right, wrong in mistakes.values():
        (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
        assert right in cell.source, f"{marker}: the solution no longer contains {right!r}"
        cell.source = cell.source.replace(right, wrong)
    return nb


def read(path):
    return nbformat.read(path, as_version=4)


def blank(set_id: str, edition: str = ""):
    return read(grading.ROOT / "exercises" / edition / build(set_id, edition).notebook_name)


def set_submissions(folder: Path) -> dict:
    """Each set's solution, blank and planned mistakes, both editions, and its degenerate
    answers: ``{name: role}``."""
    names = {}
    for key in SETS:
        for prefix, edition in EDITIONS.items():
            solution = read(build(key, edition).solution_notebook)
            wrong = make_mistakes(copy.deepcopy(solution), MISTAKES[key])
            for role, nb in (
                ("solution", solution),
                ("blank", blank(key, edition)),
                ("wrong", wrong),
            ):
                name = f"sets/{key}_{prefix}{role}.ipynb"
                nbformat.write(nb, folder / name)
                names[name] = role
        if DELEGATING[key]:  # one notebook per set: each question's calls are guarded apart
            delegating = read(build(key).solution_notebook)
            delegating.cells += [nbformat.v4.new_code_cell(c) for c in DELEGATING[key].values()]
            nbformat.write(delegating, folder / f"sets/{key}_delegating.ipynb")
            names[f"sets/{key}_delegating.ipynb"] = "delegating"
        degenerate = blank(key)
        degenerate.cells.append(nbformat.v4.new_code_cell(DEGENERATE[key]))
        nbformat.write(degenerate, folder / f"sets/{key}_degenerate.ipynb")
        names[f"sets/{key}_degenerate.ipynb"] = "degenerate"
    return names


def write_class(folder: Path, paths: dict) -> dict:
    """Write every submission; return ``{"sets": ..., "cases": ..., "attacks": ..., ...}``:
    for each group, ``{role: file name under the folder}``."""
    (folder / "sets").mkdir(parents=True)
    return {
        "sets": set_submissions(folder),
        "cases": hostile.set_01_cases(folder, build("01")),
        "attacks": hostile.write_attacks(folder, paths),
        "round2": hostile.round_two(folder, {k: build(k) for k in SETS}),
    }


def _fingerprint(path: Path) -> str:
    """sha256 of a file's content; of a file over ``HASHED`` bytes (the class's 2 GiB sparse
    notebook), its inode, size, modification and change times and first ``HASHED`` bytes: a
    write or a rename over it changes one of them (no program can set the change time), and
    reading it whole three times cost 12 s of CPU."""
    stat = path.stat()
    if stat.st_size <= HASHED:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(HASHED)).hexdigest()
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{head}"


HASHED = 64 << 20


def _snapshot(*folders):
    """``{path: fingerprint}`` of every file under ``folders``, but otter's ``.OTTER_LOG``:
    nbval writes it beside the solutions it runs in the other xdist worker, outside any
    sandbox."""
    return {
        str(f): _fingerprint(f)
        for folder in folders
        for f in sorted(Path(folder).rglob("*"))
        if f.is_file() and f.name != ".OTTER_LOG" and "__pycache__" not in f.parts
    }


def _grade_class(here: Path) -> dict:
    """Write the class under ``here``, grade it once, record what was observed."""
    folder, canary = here / "class", here / "canary"
    folder.mkdir()
    canary.mkdir()
    out = here / "grades" / "scores.csv"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections, stop = [], threading.Event()

    def listen():
        while not stop.is_set():
            try:
                connections.append(str(server.accept()[1]))
            except OSError:
                pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    paths = {
        "root": grading.ROOT,
        "victim": folder / "01_victim.ipynb",
        "csv": out,
        "build": build("01").directory,
        "canary": canary,
        "folder": folder,
        "port": server.getsockname()[1],
    }
    names = write_class(folder, paths)
    roster = here / "roster.csv"  # a few students; the other files stay unmatched
    roster.write_text("student_id,match\n" + "".join(f"{s},{m}\n" for s, m in ROSTER.items()))
    watched = (grading.ROOT / "d2lmha", grading.ROOT / "solutions", grading.ROOT / "exercises")
    watched += (grading.BUILD_DIR, folder)
    compileall.compile_dir(grading.ROOT / "d2lmha", quiet=1)
    before = _snapshot(*watched)
    os.environ[hostile.SECRET_NAME] = hostile.SECRET  # the instructor's: must not leak in
    start = time.monotonic()
    try:
        grading.grade(
            folder,
            timeout=TIMEOUT,
            cell_timeout=CELL_TIMEOUT,
            jobs=JOBS,
            out=out,
            roster=roster,
        )
    finally:
        del os.environ[hostile.SECRET_NAME]
    seconds = time.monotonic() - start
    time.sleep(1.0)
    stop.set()
    listener.join()
    server.close()
    after = _snapshot(*watched)
    result = {
        "names": names,
        "csv": str(out),
        "logs": str(out.with_suffix(".logs")),
        "folder": str(folder),
        "canary": str(canary),
        "changed": sorted(k for k, v in after.items() if before.get(k) != v)
        + sorted(set(before) - set(after)),
        "connections": connections,
        "seconds": seconds,
        "leftover": hostile.leftover_processes(),
    }
    (here / "result.json").write_text(json.dumps(result))
    return result


def graded_class() -> dict:
    """The class graded once per test run (``PYTEST_XDIST_TESTRUNUID``), shared by workers.

    Returns the recorded result plus ``table``: the CSV as strings, indexed by submission.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    here = ROOT / run
    here.parent.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f"{run}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (here / "result.json").is_file():
            result = json.loads((here / "result.json").read_text())
        else:
            if here.exists():
                import shutil

                shutil.rmtree(here)
            here.mkdir()
            result = _grade_class(here)
    table = pd.read_csv(result["csv"], dtype=str, keep_default_na=False)
    result["table"] = table.set_index("submission")
    return result


def log(result: dict, submission: str) -> str:
    """The log of one graded submission (its first MiB), as text."""
    name = result["table"].loc[submission, "log"]
    path = Path(result["logs"]) / name
    return path.read_bytes().decode("utf-8", "replace") if name and path.is_file() else ""
