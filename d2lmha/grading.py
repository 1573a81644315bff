"""Graded exercises with otter-grader: build the student notebooks, grade submissions.

Each exercise set has one source, ``solutions/NN_name.ipynb``, an Otter Assign master notebook
(solutions, public and hidden tests; see ``solutions/README.md``). Two commands::

    python -m d2lmha.grading assign [NN ...]     # -> exercises/NN_name.ipynb (make exercises)
    python -m d2lmha.grading grade FOLDER        # -> a CSV of scores (make grade SUBMISSIONS=...)

``assign`` runs ``otter assign`` into ``build/grading/`` and copies the student notebook into
``exercises/``. ``grade`` builds each needed autograder zip the same way, then runs
``otter run`` (no Docker) on a copy of every ``.ipynb`` in FOLDER, each in its own process
under a time limit (``--timeout``, default ``$GRADE_TIMEOUT`` or 120 s), and writes one CSV
row per submission.

Grading without Docker runs submitted code as the current user: grade submissions you trust,
or run this inside a container.

Source: otter-grader 7 documentation, "Otter Assign" (notebook format v1) and "Otter Run".
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dill
import nbformat

__all__ = ["ROOT", "Autograder", "exercise_sets", "build", "assign", "grade_one", "grade", "main"]

ROOT = Path(__file__).resolve().parents[1]
SET_PATTERN = re.compile(r"(\d\d)_")  # a set is named by its two-digit chapter prefix


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
        notebook_name: the master's file name (``01_single_head.ipynb``); submissions are
            graded under this name, which their ``grader = otter.Notebook(...)`` cell opens.
        zip_path: the autograder zip (hidden tests included) for ``otter run``.
        possible: points per question, e.g. ``{"q1": 4.0, ...}``.
        directory: the ``otter assign`` output (``autograder/`` and ``student/`` inside).
    """

    set_id: str
    notebook_name: str
    zip_path: Path
    possible: dict[str, float]
    directory: Path

    @property
    def student_notebook(self) -> Path:
        return self.directory / "student" / self.notebook_name

    @property
    def solution_notebook(self) -> Path:
        """The solution in student layout (answers filled in, check cells added)."""
        return self.directory / "autograder" / self.notebook_name


def _otter(*args, **kwargs) -> subprocess.CompletedProcess:
    """Run the otter CLI of this interpreter, so its kernel sees this environment."""
    return subprocess.run([sys.executable, "-m", "otter", *map(str, args)], **kwargs)


def build(master: Path, out: Path, run_tests: bool = False) -> Autograder:
    """Run ``otter assign`` on ``master`` into ``out`` (emptied first).

    Args:
        master: an Otter Assign master notebook ``NN_name.ipynb`` whose config says
            ``name: NN_name`` (its file stem).
        out: output folder, e.g. ``build/grading/01_single_head``.
        run_tests: also grade the solution against all tests and fail unless it scores
            full marks (``otter assign`` without ``--no-run-tests``).

    Raises:
        ValueError: the assignment name is not the file stem.
        RuntimeError: ``otter assign`` failed (its output is in the message).
    """
    master, out = Path(master).resolve(), Path(out)
    shutil.rmtree(out, ignore_errors=True)
    flags = ["--no-pdfs"] + ([] if run_tests else ["--no-run-tests"])
    done = _otter("assign", *flags, master, out, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"otter assign {master.name} failed:\n{done.stdout}{done.stderr}")
    autograder = out / "autograder" / master.name
    meta = nbformat.read(autograder, as_version=nbformat.NO_CONVERT).metadata.get("otter", {})
    if meta.get("assignment_name") != master.stem:
        raise ValueError(f"{master.name}: ASSIGNMENT CONFIG must say name: {master.stem}, "
                         f"got {meta.get('assignment_name')!r}")
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file
    config = NBMetadataConfig(meta)
    possible = {q: float(create_test_file(str(autograder), config, q).possible)
                for q in config.tests}
    (zip_path,) = (out / "autograder").glob("*.zip")
    return Autograder(master.name[:2], master.name, zip_path, possible, out)


