"""``python -m benchmarks.runner_start [--repeats R] [--out PATH]``.

What the sandbox runner saves by importing torch, the package and the set's own imports with
the garbage collector paused (:func:`d2lmha.grading.runner.start`, issue 21). Each measurement
is a fresh Python that does what the runner does before and while it runs a blank student
notebook, in the sandbox's environment (one torch thread, a scratch home, matplotlib's folder
holding the grader's font list): load ``runner.py`` from its file, start (its imports, the
set's plan, the modules the set's notebook imports), run the notebook's code cells in an
IPython shell. Its CPU time (user + system) is compared with the reference run in the same
process: the same child with the collector running during the start. The two alternate, ``R``
rounds; the ratio is taken per round. Outside the sandbox: bubblewrap and the grader's side
add the same to both. Writes ``benchmarks/results/runner_start.md``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

from d2lmha import grading
from d2lmha.grading.sandbox import _font_list

from .report import command, machine_description, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
RUNNER = Path(grading.__file__).with_name("runner.py")
NOTEBOOKS = ("01_single_head.ipynb", "06_transformer.ipynb")
MODES = ("collector running (reference)", "collector paused")
CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
plan, _ = runner.start(sys.argv[2], paused=sys.argv[3] == "paused")
namespace, errors = runner.execute_cells(sys.argv[4])
assert not errors, errors
"""


def _cpu_seconds(notebook: Path, plan: Path, paused: bool) -> float:
    """CPU seconds of one child that starts as the runner does (``runner.start``: its
    imports, the plan, the set's imports) and runs ``notebook``'s cells."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as work:  # the sandbox's working folder is a scratch /tmp
        # As in the sandbox: matplotlib's folder of its own, holding the grader's font list.
        matplotlib_dir = Path(work) / "matplotlib"
        matplotlib_dir.mkdir()
        if (font_list := _font_list()) is not None:
            shutil.copy(font_list, matplotlib_dir / font_list.name)
        subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(RUNNER),
                str(plan),
                "paused" if paused else "running",
                str(notebook),
            ],
            cwd=work,
            check=True,
            env={
                "PATH": "/usr/bin:/bin",
                "MPLBACKEND": "Agg",
                "OMP_NUM_THREADS": "1",
                "PYTHONPATH": str(grading.ROOT),
                "HOME": work,
                "MPLCONFIGDIR": str(matplotlib_dir),
            },
            capture_output=True,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def measure(repeats: int) -> pd.DataFrame:
    """Per notebook and mode: CPU seconds (median, min, max) and the per-round ratio."""
    rows = []
    sets = grading.exercise_sets()
    for name in NOTEBOOKS:
        notebook = grading.ROOT / "exercises" / name
        master = sets[name[:2]]
        plan = grading.build(master, grading.BUILD_DIR / master.stem).plan
        _cpu_seconds(notebook, plan, False)  # warm the page cache, untimed
        seconds = {mode: [] for mode in MODES}
        for _ in range(repeats):
            for mode in MODES:
                seconds[mode].append(_cpu_seconds(notebook, plan, mode == MODES[1]))
        ratios = [p / r for r, p in zip(*seconds.values(), strict=True)]
        spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
        for mode, values in seconds.items():
            rows.append(
                {
                    "blank notebook": f"exercises/{name}",
                    "imports": mode,
                    "CPU s, median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "ratio to reference, median (min–max)": "1.00" if mode == MODES[0] else spread,
                }
            )
    return pd.DataFrame(rows)


def run(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds per notebook")
    parser.add_argument("--out", type=Path, default=RESULTS / "runner_start.md")
    args = parser.parse_args(argv)
    machine = machine_description(torch.device("cpu"))
    table = measure(args.repeats)
    text = "\n".join(
        [
            "# The sandbox runner's start: imports with the garbage collector paused",
            "",
            *[f"- {key}: {value}" for key, value in machine.items()],
            f"- command: `python -m benchmarks.runner_start --repeats {args.repeats}`",
            "",
            f"CPU seconds of a fresh Python that imports what the runner imports and runs a blank "
            f"student notebook's cells, {args.repeats} rounds, the two modes alternating:",
            "",
            markdown_table(table.round(2)),
            "",
        ]
    )
    args.out.write_text(text)
    return {"text": text, "path": args.out, "table": table}


main = command(run)

if __name__ == "__main__":
    sys.exit(main())
