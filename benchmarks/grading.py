"""``python -m benchmarks.grading [--submissions N] [--repeats R] [--out PATH] [--hostile-only]``.

Throughput of ``make grade``: seconds per submission of the sandboxed grader with one and
two jobs, against the reference run in the same process: ``otter run`` (no Docker, no
sandbox; what the course graded with before) on the same submissions, one at a time. Also
the time of each set's solution alone (one job), from which the table projects a class of
300 students × every set. Then a class of 20 mixed set-01 submissions graded at the default
jobs, alone and with one hostile submission of each kind grading round 2 was filed about
added (``tests/hostile.py``): seconds per submission, the ratio of the two totals, whether
the honest rows' scores stayed identical, and the grading process's own peak RSS (the
sandboxes and scoring processes have limits of their own). Each figure is the median over
``R`` repeats, with the range. Writes ``benchmarks/results/grading.md`` (or, with
``--hostile-only``, only the class section to ``benchmarks/results/grading_hostile.md``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd
import torch

from d2lmha import grading

from .report import command, machine_description, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
CLASS_SIZE = 300


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _folder(root: Path, built, count: int) -> Path:
    """``count`` submissions of set 01: the solution and the blank notebook, alternating."""
    folder = root / "class"
    folder.mkdir()
    solution = nbformat.read(built.solution_notebook, as_version=4)
    blank = nbformat.read(grading.ROOT / "exercises" / built.notebook_name, as_version=4)
    for i in range(count):
        nbformat.write(solution if i % 2 == 0 else blank, folder / f"01_student{i:03d}.ipynb")
    return folder


def _otter_run(folder: Path, built) -> float:
    """Seconds to grade ``folder`` with ``otter run``, one submission after another."""
    zip_path = max((built.directory / "autograder").glob("*.zip"), key=lambda p: p.stat().st_mtime)
    start = time.perf_counter()
    for submission in sorted(folder.glob("*.ipynb")):
        with tempfile.TemporaryDirectory() as out:
            copy = Path(out) / built.notebook_name
            shutil.copyfile(submission, copy)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "otter",
                    "run",
                    "--no-logo",
                    "-a",
                    str(zip_path),
                    "-o",
                    out,
                    str(copy),
                ],
                cwd=out,
                check=True,
                capture_output=True,
            )
    return time.perf_counter() - start


def _ours(folder: Path, jobs: int, out: Path) -> float:
    start = time.perf_counter()
    csv = grading.grade(folder, jobs=jobs, out=out)
    seconds = time.perf_counter() - start
    scores = pd.read_csv(csv)["score"]
    assert len(scores) == len(list(folder.glob("*.ipynb"))), "a submission lost its row"
    return seconds


def _mixed_class(folder: Path, built, size: int = 20) -> list[str]:
    """``size`` different set-01 submissions: solutions, blanks, planned mistakes and a
    forgotten √d, in turn (each with a line of its own, so none is a copy)."""
    sys.path.insert(0, str(grading.ROOT / "tests"))
    import hostile
    from grading_class import MISTAKES, make_mistakes

    solution = nbformat.read(built.solution_notebook, as_version=4)
    no_sqrt = nbformat.read(built.solution_notebook, as_version=4)
    for cell in no_sqrt.cells:
        cell.source = cell.source.replace(" / math.sqrt(d)", "")
    kinds = [
        solution,
        hostile.read(hostile.BLANK),
        make_mistakes(nbformat.read(built.solution_notebook, as_version=4), MISTAKES["01"]),
        no_sqrt,
    ]
    folder.mkdir()
    names = []
    for i in range(size):
        name = f"01_student{i:02d}.ipynb"
        nbformat.write(hostile.with_cell(kinds[i % 4], f"student {i}", True), folder / name)
        names.append(name)
    return names


def _add_hostile(folder: Path, built: dict) -> None:
    """One submission of each hostile kind (``tests/hostile.py``), set 01's degenerate ones
    and a CPU hog, into ``folder``."""
    import hostile

    folder.mkdir()
    hostile.round_two(folder, built)
    blank = hostile.read(hostile.BLANK)
    for kind in ("identity", "constant", "raise"):
        cell = hostile.degenerate_cell(built["01"], kind)
        nbformat.write(hostile.with_cell(blank, cell), folder / f"01_{kind}.ipynb")
    nbformat.write(hostile.with_cell(blank, hostile.HOG), folder / "01_cpu_hog.ipynb")


_GRADE_AND_MEASURE = """
import resource, sys
from d2lmha import grading
grading.grade(sys.argv[1], out=sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _grade_measured(folder: Path, out: Path) -> tuple[float, float, pd.DataFrame]:
    """Grade ``folder`` at the default jobs in a process of its own: ``(seconds, its peak
    RSS in MiB, the table)``."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _GRADE_AND_MEASURE, str(folder), str(out)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    seconds = time.perf_counter() - start
    peak = int(done.stdout.split()[-1]) / 1024
    return seconds, peak, pd.read_csv(out, dtype=str, keep_default_na=False)


def hostile_class(repeats: int, built: dict, tmp: Path) -> dict:
    """The class of 20 alone and with the hostile kinds added, ``repeats`` times."""
    clean = tmp / "clean"
    names = _mixed_class(clean, built["01"])
    mixed = tmp / "mixed"
    shutil.copytree(clean, mixed)
    _add_hostile(mixed / "hostile", built)
    measured = {"clean": [], "with hostile": [], "ratio": [], "peak": [], "same": []}
    columns = ["score"] + [f"01/{q}" for q in built["01"].possible]
    for round_ in range(repeats):
        seconds, peak_clean, table = _grade_measured(clean, tmp / f"c{round_}" / "s.csv")
        seconds_h, peak, table_h = _grade_measured(mixed, tmp / f"h{round_}" / "s.csv")
        honest = table.set_index("submission").loc[names, columns]
        honest_h = table_h.set_index("submission").loc[names, columns]
        measured["clean"].append(seconds / len(names))
        measured["with hostile"].append(seconds_h)
        measured["ratio"].append(seconds_h / seconds)
        measured["peak"].append(max(peak, peak_clean))
        measured["same"].append(bool(honest.equals(honest_h)))
    return measured


def _hostile_text(measured: dict, repeats: int, hostile_count: int) -> str:
    rows = [
        {"measure": "clean class, s per submission", **_spread(measured["clean"])},
        {"measure": "with hostile, s in all", **_spread(measured["with hostile"])},
        {"measure": "with hostile / clean (total time)", **_spread(measured["ratio"])},
        {"measure": "grading process peak RSS, MiB", **_spread(measured["peak"])},
    ]
    same = sum(measured["same"])
    return (
        f"## A class of 20 set-01 submissions, alone and with {hostile_count} hostile files "
        f"added ({repeats} rounds, default jobs)\n\n"
        "Solutions, blanks, planned mistakes and a forgotten √d in turn; then, in the same "
        "folder, one submission of each kind from grading round 2 (`tests/hostile.py`: huge "
        "answers, an in-place change, zeros in place, reading the plan, odd names, a folder, "
        "a sparse 2 GiB file, a link, copies), three degenerate answers and a CPU hog.\n\n"
        + markdown_table(pd.DataFrame(rows))
        + f"\n\nHonest rows' scores identical with the hostile files beside them: "
        f"**{same} of {repeats} rounds**."
    )


def run(argv=None) -> dict:
    """Measure; return ``{"table", "sets", "text", "path"}``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.grading",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--submissions", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--hostile-only", action="store_true")
    args = parser.parse_args(argv)
    sets = grading.exercise_sets()
    built = {
        key: grading.build(master, grading.BUILD_DIR / master.stem) for key, master in sets.items()
    }
    if args.hostile_only:
        out = args.out or RESULTS / "grading_hostile.md"
        with tempfile.TemporaryDirectory() as tmp:
            measured = hostile_class(args.repeats, built, Path(tmp))
            count = sum(1 for p in (Path(tmp) / "mixed" / "hostile").rglob("*"))
        machine = machine_description(torch.device("cpu"))
        text = "\n\n".join(
            [
                "# Grading a class with hostile submissions in it",
                "\n".join(f"- {key}: {value}" for key, value in machine.items()),
                _hostile_text(measured, args.repeats, count),
            ]
        )
        out.write_text(text + "\n", encoding="utf-8")
        return {"text": text, "path": out, "measured": measured}
    args.out = args.out or RESULTS / "grading.md"
    per = {
        "otter run (reference), 1 job": [],
        "d2lmha sandbox, 1 job": [],
        "d2lmha sandbox, 2 jobs": [],
    }
    per_set = {key: [] for key in sets}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = _folder(tmp, built["01"], args.submissions)
        for _ in range(args.repeats):  # interleaved, so load changes hit all three alike
            n = args.submissions
            per["otter run (reference), 1 job"].append(_otter_run(folder, built["01"]) / n)
            per["d2lmha sandbox, 1 job"].append(_ours(folder, 1, tmp / "g1.csv") / n)
            per["d2lmha sandbox, 2 jobs"].append(_ours(folder, 2, tmp / "g2.csv") / n)
            for key, ag in built.items():
                single = tmp / f"set{key}"
                single.mkdir(exist_ok=True)
                shutil.copyfile(ag.solution_notebook, single / ag.notebook_name)
                per_set[key].append(_ours(single, 1, tmp / f"s{key}.csv"))
    reference = per["otter run (reference), 1 job"]
    rows = []
    for name, values in per.items():
        ratios = [v / r for v, r in zip(values, reference, strict=True)]
        rows.append(
            {
                "grader": name,
                **{f"s/submission {k}": v for k, v in _spread(values).items()},
                "ratio to otter run (median)": statistics.median(ratios),
            }
        )
    table = pd.DataFrame(rows)
    set_rows = [
        {"set": key, **{f"s {k}": v for k, v in _spread(values).items()}}
        for key, values in per_set.items()
    ]
    sets_table = pd.DataFrame(set_rows)
    one_each = sum(statistics.median(v) for v in per_set.values())
    two_job_gain = statistics.median(per["d2lmha sandbox, 1 job"]) / statistics.median(
        per["d2lmha sandbox, 2 jobs"]
    )
    projected_h = CLASS_SIZE * one_each / two_job_gain / 3600
    machine = machine_description(torch.device("cpu"))
    text = (
        "\n\n".join(
            [
                "# Grading throughput",
                "\n".join(f"- {key}: {value}" for key, value in machine.items()),
                f"## Set 01, {args.submissions} submissions (half solutions, half blank), "
                f"{args.repeats} repeats\n\n"
                "Seconds per submission (median, min, max over repeats); "
                "the autograder is built beforehand (cached) in every case.",
                markdown_table(table),
                "## One solution of each set, one job (seconds for the whole `grade` call)",
                markdown_table(sets_table),
                f"## Projection\n\n{CLASS_SIZE} students × {len(sets)} sets at 2 jobs: "
                f"{CLASS_SIZE} × {one_each:.1f} s / {two_job_gain:.2f} (two-job gain on set 01) = "
                f"**{projected_h:.2f} h** on this machine.",
            ]
        )
        + "\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return {
        "table": table,
        "sets": sets_table,
        "text": text,
        "path": args.out,
        "projected_hours": projected_h,
    }


main = command(run)


if __name__ == "__main__":
    raise SystemExit(main())
