"""What an LMS exports: a folder or a ``.zip``, its file names, and whose work each file is.

**Archives.** A ``.zip`` (Moodle's "Download all submissions", Canvas's "Download
Submissions") is read in place with :mod:`zipfile` and never extracted, so nothing it holds
can be written anywhere. It is still bounded as if it were: every member gets one
:class:`~.collect.Found`, and a member is not read (its row says why) when its name is
absolute, holds ``..`` or a drive, is a link, repeats an earlier name, or when the member is
over the per-file cap or would take the archive past :data:`MAX_ARCHIVE_BYTES` uncompressed
(the sizes the archive claims are not trusted: at most the cap is ever decompressed). An
archive of more than :data:`~.collect.MAX_FILES` members is refused whole (a zip bomb of
names). Names are decoded as the archive says (UTF-8 flag, else cp437), normalised to NFC,
and control characters become ``?``.

**Names.** Canvas names a file ``name_userid_submissionid_original.ipynb`` (``name_LATE_...``
when late); Moodle puts each student's files in a folder ``Full Name_participantid_
assignsubmission_file_``. :func:`lms_name` reads both.

**Whose is it.** With a roster (:func:`read_roster`: columns ``student_id`` and ``match``),
a file belongs to the student whose ``match`` occurs in its path as a whole word (not
inside a longer run of letters or digits; case and Unicode normalisation ignored). Where
several students' strings occur, the longest wins (``Ann Lee`` beats ``Ann``); two
different students with equally long matches leave the file unmatched, with a warning.
Without a roster the student is derived: Canvas's user id, Moodle's participant id, else
the first folder of the path; a file at the top of a plain folder has none. An unmatched
file keeps its row (empty ``student_id``) and is listed in a warning, never dropped.

Source: the zip format (PKWARE APPNOTE) as :mod:`zipfile` reads it; the export layouts in
``docs/instructors.md``.
"""

from __future__ import annotations

import calendar
import csv
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .collect import MAX_FILES, NOT_A_NOTEBOOK, Found, collect, read_capped, too_large

__all__ = [
    "MAX_ARCHIVE_BYTES",
    "LmsName",
    "collect_submissions",
    "collect_zip",
    "lms_name",
    "read_roster",
    "student_of",
    "latest_first",
]

MAX_ARCHIVE_BYTES = 4 << 30  # uncompressed bytes read from one archive, all members together
CANVAS = re.compile(
    r"^(?P<name>[^_/]+?)(?P<late>_late)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$",
    re.IGNORECASE,
)
MOODLE = re.compile(r"^(?P<name>.+)_(?P<participant>\d+)_assign[a-z]+_[a-z]+_?$", re.IGNORECASE)


def collect_submissions(path: Path, max_bytes: int) -> list[Found]:
    """Everything handed in under ``path``: a folder (:func:`~.collect.collect`) or a
    ``.zip`` (:func:`collect_zip`), one :class:`~.collect.Found` per file, sorted by key.

    Raises:
        ValueError: ``path`` is neither a folder nor a ``.zip`` file, or is not a zip
            archive, or holds too many files.
    """
    path = Path(path)
    if path.is_file() and not path.is_symlink() and path.suffix.casefold() == ".zip":
        return collect_zip(path, max_bytes)
    if path.is_dir() and not path.is_symlink():
        return collect(path, max_bytes)
    raise ValueError(f"folder={str(path)!r} must be an existing folder of submissions or a .zip")


def _clean_name(name: str) -> str:
    """A member name as text: NFC, ``\\`` as ``/``, control characters as ``?``."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    return "".join("?" if unicodedata.category(c) == "Cc" else c for c in name)


def _unsafe(name: str) -> str:
    """Why a member name would land outside the folder it is unpacked into ("" if it would not)."""
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in parts:
        return "a path with '..'"
    return ""


def collect_zip(path: Path, max_bytes: int, max_total: int = MAX_ARCHIVE_BYTES) -> list[Found]:
    """Every member of the zip archive ``path`` as a :class:`~.collect.Found` (see the top).

    Args:
        path: the archive (read, never extracted).
        max_bytes: a notebook over this many bytes is not read (``too large``).
        max_total: uncompressed bytes read from the whole archive at most; members after
            that get a row saying so.

    Raises:
        ValueError: not a zip archive, or more than :data:`~.collect.MAX_FILES` members.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"submissions={str(path)!r} is not a readable zip archive: {error}"
        ) from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_FILES:
            raise ValueError(f"submissions={str(path)!r} holds more than {MAX_FILES} files")
        found, seen, total = [], set(), 0
        for member in members:
            key = _clean_name(member.filename).rstrip("/")
            if member.is_dir() or not key:
                continue
            mtime = _zip_time(member)
            why = _unsafe(key)
            if why:
                found.append(Found(key, None, f"not read: {why}", mtime))
                continue
            key = PurePosixPath(key).as_posix()
            if key in seen:
                found.append(Found(f"{key} (again)", None, "not read: a name repeated", mtime))
                continue
            seen.add(key)
            item, size = _member(archive, member, key, mtime, max_bytes, max_total - total)
            total += size
            found.append(item)
    return sorted(found, key=lambda f: f.key)


