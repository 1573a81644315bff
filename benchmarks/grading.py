"""``python -m benchmarks.grading [--submissions N] [--repeats R] [--out PATH]``.

Throughput of ``make grade``: seconds per submission of the sandboxed grader with one and
two jobs, against the reference run in the same process: ``otter run`` (no Docker, no
sandbox; what the course graded with before) on the same submissions, one at a time. Also
the time of each set's solution alone (one job), from which the table projects a class of
300 students × every set. Each figure is the median over ``R`` repeats, with the range.
Writes ``benchmarks/results/grading.md``.
"""

from __future__ import annotations

import argparse
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


def run(argv=None) -> dict:
    """Measure; return ``{"table", "sets", "text", "path"}``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.grading",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--submissions", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "grading.md")
    args = parser.parse_args(argv)
    sets = grading.exercise_sets()
    built = {
        key: grading.build(master, grading.BUILD_DIR / master.stem) for key, master in sets.items()
    }
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
