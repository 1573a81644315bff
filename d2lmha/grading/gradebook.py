"""From one row per file to one row per student and set: the gradebook an LMS imports.

For each student (the roster's, in its order; without a roster, every student a file was
matched to, sorted) and each set that any file was graded against: the points per question,
``total``, ``possible``, ``percent`` and ``status``: ``graded``, ``missing`` (no file of that
student for that set), or ``several submissions: latest taken`` (the latest by
:func:`~.lms.latest_first`; the others stay in ``scores.csv``). A missing set has empty
points, so an LMS's own rule for missing work applies.

Two forms are written: ``gradebook.csv`` (every set, one row per student and set) and, per
set, ``import-NN_name.csv``: one row per student, the roster's own columns but ``match``
(and but ``student_id`` when the roster has one of Canvas's id columns ``ID``, ``SIS User
ID``, ``SIS Login ID``: copy Canvas's ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
``Section`` into the roster and the file has exactly Canvas's columns) followed by one
column named after the set holding the total. Both LMSs' steps are
in ``docs/instructors.md``.

Source: Canvas "How do I import grades in the Gradebook?" and MoodleDocs "Grade import"
(CSV: the user is identified by a column mapped to e-mail, ID number or username).
"""

from __future__ import annotations

import re

from .lms import latest_first

__all__ = ["SEVERAL", "gradebook", "import_table"]

SEVERAL = "several submissions: latest taken"
CANVAS_IDS = ("ID", "SIS User ID", "SIS Login ID")  # the columns Canvas finds students by


def _question_order(name: str):
    match = re.fullmatch(r"q(\d+)", name)
    return (0, int(match.group(1)), "") if match else (1, 0, name)


def gradebook(rows: list[dict], roster: list[dict] | None, infos: dict) -> tuple[list, dict]:
    """The gradebook's rows, and which file each student's set was taken from.

    Args:
        rows: every file's row, each with ``student_id`` (possibly "") and, when graded or
            identified, ``set``; and the private ``_mtime`` and ``_lms_submission``.
        roster: from :func:`~.lms.read_roster`, or None.
        infos: ``{set id: set_info}`` (:func:`~.feedback.set_info`) of every set met.

    Returns:
        ``(book, chosen)``: ``book`` is a list of dicts with ``student_id, set, q1.., total,
        possible, percent, status, submission``; ``chosen`` maps ``(student, set)`` to the
        row taken and its status.
    """
    if roster is not None:
        students = list(dict.fromkeys(r["student_id"] for r in roster))
    else:
        students = sorted({r["student_id"] for r in rows if r.get("student_id")})
    sets = sorted(infos)
    questions = sorted({q for s in sets for q in infos[s]["possible"]}, key=_question_order)
    candidates: dict[tuple, list] = {}
    for row in rows:
        if row.get("student_id") and row.get("set") in infos and row["status"] != "skipped":
            candidates.setdefault((row["student_id"], row["set"]), []).append(row)
    book, chosen = [], {}
    for student in students:
        for set_id in sets:
            possible = sum(infos[set_id]["possible"].values())
            entry = {"student_id": student, "set": infos[set_id]["name"]}
            found = candidates.get((student, set_id), [])
            if not found:
                entry.update({q: "" for q in questions})
                entry.update(total="", possible=possible, percent="", status="missing")
                entry["submission"] = ""
                book.append(entry)
                continue
            row = latest_first(found)[0]
            status = SEVERAL if len(found) > 1 else "graded"
            chosen[(student, set_id)] = (row, status)
            for q in questions:
                value = row.get(f"{set_id}/{q}", "")
                entry[q] = "" if q not in infos[set_id]["possible"] else float(value or 0)
            total = float(row.get("score") or 0)
            entry.update(total=total, possible=possible)
            entry.update(percent=round(100 * total / possible, 1) if possible else 0.0)
            entry.update(status=status, submission=row["submission"])
            book.append(entry)
    return book, chosen


def import_table(book: list[dict], roster: list[dict] | None, set_name: str) -> list[dict]:
    """The rows of ``import-<set_name>.csv`` (see the top): one per student."""
    by_student = {e["student_id"]: e for e in book if e["set"] == set_name}
    people = {}
    for row in roster or []:
        people.setdefault(row["student_id"], row)
    table = []
    canvas = bool(roster) and any(c in roster[0] for c in CANVAS_IDS)
    for student, entry in by_student.items():
        person = people.get(student, {"student_id": student})
        dropped = ("match", "student_id") if canvas else ("match",)
        line = {k: v for k, v in person.items() if k not in dropped}
        table.append({**line, set_name: entry["total"]})
    return table
