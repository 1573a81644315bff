"""Grade a class on several machines: shards that a batch engine runs, and their merge.

``grade --shard i/n`` (``0 <= i < n``) grades the files whose path hashes to ``i``: the
first 8 bytes of the path's SHA-256 as a number, modulo ``n``. Which shard a file is in
depends only on its path under the submissions folder, never on the order files are found
or on the other files, so every machine can list the same export and take its part (a
Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX``, a Slurm array's ``SLURM_ARRAY_TASK_ID``,
both counted from 0). ``merge`` joins the shards' rows (``scores.full.jsonl``) and logs, and
writes the same files one run writes (:func:`~.report.finish`): the students' latest
submissions and the identical copies are decided over the whole class, not per shard.

Source: ``docs/instructors.md`` (the Job and array recipes).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from .report import finish

__all__ = ["parse_shard", "in_shard", "merge"]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` as ``(i, n)``.

    Raises:
        ValueError: not two integers ``i/n`` with ``0 <= i < n``.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise ValueError(f"shard={text!r} must be i/n with 0 <= i < n, e.g. 0/3")
    return int(match.group(1)), int(match.group(2))


def in_shard(key: str, shard: tuple[int, int]) -> bool:
    """Is the file at path ``key`` in shard ``(i, n)``? (See the top.)"""
    index, count = shard
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count == index


def merge(out: Path, shards: list[Path]) -> tuple[Path, list[str]]:
    """Join shard outputs into one grading's files under ``out``.

    Args:
        out: the folder to write (``scores.csv``, ``gradebook.csv``, ``feedback/``,
            ``scores.logs/``...).
        shards: each shard's output folder (where its ``scores.csv`` is).

    Returns:
        ``(scores.csv path, unmatched files)``.

    Raises:
        ValueError: a folder is not a shard's output, the shards disagree (count, roster,
            sets' descriptions), or a shard is missing or given twice.
    """
    out = Path(out)
    runs, rows = [], []
    for folder in map(Path, shards):
        run_file = folder / "scores.run.json"
        if not run_file.is_file() or not (folder / "scores.full.jsonl").is_file():
            raise ValueError(f"shards: {str(folder)!r} holds no grading (scores.run.json)")
        runs.append(json.loads(run_file.read_text(encoding="utf-8")))
        with open(folder / "scores.full.jsonl", encoding="utf-8") as file:
            rows.extend(json.loads(line) for line in file if line.strip())
    counts = {run["shard"][1] for run in runs}
    if len(counts) != 1:
        raise ValueError(f"shards: they were cut {sorted(counts)} ways; give one grading's")
    count = counts.pop()
    indices = sorted(run["shard"][0] for run in runs)
    if indices != list(range(count)):
        raise ValueError(f"shards: need each of 0..{count - 1} once, got {indices}")
    if any(run["roster"] != runs[0]["roster"] for run in runs):
        raise ValueError("shards: they were graded with different rosters")
    infos = {}
    for run in runs:
        for set_id, info in run["sets"].items():
            if infos.setdefault(set_id, info) != info:
                raise ValueError(f"shards: set {set_id} was built differently in two shards")
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "scores.logs"
    logs.mkdir(exist_ok=True)
    for folder in map(Path, shards):
        for log in sorted((folder / "scores.logs").glob("*")):
            if log.is_file() and not log.is_symlink():
                shutil.copyfile(log, logs / log.name)
    rows.sort(key=lambda row: row["submission"])  # students, copies: decided again, whole
    unmatched = finish(rows, out / "scores.csv", runs[0]["roster"], infos, (0, 1))
    return out / "scores.csv", unmatched
