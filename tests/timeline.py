"""Where a test run's time goes, per xdist worker (issue 21): with ``D2LMHA_TIMELINE=DIR``,
one JSON line per test phase (setup, call, teardown) goes to ``DIR/<worker>.jsonl``,
the worker that ran it: the test's id, the phase, its start and its duration in seconds
(wall clock). ``python -m tools.timeline DIR`` sums them per worker and per file.
Nothing is written when the variable is unset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_OUT = os.environ.get("D2LMHA_TIMELINE")


def pytest_runtest_logreport(report):
    # Written by the process that sees every report once: xdist's controller (which names
    # the worker a report came from) or a run without xdist, never by the workers too.
    if not _OUT or "PYTEST_XDIST_WORKER" in os.environ:
        return
    node = getattr(report, "node", None)
    worker = node.gateway.id if node is not None else "main"
    path = Path(_OUT) / f"{worker}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"id": report.nodeid, "when": report.when, "start": report.start}
    row["seconds"] = report.duration
    with open(path, "a") as out:
        out.write(json.dumps(row) + "\n")
