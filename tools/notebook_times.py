"""Where the test suite's time goes: each notebook's kernel CPU time and wall time.

    python -m tools.notebook_times [PATH…] [--repeats N] [--solutions-repeats N] [--out FILE]

Runs every chapter of both editions (``notebooks/*.ipynb``, ``notebooks/zh/*.ipynb``) ``--repeats``
times (default 3) and the exercise sources (``solutions/*.ipynb`` and ``solutions/zh/``)
``--solutions-repeats`` times (default 1), or only the notebooks named, and writes a markdown
table of the median and min–max to ``benchmarks/results/notebook_times.md``.

Each run executes a copy of the notebook in memory with nbclient (nothing is written back),
from the notebook's folder, in a fresh kernel with ``OMP_NUM_THREADS=1`` (one torch thread, as
``make test`` runs it). Measured:

* **CPU** — user + system seconds of the kernel process and its children (those still alive
  and those already reaped), read with psutil just before the kernel is shut down: the work
  the notebook costs, which the load of other processes on the machine hardly changes;
* **wall** — seconds from the kernel's start to the last cell's end, which does change with
  load (kernel start-up is included in both, as in ``nbconvert --execute`` and nbval).

A notebook whose cell raises or runs past ``--timeout`` seconds is reported as failed, with
the cell; that run is left out of the statistics.
"""

from __future__ import annotations

from collections.abc import Callable

import argparse
import os
import platform
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "notebook_times.md"
CHAPTERS = ("notebooks", "notebooks/zh")
SOLUTIONS = ("solutions", "solutions/zh")


@dataclass
class Run:
    """One execution of one notebook: kernel CPU seconds (user + sys), wall seconds, error,
    and memory: the peak of the kernel's and its children's summed resident set size, sampled
    (``peak_rss_bytes``), and the kernel process's own high-water mark (``kernel_hwm_bytes``,
    Linux's ``VmHWM``: exact, not sampled; 0 where ``/proc`` is missing)."""

    cpu_s: float
    wall_s: float
    error: str = ""
    cells: dict[int, float] = field(default_factory=dict)  # code cell index -> its CPU seconds
    peak_rss_bytes: int = 0
    kernel_hwm_bytes: int = 0


def kernel_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its descendants, reaped or alive."""
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` plus its living descendants, in bytes (0 if gone).

    Shared pages (the Python and torch libraries) count once per process, as a per-user
    memory limit that sums resident sets would count them; a hub's cgroup counts them once."""
    try:
        proc = psutil.Process(pid)
        family = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in family:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def high_water_mark_bytes(pid: int) -> int:
    """The peak resident set size of process ``pid`` (``VmHWM`` in ``/proc/PID/status``), in
    bytes; 0 where it cannot be read (not Linux, process gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) * 1024 if match else 0


class PeakSampler:
    """Samples :func:`tree_rss_bytes` of ``pid`` every ``interval_s`` seconds in a thread and
    keeps the largest (``peak``): use as a context manager around the run."""

    def __init__(self, pid: int, interval_s: float = 0.05):
        self.pid, self.interval_s, self.peak = pid, interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_bytes(self.pid))


def run_once(path: Path, timeout: int = 600) -> Run:
    """Execute ``path`` (an in-memory copy) in a fresh kernel; measure it before shut-down."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    with client.setup_kernel():
        pid = client.km.provisioner.pid
        cells, before = {}, kernel_cpu_seconds(pid)
        with PeakSampler(pid) as memory:
            try:
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
                    if cell.cell_type == "code":
                        now = kernel_cpu_seconds(pid)
                        cells[index], before = now - before, now
                error = ""
            except Exception as exc:  # a failing or timed-out cell: reported, not raised
                error = f"cell {index}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        wall = time.perf_counter() - start
        cpu = kernel_cpu_seconds(pid)
        hwm = high_water_mark_bytes(pid)
    return Run(cpu, wall, error, cells, memory.peak, hwm)


