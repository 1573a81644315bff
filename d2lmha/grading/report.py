"""The files a grading writes from its rows: scores, gradebook, feedback, and what merge reads.

One function, :func:`finish`, writes them all, so a run and the merge of its shards write the
same files from the same rows (:mod:`.shard`). Under the folder of ``out``
(``grading_output/<name>/`` by default):

* ``scores.csv``: one row per file (see :func:`~.grade.grade`), with ``student_id``;
* ``gradebook.csv`` and ``import-NN_name.csv`` per set (:mod:`.gradebook`);
* ``feedback/<student>/<NN_name>.html`` (:mod:`.feedback`), for each student and set with a
  submission (the one the gradebook took);
* ``scores.full.jsonl`` (every row with the fields the CSV does not show: test failures,
  the sandbox's notes, the edition, hashes) and ``scores.run.json`` (the shard, the roster
  and each set's trusted description): what ``merge`` joins.

Each file is written whole, then renamed into place.

Source: OWASP "CSV Injection" (cells a spreadsheet would run as formulas are quoted).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from .feedback import render
from .gradebook import gradebook, import_table
from .lms import student_of

__all__ = ["finish", "write_csv", "safe_name", "FIXED_COLUMNS", "TRAILING_COLUMNS"]

FIXED_COLUMNS = ["submission", "student_id", "status", "score", "possible", "set"]
TRAILING_COLUMNS = ["warning", "error", "reported", "failed", "log"]
SHOWN_COPIES = 3


def display(key: str) -> str:
    """A file name as text that any CSV takes (undecodable bytes as ``\\xNN``)."""
    return os.fsencode(key).decode("utf-8", "backslashreplace")


def spreadsheet_safe(value):
    """Text that a spreadsheet would read as a formula (``=...``) is quoted (OWASP CSV
    injection); everything else is left as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def safe_name(text: str) -> str:
    """A file or folder name for ``text`` (a student id): itself when it is made of letters,
    digits and ``._@+-`` and does not start with a dot, else its readable part and a hash."""
    if re.fullmatch(r"[\w@+-][\w.@+-]{0,79}", text, re.ASCII):
        return text
    readable = re.sub(r"[^\w.@+-]+", "_", text, flags=re.ASCII)[:40].lstrip(".")
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{readable}-{digest}"


def _replace(path: Path, write) -> None:
    """Call ``write(partial path)``, then rename the partial file over ``path``."""
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)


def write_csv(rows: list[dict], out: Path, fixed=FIXED_COLUMNS, trailing=TRAILING_COLUMNS):
    """``rows`` as one CSV at ``out``, written whole: the ``fixed`` columns, any others
    (sorted, e.g. one per question), then ``trailing``; private keys (``_...``) left out."""
    import pandas as pd

    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    table = pd.DataFrame(rows, columns=None if rows else fixed)
    middle = sorted(c for c in table.columns if c not in fixed + trailing)
    for column in fixed + trailing:
        if column not in table.columns:
            table[column] = ""
    if "submission" in table.columns:
        table["submission"] = table["submission"].map(display)
    table = table[fixed + middle + trailing].map(spreadsheet_safe)
    _replace(Path(out), lambda partial: table.to_csv(partial, index=False))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _copies(rows: list[dict]) -> dict:
    """``{key: "identical to ..."}`` for every file identical to another one of ``rows``."""
    by_hash: dict[str, list[str]] = {}
    for row in rows:
        if row.get("_sha256"):
            by_hash.setdefault(row["_sha256"], []).append(row["submission"])
    notes = {}
    for keys in by_hash.values():
        for key in keys:
            others = [k for k in keys if k != key]
            if others:
                shown = ", ".join(display(k) for k in others[:SHOWN_COPIES])
                extra = " and more" if len(others) > SHOWN_COPIES else ""
                notes[key] = f"identical to {shown}{extra}"
    return notes


def finish(
    rows: list[dict],
    out: Path,
    roster: list[dict] | None,
    infos: dict,
    shard: tuple[int, int] = (0, 1),
) -> list[str]:
    """Write every file of a grading (see the top) from ``rows``; return the unmatched files.

    Args:
        rows: one per file, in the order of the CSV (sorted by path), as :func:`~.grade.grade`
            makes them (with their private ``_...`` fields).
        out: the ``scores.csv`` path; the rest goes beside it.
        roster: from :func:`~.lms.read_roster`, or None (students derived from paths).
        infos: ``{set id: set_info}`` of the sets graded.
        shard: ``(index, count)`` of this run, recorded for ``merge``.

    Returns:
        The paths of the notebooks that match no student (their rows say so too).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [dict(row) for row in rows]
    copies = _copies(rows)
    unmatched = []
    for row in rows:
        student, why = student_of(row["submission"], roster)
        row["student_id"] = student
        notebook = row["submission"].casefold().endswith(".ipynb")
        if notebook and not student:
            unmatched.append(row["submission"])
        own = row.setdefault("_own_warning", row.get("warning", ""))  # kept for merge
        row["warning"] = _join(own, copies.get(row["submission"], ""), why if notebook else "")
    write_csv(rows, out)

    def jsonl(partial):
        with open(partial, "w", encoding="utf-8") as file:
            for row in rows:
                file.write(json.dumps(row, ensure_ascii=False) + "\n")

    _replace(out.with_suffix(".full.jsonl"), jsonl)
    run = {"shard": list(shard), "roster": roster, "sets": infos}
    _replace(out.with_suffix(".run.json"), lambda p: p.write_text(json.dumps(run, indent=1)))
    book, chosen = gradebook(rows, roster, infos)
    columns = ["student_id", "set"]
    trailing = ["total", "possible", "percent", "status", "submission"]
    write_csv(book, out.parent / "gradebook.csv", columns, trailing)
    for _, info in sorted(infos.items()):
        table = import_table(book, roster, info["name"])
        first = [c for c in (table[0] if table else {"student_id": ""}) if c != info["name"]]
        write_csv(table, out.parent / f"import-{info['name']}.csv", first, [info["name"]])
    _write_feedback(out.parent / "feedback", chosen, infos)
    return unmatched


def _write_feedback(folder: Path, chosen: dict, infos: dict) -> None:
    """``folder/<student>/<NN_name>.html`` for each chosen row, replacing the folder whole."""
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for (student, set_id), (row, status) in sorted(chosen.items()):
        page = render(row, infos[set_id], student, status)
        (partial / safe_name(student)).mkdir(exist_ok=True)
        (partial / safe_name(student) / f"{infos[set_id]['name']}.html").write_text(
            page, encoding="utf-8"
        )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
