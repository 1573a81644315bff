"""What was handed in: every file under a submissions folder gets one entry, read safely."""

import os
import sys
import time

import pytest

from d2lmha.grading.collect import MAX_FILES, collect, log_name, read_capped


def test_every_file_gets_one_entry_and_only_notebooks_are_read(tmp_path):
    (tmp_path / "moodle" / "Ann_1_assignsubmission_file_").mkdir(parents=True)
    (tmp_path / "moodle" / "Ann_1_assignsubmission_file_" / "01_x.IPYNB").write_bytes(b"{}")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "x.ipynb").mkdir()
    (tmp_path / "x.ipynb" / "inside.ipynb").write_bytes(b"{}")
    os.mkfifo(tmp_path / "01_pipe.ipynb")  # would block a careless open()
    os.symlink("/etc/passwd", tmp_path / "01_link.ipynb")
    with open(tmp_path / "01_sparse.ipynb", "wb") as sparse:
        sparse.truncate(4 << 30)
    (tmp_path / "01_line\nbreak é.ipynb").write_bytes(b"{}")
    start = time.monotonic()
    found = {f.key: f for f in collect(tmp_path, 1 << 20)}
    assert time.monotonic() - start < 5  # nothing of the 4 GiB was read
    assert sorted(found) == sorted(
        [
            "01_line\nbreak é.ipynb",
            "01_link.ipynb",
            "01_pipe.ipynb",
            "01_sparse.ipynb",
            "moodle/Ann_1_assignsubmission_file_/01_x.IPYNB",
            "notes.txt",
            "x.ipynb",
            "x.ipynb/inside.ipynb",
        ]
    )
    assert found["moodle/Ann_1_assignsubmission_file_/01_x.IPYNB"].data == b"{}"
    assert found["01_line\nbreak é.ipynb"].data == b"{}"
    why = {key: f.skipped for key, f in found.items() if f.data is None}
    assert why == {
        "01_link.ipynb": "a link: not followed",
        "01_pipe.ipynb": "not a regular file",
        "01_sparse.ipynb": "too large: over 1 MiB",
        "notes.txt": "not a notebook (.ipynb)",
        "x.ipynb": "a folder named like a notebook",
    }


def test_a_file_is_never_read_past_its_cap(tmp_path):
    path = tmp_path / "grows"
    path.write_bytes(b"x" * (3 << 20))
    with open(path, "rb") as file:
        assert read_capped(file, 1 << 20) is None
    with open(path, "rb") as file:
        assert len(read_capped(file, 4 << 20)) == 3 << 20


def test_log_names_are_short_safe_and_distinct():
    keys = ["a/b.ipynb", "a_b.ipynb", "01_" + "é" * 200 + ".ipynb", "x\n/../../etc.ipynb"]
    names = [log_name(key) for key in keys]
    assert len(set(names)) == len(names)
    for name in names:
        assert len(name.encode()) < 100 and "/" not in name and "\n" not in name
        assert not name.startswith(".")


def test_folders_that_are_not_folders_or_too_full_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="must be an existing folder"):
        collect(tmp_path / "missing", 1 << 20)
    monkeypatch.setattr(sys.modules["d2lmha.grading.collect"], "MAX_FILES", 2)
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text("x")
    with pytest.raises(ValueError, match="more than 2 files"):
        collect(tmp_path, 1 << 20)
    assert MAX_FILES > 1000
