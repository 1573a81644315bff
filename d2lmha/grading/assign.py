"""Build each exercise set from its source: the student notebook and the grading material.

Each set has one source, ``solutions/NN_name.ipynb``, an Otter Assign master notebook
(solutions, public and hidden tests; see ``solutions/README.md``). :func:`build` runs
``otter assign`` (the student notebook with its ``grader.check`` cells, and the solution in
student layout), then :func:`d2lmha.grading.capture.capture` on that solution: the inputs of
every call the tests make, which is all a sandboxed submission is ever given.

Source: otter-grader 7 documentation, "Otter Assign" (notebook format v1).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .._checks import check_positive_int
from .questions import Question, question_configs


__all__ = [
    "ROOT",
    "BUILD_DIR",
    "SET_PATTERN",
    "Autograder",
    "exercise_sets",
    "build",
    "build_many",
    "assign",
]

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build" / "grading"  # git-ignored; reused while the sources are unchanged
SET_PATTERN = re.compile(r"(\d\d)_")  # a set is named by its two-digit chapter prefix
PACKAGE = Path(__file__).resolve().parents[1]  # d2lmha: the plans hold its objects


def exercise_sets(solutions: Path = ROOT / "solutions") -> dict[str, Path]:
    """Map each set id (``"01"``) to its master notebook ``solutions/01_*.ipynb``.

    Raises:
        ValueError: two masters share a prefix.
    """
    sets: dict[str, Path] = {}
    for master in sorted(Path(solutions).glob("[0-9][0-9]_*.ipynb")):
        set_id = master.name[:2]
        if set_id in sets:
            raise ValueError(f"two exercise sources for set {set_id}: {sets[set_id]}, {master}")
        sets[set_id] = master
    return sets


@dataclass(frozen=True)
class Autograder:
    """One set's grading material, as built by :func:`build`.

    Attributes:
        set_id: ``"01"``.
        notebook_name: the master's file name (``01_single_head.ipynb``).
        possible: points per question, e.g. ``{"q1": 4.0, ...}`` (public and hidden tests).
        hidden_tests: the names of the hidden test functions (to spot a submission that
            carries them).
        questions: each question's kind and what it may not call, from the master's
            question configs (:mod:`.questions`).
        learner_names: for each question, the learner names its tests take (functions and
            values), e.g. ``{"q2": ("attend_with_cache",)}``.
        directory: the build folder: ``student/`` and ``autograder/`` from ``otter assign``,
            ``plan.dill`` (inputs for the sandbox) and ``plan.safetensors`` (the same, as
            plain data for the trusted grader).
    """

    set_id: str
    notebook_name: str
    possible: dict[str, float]
    directory: Path
    hidden_tests: tuple = ()
    questions: dict[str, Question] = field(default_factory=dict)
    learner_names: dict[str, tuple] = field(default_factory=dict)

    @property
    def student_notebook(self) -> Path:
        return self.directory / "student" / self.notebook_name

    @property
    def solution_notebook(self) -> Path:
        """The solution in student layout (answers filled in, check cells added)."""
        return self.directory / "autograder" / self.notebook_name

    @property
    def plan(self) -> Path:
        return self.directory / "plan.dill"

    @property
    def plan_data(self) -> Path:
        return self.directory / "plan.safetensors"


# One process runs ``otter assign`` for every set a build needs: importing otter costs about
# 3 s of CPU, most of what assigning one small set costs. (``otter.assign.main`` is what the
# ``otter assign`` command runs; it changes the working folder while it runs, so the sets
# are assigned one after another.)
_ASSIGN = """import sys
from otter import logging
from otter.assign import main
logging.set_level(logging.WARNING)
for master, out in zip(sys.argv[1::2], sys.argv[2::2]):
    print("otter assign", master, flush=True)
    main(master, out, no_pdfs=True, no_run_tests=True)
