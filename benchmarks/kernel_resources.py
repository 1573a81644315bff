"""What one learner's kernel costs a hub: each chapter's peak memory and CPU time.

    python -m benchmarks.kernel_resources [PATH…] [--repeats N] [--out FILE]

Runs every chapter of both editions (``notebooks/*.ipynb``, ``notebooks/zh/*.ipynb``) and the
English exercise sets with their answers filled in (``solutions/*.ipynb``: what a learner's
kernel holds once the set is done) ``--repeats`` times (default 1), each in a fresh kernel with
``OMP_NUM_THREADS=1``, as :func:`tools.notebook_times.run_once` runs them, and writes
``benchmarks/results/kernel_resources.md``:

* **peak** — the larger of the resident set size of the kernel and its children together,
  sampled every 50 ms (:class:`tools.notebook_times.PeakSampler`), and the kernel's own
  high-water mark (``VmHWM``, exact); what a per-user memory limit on a hub has to hold;
* **CPU** — user + system seconds of the kernel and its children for the whole notebook;
* **wall** — kernel start to the last cell's end (depends on the machine's load).

A learner's kernel that has run a chapter stays at about its peak until it is shut down
(PyTorch and Python keep freed memory), so the per-user limit comes from the largest peak.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from datetime import date
from pathlib import Path

from tools.notebook_times import ROOT, Run, markdown_table, run_once, shown, write_report

OUT = ROOT / "benchmarks" / "results" / "kernel_resources.md"
FOLDERS = ("notebooks", "notebooks/zh", "solutions")
MIB = 2**20


def default_notebooks() -> list[Path]:
    """Chapters of both editions, then the English exercise sets (solutions)."""
    return [p for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.ipynb"))]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def peak_bytes(run: Run) -> int:
    """A run's peak memory: the larger of the sampled kernel + children peak (which a short
    spike between two samples escapes) and the kernel's exact high-water mark."""
    return max(run.peak_rss_bytes, run.kernel_hwm_bytes)


def table(results: dict[Path, list[Run]]) -> str:
    """Markdown table: one row per notebook; medians over the runs that did not fail."""

    def median(value, digits=0):
        return lambda ok: f"{_median([value(r) for r in ok]):.{digits}f}"

    return markdown_table(
        results,
        [
            ("peak, MiB", median(lambda r: peak_bytes(r) / MIB)),
            ("sampled RSS, kernel + children, MiB", median(lambda r: r.peak_rss_bytes / MIB)),
            ("kernel VmHWM, MiB", median(lambda r: r.kernel_hwm_bytes / MIB)),
            ("kernel CPU, s", median(lambda r: r.cpu_s, 1)),
            ("wall, s", median(lambda r: r.wall_s, 1)),
        ],
    )


def summary(results: dict[Path, list[Run]]) -> str:
    """The largest peak and the mean CPU share of one kernel, as a hub sizes them."""
    ok = [(path, r) for path, runs in results.items() for r in runs if not r.error]
    if not ok:
        return "No run finished.\n"
    path, top = max(ok, key=lambda item: peak_bytes(item[1]))
    return (
        f"Largest peak: {peak_bytes(top) / MIB:.0f} MiB ({shown(path)}). "
        f"Kernel CPU over wall time, whole notebook, median over notebooks: "
        f"{_median([r.cpu_s / r.wall_s for _, r in ok]):.2f} of one core.\n"
    )


def header(load_before: tuple[float, float, float]) -> str:
    """What was measured, on what: date, CPUs, load before and after, versions."""
    import torch

    def fmt(load):
        return ", ".join(f"{x:.1f}" for x in load)

    return (
        "# Kernel peak memory and CPU per notebook (`python -m benchmarks.kernel_resources`)\n\n"
        f"- {date.today()}; {os.cpu_count()} logical CPUs shared with other work; "
        f"Python {platform.python_version()}, torch {torch.__version__}; OMP_NUM_THREADS=1.\n"
        f"- Load average (1, 5, 15 min) before: {fmt(load_before)}; after: "
        f"{fmt(os.getloadavg())}.\n"
        "- Peak: the larger of the resident set size of the kernel and its children, sampled "
        "every 50 ms, and the kernel process's own high-water mark (VmHWM, exact; a spike "
        "between two samples escapes the sampled one). CPU: user + sys of the kernel and its "
        "children, kernel start included. Failed runs are not counted.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: see above)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per notebook")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    paths = [p.resolve() for p in args.paths] or default_notebooks()
    load_before = os.getloadavg()
    results: dict[Path, list[Run]] = {p: [] for p in paths}
    for _ in range(args.repeats):
        for path in paths:
            run = run_once(path, args.timeout)
            results[path].append(run)
            print(
                f"{shown(path)}: peak {run.peak_rss_bytes / MIB:.0f} MiB, "
                f"cpu {run.cpu_s:.1f} s, wall {run.wall_s:.1f} s"
                + (f" FAILED {run.error}" if run.error else ""),
                flush=True,
            )
    write_report(args.out, header(load_before) + "\n" + table(results) + "\n\n" + summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
