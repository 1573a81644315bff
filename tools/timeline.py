"""Sum a test run's timeline (``D2LMHA_TIMELINE=DIR make test``; see ``tests/timeline.py``):
per xdist worker, its busy seconds and first/last timestamps; per file (a test module or a
notebook), its seconds and worker, longest first.

Usage: ``python -m tools.timeline DIR [--top N]``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def load(folder: Path) -> list[dict]:
    """Every recorded phase, with its worker's name added."""
    rows = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            rows.append({**json.loads(line), "worker": path.stem})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    rows = load(args.folder)
    if not rows:
        raise SystemExit(f"no timeline in {args.folder}")
    start = min(r["start"] for r in rows)
    print("| worker | busy s | first start s | last end s |\n| --- | --- | --- | --- |")
    for worker in sorted({r["worker"] for r in rows}):
        mine = [r for r in rows if r["worker"] == worker]
        busy = sum(r["seconds"] for r in mine)
        first = min(r["start"] for r in mine) - start
        last = max(r["start"] + r["seconds"] for r in mine) - start
        print(f"| {worker} | {busy:.0f} | {first:.0f} | {last:.0f} |")
    files = defaultdict(float)
    where = {}
    for r in rows:
        name = r["id"].split("::")[0]
        files[name] += r["seconds"]
        where[name] = r["worker"]
    print("\n| file | s | worker |\n| --- | --- | --- |")
    for name, seconds in sorted(files.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {name} | {seconds:.1f} | {where[name]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