"""


def _otter_assign(pairs: list[tuple[Path, Path]]) -> None:
    """``otter assign --no-pdfs --no-run-tests MASTER OUT`` for each pair, in one process of
    this interpreter (so its kernel sees this environment).

    Raises:
        RuntimeError: a set failed (the output names it and says why).
    """
    if not pairs:
        return
    args = [str(path) for pair in pairs for path in pair]
    done = subprocess.run(
        [sys.executable, "-c", _ASSIGN, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"otter assign failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _source_key(master: Path, capture: bool = True) -> str:
    """What a build depends on: the master, and every source file of the package (the
    grading code, and the classes whose objects the plans hold, e.g. set 07's layers)."""
    digest = hashlib.sha256(master.read_bytes() + (b"capture" if capture else b"assign only"))
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(master: Path, out: Path, capture: bool = True) -> Autograder:
    """Build one set into ``out``: ``otter assign``, then capture the tests' calls.

    A folder already built from the same master (and the same grading code) is reused;
    concurrent builds of one folder wait for each other.

    Args:
        master: an Otter Assign master notebook ``NN_name.ipynb`` whose config says
            ``name: NN_name`` (its file stem).
        out: output folder, e.g. ``build/grading/01_single_head``.
        capture: False for a translation of a set (``solutions/zh/``): only ``otter assign``
            (the student notebook, the solution in student layout); such a set is graded by
            the plan of its English original, which has the same name and tests.

    Raises:
        ValueError: the assignment name is not the file stem.
        RuntimeError: ``otter assign`` failed, or the solution fails one of its tests
            (the message says which).
    """
    return build_many([(master, out, capture)])[0]


def build_many(items, jobs: int = 1) -> list[Autograder]:
    """Build several sets, ``[(master, out, capture), ...]``, each as :func:`build` does,
    with one ``otter assign`` process for all that need it and their captures ``jobs`` at a
    time. Returns their :class:`Autograder`, in order.

    Raises:
        ValueError, RuntimeError: as :func:`build`; ``jobs`` not a positive int.
    """
    check_positive_int("jobs", jobs)
    items = [(Path(master).resolve(), Path(out), capture) for master, out, capture in items]
    with contextlib.ExitStack() as locks:
        for out in sorted({out for _, out, _ in items}):  # one order: no deadlock between runs
            out.parent.mkdir(parents=True, exist_ok=True)
            lock = locks.enter_context(open(out.parent / f".{out.name}.lock", "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build of a set at a time (xdist, make)
        stale = {}
        for master, out, capture in items:
            key = _source_key(master, capture)
            stamp = out / "source.sha256"
            if not (stamp.is_file() and stamp.read_text() == key):
                stale[out] = (master, capture, key)
        for out in stale:
            shutil.rmtree(out, ignore_errors=True)
        # The capture below runs every test on the solution, so otter need not (a translated
        # set is not captured: nbval runs its tests, and it is graded by its original's plan).
        _otter_assign([(master, out) for out, (master, _, _) in stale.items()])
        for out, (master, _, _) in stale.items():
            _translate_otter_cells(master, out)
        captured = [(master, out) for out, (master, capture, _) in stale.items() if capture]
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda pair: _capture(pair[0], _solution(*pair), pair[1]), captured))
        for out, (_, _, key) in stale.items():
            (out / "source.sha256").write_text(key)
        return [_autograder(master, out) for master, out, _ in items]


def edition_of(master: Path) -> str:
    """The edition of a set's source: ``"zh"`` for ``solutions/zh/NN_x.ipynb`` (a folder
    named by a translated edition, :mod:`d2lmha.editions`), ``""`` for the English
    ``solutions/NN_x.ipynb``."""
    from ..editions import TRANSLATED

    folder = Path(master).parent.name
    return folder if folder in TRANSLATED else ""


def _translate_otter_cells(master: Path, out: Path) -> None:
    """In a translated set's notebooks, the text ``otter assign`` writes itself (the closing
    cell above ``grader.check_all()``) in the set's language."""
    lang = edition_of(master)
    if not lang:
        return
    import nbformat

    from .messages import say

    english, translated = say("check_all"), say("check_all", lang)
    for path in (out / "student" / master.name, out / "autograder" / master.name):
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        for cell in nb.cells:
            if cell.cell_type == "markdown" and english in cell.source:
                cell.source = cell.source.replace(english, translated)
        nbformat.write(nb, path)


def _solution(master: Path, out: Path) -> Path:
    return out / "autograder" / master.name


def _autograder(master: Path, out: Path) -> Autograder:
    """The :class:`Autograder` of a built set."""
    autograder = _solution(master, out)
    import nbformat

    meta = nbformat.read(autograder, as_version=nbformat.NO_CONVERT).metadata.get("otter", {})
    if meta.get("assignment_name") != master.stem:
        raise ValueError(
            f"{master.name}: ASSIGNMENT CONFIG must say name: {master.stem}, "
            f"got {meta.get('assignment_name')!r}"
        )
    from .cases import load_tests

    possible: dict[str, float] = {}
    names: dict[str, dict] = {}
    tests = load_tests(autograder)
    for test in tests:
        possible[test["question"]] = possible.get(test["question"], 0.0) + test["points"]
        names.setdefault(test["question"], {}).update(dict.fromkeys(test["params"]))
    hidden = tuple(test["func"].__name__ for test in tests if test["hidden"])
    learner_names = {question: tuple(found) for question, found in names.items()}
    questions = question_configs(master)
    return Autograder(master.name[:2], master.name, possible, out, hidden, questions, learner_names)


def _capture(master: Path, autograder: Path, out: Path) -> None:
    """Run every test of the solution, recording the inputs of each call (:mod:`.capture`).

    Raises:
        RuntimeError: the solution fails a test, or the capture failed.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "d2lmha.grading.capture",
            str(autograder.resolve()),
            str(out.resolve()),
            str(master.resolve()),
            str((out / "student" / master.name).resolve()),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        raise RuntimeError(
            f"capturing the tests of {master.name} failed:\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )


def assign(
    set_ids=None,
    solutions: Path = ROOT / "solutions",
    exercises: Path = ROOT / "exercises",
    build_dir: Path = BUILD_DIR,
    execute: bool = True,
    capture: bool = True,
) -> list[Path]:
    """Regenerate ``exercises/NN_name.ipynb`` from ``solutions/NN_name.ipynb``.

    Args:
        set_ids: set ids such as ``["01"]``; all sets when empty or None.
        execute: check that the student notebook runs top to bottom with blank answers
            (it is stored without outputs either way).
        capture: see :func:`build` (False for a translated set).

    Returns:
        The student notebooks written.

    Raises:
        ValueError: an unknown set id. RuntimeError: see :func:`build` (it fails unless
            the solution passes all its tests).
    """
    sets = exercise_sets(solutions)
    unknown = sorted(set(set_ids or ()) - set(sets))
    if unknown:
        raise ValueError(f"unknown exercise set(s) {unknown}; expected some of {sorted(sets)}")
    written = []
    ids = sorted(set_ids or sets)
    for ag in build_many([(sets[i], Path(build_dir) / sets[i].stem, capture) for i in ids]):
        if execute:  # in the build folder, so otter's .OTTER_LOG stays out of exercises/
            _execute(ag.student_notebook)
        target = Path(exercises) / ag.notebook_name
        shutil.copyfile(ag.student_notebook, target)
        stable_cell_ids(target, sets[ag.set_id])
        written.append(target)
    return written


def stable_cell_ids(student: Path, master: Path) -> None:
    """Give the cells otter wrote into ``student`` (its checks, its closing cell) ids made
    from their type and source, instead of otter's random ones: a rebuild that changes no
    cell changes no line. Cells taken from ``master`` keep the master's ids."""
    import nbformat

    nb = nbformat.read(student, as_version=4)
    kept = {cell.get("id") for cell in nbformat.read(master, as_version=4).cells}
    used = set(kept)
    for cell in nb.cells:
        if cell.get("id") in kept:
            continue
        digest = hashlib.sha256(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        new, n = digest, 1
        while new in used:  # the same cell twice
            new, n = f"{digest}-{n}", n + 1
        cell.id = new
        used.add(new)
    nbformat.write(nb, student)


def _execute(path: Path) -> None:
    """Check that a notebook runs top to bottom (nbclient, a kernel of this env), then store
    it without outputs.

    A student notebook is stored blank: its ``grader.check`` cells would show failures
    before the learner starts, and the check cell of a predict-then-check question would
    show the answer before the learner predicts. (nbval runs these notebooks without
    comparing outputs: see the repository's ``conftest.py``.)

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # nbclient's timestamps
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