def _member(archive, member, key, mtime, max_bytes, room) -> tuple[Found, int]:
    """One member as a :class:`Found`, and the uncompressed bytes read for it."""
    if stat.S_ISLNK(member.external_attr >> 16):
        return Found(key, None, "a link: not followed", mtime), 0
    if not key.casefold().endswith(".ipynb"):
        return Found(key, None, NOT_A_NOTEBOOK, mtime), 0
    if member.file_size > max_bytes:
        return Found(key, None, too_large(max_bytes), mtime), 0
    cap = min(max_bytes, room)
    try:
        with archive.open(member) as file:
            data = read_capped(file, cap)
    except (zipfile.BadZipFile, RuntimeError, OSError, ValueError, EOFError) as error:
        return Found(key, None, f"unreadable: {type(error).__name__}", mtime), 0
    except Exception as error:  # noqa: BLE001 - a corrupt stream: zlib.error, lzma errors
        return Found(key, None, f"unreadable: {type(error).__name__}", mtime), 0
    if data is None:
        full = cap == max_bytes
        why = too_large(max_bytes) if full else "not read: the archive's total size cap is reached"
        return Found(key, None, why, mtime), cap
    return Found(key, data, "", mtime), len(data)


def _zip_time(member: zipfile.ZipInfo) -> float:
    """A member's date as seconds since the epoch (UTC; 0.0 when the date is invalid)."""
    try:
        return float(calendar.timegm((*member.date_time, 0, 0, 0)))
    except (OverflowError, ValueError):
        return 0.0


@dataclass(frozen=True)
class LmsName:
    """What an LMS put in a submission's path.

    Attributes:
        user: Canvas's user id or Moodle's participant id ("" when the path has neither).
        submission: Canvas's submission (attachment) id, which grows with each upload; -1
            when the path has none.
        late: Canvas marked it late.
    """

    user: str = ""
    submission: int = -1
    late: bool = False


def lms_name(key: str) -> LmsName:
    """The LMS fields in the path ``key`` (see :class:`LmsName`): the file name is tried as
    Canvas's, then each folder as Moodle's."""
    parts = key.split("/")
    canvas = CANVAS.match(parts[-1])
    if canvas:
        late = bool(canvas.group("late"))
        return LmsName(canvas.group("user"), int(canvas.group("submission")), late)
    for part in parts[:-1]:
        moodle = MOODLE.match(part)
        if moodle:
            return LmsName(moodle.group("participant"))
    return LmsName()


def read_roster(path: Path) -> list[dict]:
    """The roster CSV at ``path``: ``[{"student_id", "match", other columns...}, ...]``.

    Columns: ``student_id`` (required, the id your LMS imports grades by), ``match`` (a
    string found in the student's submission paths: a Canvas user id, a Moodle folder's name
    or participant id; default: the ``student_id`` itself) and any others (e.g. Canvas's
    ``Student``, ``ID``, ``SIS User ID``, ``Section``), which the per-set import files carry.
    A student may have several rows (several match strings). UTF-8, with or without a BOM.

    Raises:
        ValueError: no ``student_id`` column, a row without one, or one ``match`` string
            given to two students.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"roster={str(path)!r} must be a CSV file with a student_id column")
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        if "student_id" not in (reader.fieldnames or []):
            raise ValueError(
                f"roster={str(path)!r} needs a student_id column; it has {reader.fieldnames}"
            )
        rows = []
        for number, row in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if not row["student_id"]:
                raise ValueError(f"roster={str(path)!r}, line {number}: no student_id")
            row["match"] = row.get("match") or row["student_id"]
            rows.append(row)
    owners: dict[str, str] = {}
    for row in rows:
        key = _fold(row["match"])
        if owners.setdefault(key, row["student_id"]) != row["student_id"]:
            raise ValueError(
                f"roster={str(path)!r}: match {row['match']!r} is given to both "
                f"{owners[key]!r} and {row['student_id']!r}"
            )
    return rows


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _occurs(needle: str, haystack: str) -> bool:
    """Does ``needle`` occur in ``haystack`` as a whole word (no letter or digit glued on)?"""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = haystack[start - 1] if start else ""
        after = haystack[end] if end < len(haystack) else ""
        if not (before.isalnum() or after.isalnum()):
            return True
        start = haystack.find(needle, start + 1)
    return False


def student_of(key: str, roster: list[dict] | None) -> tuple[str, str]:
    """``(student_id, warning)`` of the file at path ``key`` (see the top).

    ``student_id`` is "" for an unmatched file, and ``warning`` then says why.
    """
    if roster is None:
        derived = lms_name(key).user or (key.split("/")[0] if "/" in key else "")
        return derived, "" if derived else "no student: not in an LMS layout or a folder"
    path = _fold(key)
    hits: dict[str, int] = {}
    for row in roster:
        needle = _fold(row["match"])
        if needle and _occurs(needle, path):
            hits[row["student_id"]] = max(hits.get(row["student_id"], 0), len(needle))
    if not hits:
        return "", "no student: nothing in its path matches the roster"
    longest = max(hits.values())
    best = sorted(s for s, n in hits.items() if n == longest)
    if len(best) > 1:
        return "", f"no student: its path matches several in the roster equally ({best})"
    return best[0], ""


def latest_first(rows: list[dict]) -> list[dict]:
    """A student's submissions of one set, latest first.

    Latest by the LMS's submission id when every one has one (Canvas numbers uploads in
    order), else by modification time (a zip member's date; Moodle's export keeps upload
    times), then by path (so the choice never depends on the order files were found).
    """
    by_id = all(row["_lms_submission"] >= 0 for row in rows)
    return sorted(
        rows,
        key=lambda r: (r["_lms_submission"] if by_id else r["_mtime"], r["submission"]),
        reverse=True,
    )