def assign(set_ids=None, solutions: Path = ROOT / "solutions",
           exercises: Path = ROOT / "exercises", build_dir: Path = ROOT / "build" / "grading",
           run_tests: bool = True, execute: bool = True) -> list[Path]:
    """Regenerate ``exercises/NN_name.ipynb`` from ``solutions/NN_name.ipynb``.

    Args:
        set_ids: set ids such as ``["01"]``; all sets when empty or None.
        run_tests: fail unless the solution passes all its tests (see :func:`build`).
        execute: run the student notebook top to bottom (blank answers) so it is stored
            with outputs, as committed.

    Returns:
        The student notebooks written.

    Raises:
        ValueError: an unknown set id. RuntimeError: see :func:`build`.
    """
    sets = exercise_sets(solutions)
    unknown = sorted(set(set_ids or ()) - set(sets))
    if unknown:
        raise ValueError(f"unknown exercise set(s) {unknown}; expected some of {sorted(sets)}")
    written = []
    for set_id in sorted(set_ids or sets):
        ag = build(sets[set_id], Path(build_dir) / sets[set_id].stem, run_tests=run_tests)
        if execute:  # in the build folder, so otter's .OTTER_LOG stays out of exercises/
            _execute(ag.student_notebook)
        target = Path(exercises) / ag.notebook_name
        shutil.copyfile(ag.student_notebook, target)
        written.append(target)
    return written


def _execute(path: Path) -> None:
    """Execute a notebook in place, in its own folder (nbclient, a kernel of this env)."""
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)