def notebooks(paths: list[str]) -> list[Path]:
    """The notebooks named, or every chapter and solution of both editions."""
    if paths:
        return [Path(p).resolve() for p in paths]
    return [p for folder in CHAPTERS + SOLUTIONS for p in sorted((ROOT / folder).glob("*.ipynb"))]


def shown(path: Path) -> str:
    """``path`` relative to the repository where it lies inside it, else as given."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def repeats_for(path: Path, chapters: int, solutions: int) -> int:
    """How many runs a notebook gets: chapters ``chapters``, exercise sources ``solutions``."""
    return solutions if "solutions" in shown(path).split("/") else chapters


def costliest(run: Run, count: int) -> str:
    """The ``count`` code cells that took the most kernel CPU: ``[index] seconds``."""
    top = sorted(run.cells.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"[{index}] {seconds:.1f}" for index, seconds in top)


def spread(values: list[float]) -> str:
    """``median (min–max)`` to one decimal, or ``-`` when there is nothing to summarise."""
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def markdown_table(results: dict[Path, list[Run]], columns: list[tuple[str, Callable]]) -> str:
    """Markdown table, one row per notebook: its path, then for each ``(header, value)`` of
    ``columns`` the text ``value(runs)`` gives for the runs that did not fail, then how many
    runs counted and why the others failed."""
    rows = [
        "| notebook | " + " | ".join(name for name, _ in columns) + " | runs | failed |",
        "| --- " * (len(columns) + 3) + "|",
    ]
    for path, runs in results.items():
        ok = [r for r in runs if not r.error]
        failed = "; ".join(r.error for r in runs if r.error) or "0"
        cells = " | ".join(value(ok) for _, value in columns)
        rows.append(f"| {shown(path)} | {cells} | {len(ok)} | {failed} |")
    return "\n".join(rows)


def table(results: dict[Path, list[Run]]) -> str:
    """Markdown table: one row per notebook, CPU and wall as median (min–max), runs, failures."""
    return markdown_table(
        results,
        [
            ("kernel CPU s, median (min–max)", lambda ok: spread([r.cpu_s for r in ok])),
            ("wall s, median (min–max)", lambda ok: spread([r.wall_s for r in ok])),
        ],
    )


def write_report(out: Path, text: str) -> None:
    """Write a results file (its folder made if missing) and show it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)


def header() -> str:
    """What was measured, on what: date, CPU count, load, Python and torch versions."""
    import torch

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"# Notebook run times (`python -m tools.notebook_times`)\n\n"
        f"- {date.today()}; {os.cpu_count()} logical CPUs; Python {platform.python_version()}, "
        f"torch {torch.__version__}; OMP_NUM_THREADS=1; load average at the end {load}.\n"
        f"- Kernel CPU = user + sys of the kernel process and its children, kernel start "
        f"included; wall = kernel start to last cell's end. Failed runs are not counted.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks (default: chapters and solutions)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per chapter")
    parser.add_argument("--solutions-repeats", type=int, default=1, help="runs per solution")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cells", type=int, default=0, help="print the N costliest cells")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    paths = notebooks(args.paths)
    results: dict[Path, list[Run]] = {p: [] for p in paths}
    # Rounds over all notebooks (not one notebook's runs back to back), so a burst of load
    # on the machine spreads over notebooks instead of landing on one.
    for round_ in range(max(args.repeats, args.solutions_repeats)):
        for path in paths:
            if round_ < repeats_for(path, args.repeats, args.solutions_repeats):
                run = run_once(path, args.timeout)
                results[path].append(run)
                print(
                    f"{shown(path)}: cpu {run.cpu_s:.1f} s, wall {run.wall_s:.1f} s"
                    + (f" FAILED {run.error}" if run.error else ""),
                    flush=True,
                )
                if args.cells:
                    print("  costliest cells:", costliest(run, args.cells), flush=True)
    write_report(args.out, header() + "\n" + table(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
