"""What was handed in: every file under a submissions folder, one entry each, read safely.

An LMS export is a folder of notebooks, nested or not, with whatever else students and the
LMS put there. Each file under the folder becomes one :class:`Found`, whether it will be
graded or not, so that nothing handed in goes without a row. Nothing is followed or read
beyond a fixed size: a link is reported, not followed; a file's size is taken from
``lstat`` and at most ``max_bytes`` + 1 bytes are ever read from it (a sparse file of
gigabytes costs no more than that); a folder named like a notebook is reported as a folder.

Source: os.scandir; the LMS layouts in ``docs/instructors.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Found", "collect", "read_capped", "log_name", "too_large", "MAX_FILES"]

MAX_FILES = 20_000  # files under one submissions folder
NOT_A_NOTEBOOK = "not a notebook (.ipynb)"


@dataclass(frozen=True)
class Found:
    """One entry under the submissions folder.

    Attributes:
        key: its path relative to the folder, with ``/`` (the row's ``submission``).
        data: the file's bytes when it is a notebook to grade, else ``None``.
        skipped: why it is not graded ("" when it is): not a notebook, a link, a folder,
            not a regular file, too large, unreadable.
        mtime: when it was last changed, seconds since the epoch (``lstat``, or a zip
            member's date); 0.0 when unknown. Decides which of a student's submissions
            is the latest where the LMS gives no submission id (:mod:`.lms`).
    """

    key: str
    data: bytes | None
    skipped: str = ""
    mtime: float = 0.0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else ""


def collect(folder: Path, max_bytes: int) -> list[Found]:
    """Every entry under ``folder``, sorted by key (see the top).

    Raises:
        ValueError: ``folder`` is not a folder, or it holds more than :data:`MAX_FILES`
            entries.
    """
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        raise ValueError(f"folder={str(folder)!r} must be an existing folder of submissions")
    found: list[Found] = []
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if len(found) >= MAX_FILES:
                    raise ValueError(f"folder={str(folder)!r} holds more than {MAX_FILES} files")
                key = Path(entry.path).relative_to(folder).as_posix()
                item = _entry(entry, key, max_bytes)
                if item is not None:
                    found.append(item)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
    return sorted(found, key=lambda f: f.key)


def _entry(entry: os.DirEntry, key: str, max_bytes: int) -> Found | None:
    """One entry as a :class:`Found`, or ``None`` for a folder (walked into, no row of its
    own unless it is named like a notebook)."""
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError as error:
        return Found(key, None, f"unreadable: {type(error).__name__}")
    notebook = entry.name.casefold().endswith(".ipynb")
    mtime = info.st_mtime
    if stat.S_ISLNK(info.st_mode):
        return Found(key, None, "a link: not followed", mtime)
    if stat.S_ISDIR(info.st_mode):
        return Found(key, None, "a folder named like a notebook", mtime) if notebook else None
    if not stat.S_ISREG(info.st_mode):
        return Found(key, None, "not a regular file", mtime)
    if not notebook:
        return Found(key, None, NOT_A_NOTEBOOK, mtime)
    if info.st_size > max_bytes:
        return Found(key, None, too_large(max_bytes), mtime)
    try:
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            data = read_capped(file, max_bytes)
    except OSError as error:
        return Found(key, None, f"unreadable: {type(error).__name__}", mtime)
    return (
        Found(key, None, too_large(max_bytes), mtime)
        if data is None
        else Found(key, data, "", mtime)
    )


def too_large(max_bytes: int) -> str:
    """The reason a file over ``max_bytes`` is not graded."""
    return f"too large: over {max_bytes >> 20} MiB"


def read_capped(file, max_bytes: int, chunk: int = 1 << 20) -> bytes | None:
    """The bytes of an open binary ``file``, or ``None`` when it holds more than
    ``max_bytes``: read a chunk at a time, so memory follows what is there, never the cap,
    and never more than ``max_bytes`` + one chunk, whatever the file's size claims."""
    parts, total = [], 0
    while total <= max_bytes:
        part = file.read(chunk)
        if not part:
            return b"".join(parts)
        parts.append(part)
        total += len(part)
    return None


def log_name(key: str) -> str:
    """A file name for ``key``'s log that any file system takes: its readable part (letters,
    digits, ``._-``; 60 at most) and a hash of the whole key, so two keys never share it."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[-60:].lstrip(".")
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{readable}-{digest}.log"