def _set_of(path: Path, nb, sets) -> str | None:
    """The set a submission belongs to: its otter assignment name, else its file name prefix."""
    name = (nb.metadata.get("otter", {}).get("assignment_name") or "") if nb else ""
    for text in (name, path.name):
        match = SET_PATTERN.match(text)
        if match and match.group(1) in sets:
            return match.group(1)
    return None


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and its descendants (the kernel runs in a session of its own)."""
    import psutil  # a dependency of IPython, so present wherever otter runs notebooks
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    proc.kill()
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()


def _cell_errors(executed) -> str:
    """``"ename: evalue"`` of the errors raised by a submission's cells, ``;``-separated."""
    errors = [f"{out['ename']}: {out['evalue']}" for cell in getattr(executed, "cells", [])
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    return "; ".join(dict.fromkeys(errors))


def grade_one(submission: Path, ag: Autograder, timeout: float = 120.0) -> dict:
    """Grade one submission with ``otter run`` on a copy, in a subprocess under ``timeout``.

    Args:
        submission: a ``.ipynb`` file; never written to.
        ag: its set's :class:`Autograder`.
        timeout: seconds allowed for the whole run (kernel start, every cell, every test).

    Returns:
        ``{"submission", "score", "possible", "set", "<set>/<question>"..., "error"}``. A
        submission that times out or cannot be run scores 0, with the reason in ``error``;
        one whose cells raise keeps the points of the tests it passes, and ``error`` lists
        the exceptions.
    """
    row = {"submission": submission.name, "score": 0.0, "possible": sum(ag.possible.values()),
           "set": ag.set_id,
           **{f"{ag.set_id}/{q}": 0.0 for q in ag.possible}, "error": ""}
    with tempfile.TemporaryDirectory(prefix="d2lmha-grade-") as tmp:
        copy = Path(tmp) / ag.notebook_name
        shutil.copyfile(submission, copy)
        try:
            nb = nbformat.read(copy, as_version=nbformat.NO_CONVERT)
            if not nb.metadata.get("otter", {}).get("assignment_name"):
                # Set found from the file name: label the copy so otter accepts it.
                nb.metadata.setdefault("otter", {})["assignment_name"] = copy.stem
                nbformat.write(nb, copy)
        except Exception as error:  # not a notebook at all: nothing to run
            row["error"] = f"unreadable notebook: {type(error).__name__}: {error}"
            return row
        cmd = [sys.executable, "-m", "otter", "run", "--no-logo", "-p", "-a", ag.zip_path,
               "-o", tmp, copy]
        proc = subprocess.Popen(list(map(str, cmd)), cwd=tmp, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            row["error"] = f"timed out after {timeout:g} s"
            return row
        results_path = Path(tmp) / "results.pkl"
        if proc.returncode or not results_path.exists():
            lines = [line for line in output.splitlines() if line.strip()]
            row["error"] = f"otter run failed: {lines[-1] if lines else proc.returncode}"
            return row
        with open(results_path, "rb") as f:
            results = dill.load(f)  # otter's GradingResults, as otter run wrote it
    if results.catastrophic_error is not None:
        row["error"] = f"grading failed: {results.catastrophic_error}"
        return row
    for name, test_file in results.results.items():
        row[f"{ag.set_id}/{name}"] = float(test_file.score)
    row["score"] = float(results.total)
    row["error"] = _cell_errors(results.notebook)
    return row


def grade(folder: Path, timeout: float = 120.0, out: Path | None = None, jobs: int = 1,
          solutions: Path = ROOT / "solutions",
          build_dir: Path = ROOT / "build" / "grading") -> Path:
    """Grade every ``*.ipynb`` in ``folder``; write a CSV and return its path.

    Each submission's set comes from its notebook metadata (``otter.assignment_name``,
    written by ``otter assign``) or else its file name prefix ``NN_``. The autograder zip of
    each set present is built from ``solutions/`` into ``build_dir`` first. Submissions are
    graded on copies in temporary folders, never changed.

    Args:
        folder: the submissions.
        timeout: seconds allowed per submission (> 0).
        out: CSV path; default ``grading_output/<folder name>.csv`` under the repository.
        jobs: submissions graded at the same time (>= 1).

    Returns:
        The CSV path. Columns: ``submission, score, possible, set``, one ``<set>/<question>``
        column per question, ``error`` (empty when the notebook ran cleanly). One row per
        submission, sorted by file name.

    Raises:
        ValueError: ``folder`` is not a folder or holds no ``.ipynb``; ``timeout <= 0``;
            ``jobs < 1``.
    """
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder={str(folder)!r} must be a folder of .ipynb submissions")
    if not timeout > 0:
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be an int >= 1")
    submissions = sorted(folder.glob("*.ipynb"))
    if not submissions:
        raise ValueError(f"no .ipynb files in {folder}")
    sets = exercise_sets(solutions)

    def set_of(path):
        try:
            nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        except Exception:
            nb = None
        return _set_of(path, nb, sets)

    owners = {path: set_of(path) for path in submissions}
    autograders = {s: build(sets[s], Path(build_dir) / sets[s].stem)
                   for s in sorted(set(owners.values()) - {None})}

    def run(path):
        if owners[path] is None:
            return {"submission": path.name, "score": 0.0, "error":
                    f"cannot tell the exercise set: name it NN_... with NN in {sorted(sets)}"}
        return grade_one(path, autograders[owners[path]], timeout)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(run, submissions))
    table = pd.DataFrame(rows)
    questions = [c for c in table.columns
                 if c not in ("submission", "score", "possible", "set", "error")]
    table = table[["submission", "score", "possible", "set", *questions, "error"]]
    out = Path(out) if out else ROOT / "grading_output" / f"{folder.resolve().name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return out


def main(argv=None) -> int:
    """Command line: ``assign [NN ...]`` or ``grade FOLDER [--timeout S] [--jobs N] [--out CSV]``."""
    parser = argparse.ArgumentParser(prog="python -m d2lmha.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p_assign = commands.add_parser("assign", help="regenerate exercises/ from solutions/")
    p_assign.add_argument("sets", nargs="*", help="set ids such as 01 (default: all)")
    p_assign.add_argument("--no-run-tests", action="store_true",
                          help="do not check that the solution passes all its tests")
    p_assign.add_argument("--no-execute", action="store_true",
                          help="store the student notebook without outputs")
    p_grade = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    p_grade.add_argument("folder", type=Path)
    # Defaults from the environment, so `make grade SUBMISSIONS=x GRADE_TIMEOUT=300` works.
    p_grade.add_argument("--timeout", type=float,
                         default=float(os.environ.get("GRADE_TIMEOUT", 120)),
                         help="seconds per submission (default $GRADE_TIMEOUT or 120)")
    p_grade.add_argument("--jobs", type=int, default=int(os.environ.get("GRADE_JOBS", 1)),
                         help="submissions graded at a time (default $GRADE_JOBS or 1)")
    p_grade.add_argument("--out", type=Path, help="CSV path (default grading_output/FOLDER.csv)")
    args = parser.parse_args(argv)
    if args.command == "assign":
        for path in assign(args.sets, run_tests=not args.no_run_tests,
                           execute=not args.no_execute):
            print(path)
    else:
        print(grade(args.folder, timeout=args.timeout, out=args.out, jobs=args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
