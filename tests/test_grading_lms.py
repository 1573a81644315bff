"""From an LMS export to a gradebook and feedback pages, and grading in shards.

Most of this is the trusted side and runs without a sandbox: reading a ``.zip`` export
safely, Canvas and Moodle names, the roster, the gradebook, the feedback page and the merge
of shards (on rows made here). The class graded once for every grading test
(``grading_class.py``, with a roster) checks the same on real gradings: its gradebook, a
wrong answer's feedback page in both editions, and its three shards merged.
"""

import filecmp
import json
import stat
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from d2lmha import grading
from d2lmha.grading.feedback import _questions, edition, render
from d2lmha.grading.gradebook import SEVERAL, gradebook, import_table
from d2lmha.grading.lms import collect_submissions, collect_zip, lms_name, read_roster, student_of
from d2lmha.grading.report import finish, safe_name
from d2lmha.grading.shard import in_shard, merge, parse_shard

NB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_zip_is_read_in_place_bounded_and_every_member_gets_a_row(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Zoë 学生_1234_assignsubmission_file_/01_single_head.ipynb", NB)
        archive.writestr("annlee_LATE_77_901_01_single_head.ipynb", NB)
        archive.writestr("../escape.ipynb", NB)
        archive.writestr("/etc/absolute.ipynb", NB)
        archive.writestr("C:/windows.ipynb", NB)
        link = zipfile.ZipInfo("01_link.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("bomb.ipynb", b"0" * (3 << 20))  # compresses to a few KiB
        archive.writestr("big_claim.ipynb", NB)
        archive.writestr("notes.txt", "hello")
        archive.writestr("line\nbreak.ipynb", NB)
        archive.writestr("dup.ipynb", NB)
        archive.writestr("dup.ipynb", NB)
        archive.writestr("folder/", b"")
    found = {f.key: f for f in collect_zip(path, max_bytes=1 << 20, max_total=3 << 20)}
    assert not (tmp_path / "escape.ipynb").exists()  # nothing is ever extracted
    why = {k: f.skipped for k, f in found.items()}
    assert why == {
        "Zoë 学生_1234_assignsubmission_file_/01_single_head.ipynb": "",
        "annlee_LATE_77_901_01_single_head.ipynb": "",
        "../escape.ipynb": "not read: a path with '..'",
        "/etc/absolute.ipynb": "not read: an absolute path",
        "C:/windows.ipynb": "not read: an absolute path",
        "01_link.ipynb": "a link: not followed",
        "bomb.ipynb": "too large: over 1 MiB",
        "big_claim.ipynb": "",
        "notes.txt": "not a notebook (.ipynb)",
        "line?break.ipynb": "",
        "dup.ipynb": "",
        "dup.ipynb (again)": "not read: a name repeated",
    }
    assert found["annlee_LATE_77_901_01_single_head.ipynb"].data == NB
    assert all(f.mtime > 0 for f in found.values())
    # The archive's total cap: members past it are listed, not read.
    small = {f.key: f.skipped for f in collect_zip(path, max_bytes=1 << 20, max_total=300)}
    assert "total size cap" in small["line?break.ipynb"] or "total size cap" in small["dup.ipynb"]
    assert [f.key for f in collect_submissions(path, 1 << 20)] == sorted(found)
    with pytest.raises(ValueError, match="not a readable zip"):
        (tmp_path / "fake.zip").write_text("no")
        collect_submissions(tmp_path / "fake.zip", 1 << 20)
    with pytest.raises(ValueError, match="must be an existing folder of submissions or a .zip"):
        collect_submissions(tmp_path / "missing", 1 << 20)


def test_canvas_and_moodle_names():
    assert lms_name("leeann_77_901_01_single_head.ipynb") == grading.lms.LmsName("77", 901)
    assert lms_name("leeann_LATE_77_902_01_x.ipynb") == grading.lms.LmsName("77", 902, True)
    moodle = lms_name("Zoë 学生_1234_assignsubmission_file_/01_single_head.ipynb")
    assert moodle == grading.lms.LmsName("1234")
    assert lms_name("01_single_head.ipynb") == grading.lms.LmsName()


def test_roster_longest_whole_word_match_wins_and_ties_are_unmatched(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "\ufeffstudent_id,match,Section\n"
        "ann@uni.edu,Ann,A\n"
        "annlee@uni.edu,Ann Lee,A\n"
        "zoe@uni.edu,Zoë 学生,B\n"
        "u77,,B\n"  # match defaults to the id itself
        "bob@uni.edu,Bob,B\n"
        "rob@uni.edu,Rob,B\n",
        encoding="utf-8",
    )
    rows = read_roster(roster)
    assert rows[3]["match"] == "u77" and rows[0]["Section"] == "A"
    assert student_of("Ann Lee_5_assignsubmission_file_/01.ipynb", rows) == ("annlee@uni.edu", "")
    assert student_of("ann_01.ipynb", rows) == ("ann@uni.edu", "")
    assert student_of("ZOË 学生_1234_assignsubmission_file_/01.ipynb", rows)[0] == "zoe@uni.edu"
    assert student_of("annabel_01.ipynb", rows)[0] == ""  # "Ann" is not a whole word there
    assert student_of("x_u77_1_01.ipynb", rows)[0] == "u77"
    student, why = student_of("Bob and Rob/01.ipynb", rows)
    assert student == "" and "several" in why
    assert student_of("nobody/01.ipynb", rows) == (
        "",
        "no student: nothing in its path matches the roster",
    )
    # Without a roster: the LMS's ids, else the first folder.
    assert student_of("leeann_77_901_01.ipynb", None) == ("77", "")
    assert student_of("Zoë_1234_assignsubmission_file_/01.ipynb", None) == ("1234", "")
    assert student_of("ann/01.ipynb", None) == ("ann", "")
    assert student_of("01.ipynb", None)[0] == ""
    for text, message in (
        ("match\nx\n", "needs a student_id column"),
        ("student_id,match\n,x\n", "line 2: no student_id"),
        ("student_id,match\na,x\nb,X\n", "given to both"),
    ):
        roster.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_roster(roster)
    with pytest.raises(ValueError, match="roster="):
        read_roster(tmp_path / "missing.csv")


INFO = {
    "name": "01_single_head",
    "possible": {"q1": 2.0, "q2": 1.0},
    "tests": {
        "q1 - 1": {
            "question": "q1",
            "name": "q1_shape",
            "hidden": False,
            "points": 1.0,
            "failure_message": "",
        },
        "q1 - 2": {
            "question": "q1",
            "name": "q1_variance",
            "hidden": True,
            "points": 1.0,
            "failure_message": "",
            "checks": ["scaled_scores"],
        },
        "q2 - 1": {
            "question": "q2",
            "name": "q2_unscaled",
            "hidden": True,
            "points": 1.0,
            "checks": ["variance_unscaled"],
            "failure_message": "think about how variances add",
        },
    },
    "editions": {
        "": {
            "title": "Exercises 01",
            "questions": {
                "q1": {"title": "q1: scores", "check": "", "measurement": ""},
                "q2": {"title": "q2: predict", "check": "Check:", "measurement": "measured 63.87"},
            },
        },
        "zh": {
            "title": "练习 01",
            "questions": {"q2": {"title": "q2：先预测", "check": "", "measurement": "测量 63.87"}},
        },
    },
}


def row(key, student_score, **extra):
    """A graded row of set 01 as grade() makes it, with its private fields."""
    q1, q2 = student_score
    failures = [] if q1 == 2 else [["q1 - 1", False, "AssertionError: <script>x</script>"]]
    failures += [] if q1 == 2 else [["q1 - 2", True, "AssertionError: expected about 1/4"]]
    failures += [] if q2 == 1 else [["q2 - 1", True, "AssertionError: 8.0 is not 64"]]
    return {
        "submission": key,
        "status": "graded",
        "score": q1 + q2,
        "possible": 3.0,
        "set": "01",
        "01/q1": float(q1),
        "01/q2": float(q2),
        "warning": "",
        "log": "",
        "_failures": failures,
        "_notes": ["code cell 3: NameError: name 'x' is not defined <b>"],
        "_edition": "",
        "_sha256": key,
        "_mtime": 0.0,
        "_lms_submission": -1,
        **extra,
    }


def test_gradebook_rows_latest_taken_missing_and_import_file():
    roster = [
        {"student_id": "ann", "match": "ann", "Student": "Ann", "SIS User ID": "A1"},
        {"student_id": "bob", "match": "bob", "Student": "Bob", "SIS User ID": "B2"},
        {"student_id": "cy", "match": "cy", "Student": "Cy", "SIS User ID": "C3"},
    ]
    rows = [
        row("ann_1_5_01.ipynb", (2, 1), student_id="ann", _lms_submission=5),
        row("ann_1_9_01.ipynb", (0, 1), student_id="ann", _lms_submission=9),  # latest id
        row("bob/old/01.ipynb", (2, 1), student_id="bob", _mtime=100.0),
        row("bob/new/01.ipynb", (2, 0), student_id="bob", _mtime=200.0),  # latest time
    ]
    book, chosen = gradebook(rows, roster, {"01": INFO})
    table = {entry["student_id"]: entry for entry in book}
    assert table["ann"] | {} == {
        "student_id": "ann",
        "set": "01_single_head",
        "q1": 0.0,
        "q2": 1.0,
        "total": 1.0,
        "possible": 3.0,
        "percent": 33.3,
        "status": SEVERAL,
        "submission": "ann_1_9_01.ipynb",
    }
    assert table["bob"]["submission"] == "bob/new/01.ipynb" and table["bob"]["total"] == 2.0
    assert table["cy"]["status"] == "missing" and table["cy"]["total"] == ""
    assert chosen[("bob", "01")][1] == SEVERAL
    assert import_table(book, roster, "01_single_head") == [
        {"Student": "Ann", "SIS User ID": "A1", "01_single_head": 1.0},
        {"Student": "Bob", "SIS User ID": "B2", "01_single_head": 2.0},
        {"Student": "Cy", "SIS User ID": "C3", "01_single_head": ""},
    ]
    moodle = [{"student_id": r["student_id"], "match": r["match"], "name": "x"} for r in roster]
    assert import_table(book, moodle, "01_single_head")[0] == {
        "student_id": "ann",
        "name": "x",
        "01_single_head": 1.0,
    }
    assert import_table(book, None, "01_single_head")[0] == {
        "student_id": "ann",
        "01_single_head": 1.0,
    }


def test_feedback_page_has_points_and_messages_escaped_and_no_hidden_expected_values():
    page = render(row("a.ipynb", (0, 0)), INFO, "ann<1>", "graded")
    assert "0 / 2 points" in page and "0 / 3" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "q1_shape" in page and "Failed hidden test (1 points)" in page
    assert "q1_variance" not in page and "expected about 1/4" not in page  # hidden: points only
    assert "it checks your scaled_scores" in page  # and which of the learner's names it takes
    assert "8.0 is not 64" not in page and "think about how variances add" in page
    assert "measured 63.87" in page and "Check:" in page
    assert "ann&lt;1&gt;" in page and "NameError" in page and "&lt;b&gt;" in page
    zh = render(row("a.ipynb", (2, 0), _edition="zh"), INFO, "ann", "graded")
    assert "它检查你的 variance_unscaled" in zh
    assert 'lang="zh"' in zh and "练习 01" in zh and "测量 63.87" in zh and "未通过的隐藏测试" in zh
    assert "所有测试均通过" in zh  # q1 passed


def test_edition_and_measurements_come_from_the_masters():
    zh = (grading.ROOT / "exercises" / "zh" / "01_single_head.ipynb").read_bytes()
    en = (grading.ROOT / "exercises" / "01_single_head.ipynb").read_bytes()
    assert edition(zh) == "zh" and edition(en) == "" and edition(b"\xff") == ""
    questions = _questions(grading.ROOT / "solutions" / "01_single_head.ipynb")["questions"]
    assert "measured" in questions["q2"]["measurement"]
    assert questions["q1"]["measurement"] == ""  # an implement question has none
    page = render(
        row("a.ipynb", (2, 0)),
        {**INFO, "editions": {"": {"title": "01", "questions": questions}}},
        "ann",
        "graded",
    )
    # the solution's prose is rendered (code spans), not shown as raw markdown
    assert "<code>d2lmha.masked_softmax</code>" in page and "`d2lmha" not in page


def test_student_ids_become_safe_folder_names():
    assert safe_name("ann@uni.edu") == "ann@uni.edu"
    for bad in ("../x", ".hidden", "a/b", "Zoë 学生", "x" * 300, ""):
        name = safe_name(bad)
        assert "/" not in name and not name.startswith(".") and len(name) < 100 and name


def test_shards_split_every_file_once_whatever_the_order():
    keys = [f"s{i}/01_single_head.ipynb" for i in range(300)]
    parts = [[k for k in keys if in_shard(k, (i, 3))] for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(keys)
    assert all(60 < len(part) < 140 for part in parts)
    assert [k for k in reversed(keys) if in_shard(k, (1, 3))] == parts[1][::-1]
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "1", "-1/3", "a/b"):
        with pytest.raises(ValueError, match="shard="):
            parse_shard(bad)


def _files(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("scores.run") and ".partial" not in p.name
    }


def assert_same_outputs(one: Path, merged: Path):
    """The files one run wrote and the merged ones are the same (rows compared as data)."""
    mine, theirs = _files(one), _files(merged)
    assert sorted(mine) == sorted(theirs)
    for name, path in mine.items():
        if name.endswith(".csv"):
            a = pd.read_csv(path, dtype=str, keep_default_na=False)
            pd.testing.assert_frame_equal(
                a, pd.read_csv(theirs[name], dtype=str, keep_default_na=False)
            )
        elif name.endswith(".jsonl"):
            assert path.read_text().splitlines() == theirs[name].read_text().splitlines()
        else:
            assert filecmp.cmp(path, theirs[name], shallow=False), name


def test_three_shards_merged_equal_one_run(tmp_path):
    roster = [{"student_id": s, "match": s} for s in ("ann", "bob", "cy", "dee")]
    rows = [
        row("ann/01_a.ipynb", (2, 1)),
        row("ann/01_b.ipynb", (1, 0), _mtime=5.0),
        row("bob/01.ipynb", (0, 1), _sha256="same"),
        row("cy/01.ipynb", (0, 1), _sha256="same"),  # a copy of bob's, in another shard?
        row("nobody/01.ipynb", (2, 1)),
        {"submission": "ann/readme.txt", "status": "skipped", "score": 0.0, "error": "not"},
    ]
    rows.sort(key=lambda r: r["submission"])
    finish(rows, tmp_path / "one" / "scores.csv", roster, {"01": INFO})
    shards = []
    for i in range(3):
        folder = tmp_path / f"shard{i}"
        (folder / "scores.logs").mkdir(parents=True)
        part = [r for r in rows if in_shard(r["submission"], (i, 3))]
        finish(part, folder / "scores.csv", roster, {"01": INFO}, (i, 3))
        shards.append(folder)
    (tmp_path / "one" / "scores.logs").mkdir()
    merge(tmp_path / "merged", shards)
    assert_same_outputs(tmp_path / "one", tmp_path / "merged")
    scores = pd.read_csv(tmp_path / "merged" / "scores.csv", dtype=str, keep_default_na=False)
    warned = scores.set_index("submission")["warning"]
    assert "identical to cy/01.ipynb" in warned["bob/01.ipynb"]
    assert "no student" in warned["nobody/01.ipynb"] and warned["ann/readme.txt"] == ""
    with pytest.raises(ValueError, match="need each of 0..2 once"):
        merge(tmp_path / "bad", shards[:2])
    with pytest.raises(ValueError, match="holds no grading"):
        merge(tmp_path / "bad", [tmp_path])


def test_grade_in_shards_without_sandboxes_equals_one_run(tmp_path):
    """grade() itself, sharded: files that need no sandbox (not notebooks, unknown sets)."""
    folder = tmp_path / "class"
    for i in range(6):
        (folder / f"s{i}").mkdir(parents=True)
        (folder / f"s{i}" / "99_unknown.ipynb").write_bytes(NB)
        (folder / f"s{i}" / "notes.txt").write_text("x")
    kwargs = dict(unsafe_no_sandbox=True, jobs=1)
    grading.grade(folder, out=tmp_path / "one" / "scores.csv", **kwargs)
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i, out in enumerate(shards):
        grading.grade(folder, out=out / "scores.csv", shard=f"{i}/3", **kwargs)
    merge(tmp_path / "merged", shards)
    (tmp_path / "one" / "scores.rows.jsonl").unlink()
    assert_same_outputs(tmp_path / "one", tmp_path / "merged")
    table = pd.read_csv(tmp_path / "one" / "scores.csv", dtype=str, keep_default_na=False)
    assert len(table) == 12 and set(table["student_id"]) == {f"s{i}" for i in range(6)}


# On the class graded once for all grading tests (grading_class.py), with its roster.


def _output(graded_class) -> Path:
    return Path(graded_class["csv"]).parent


def test_class_gradebook_has_each_roster_student(graded_class):
    book = pd.read_csv(_output(graded_class) / "gradebook.csv", dtype=str, keep_default_na=False)
    mine = book[book["set"] == "01_single_head"].set_index("student_id")
    assert list(mine.index) == ["zoe@uni.edu", "wrong01", "zhwrong01", "twice", "absent"]
    assert mine.loc["twice", "status"] == SEVERAL  # same time: the later path is taken
    assert mine.loc["twice", "submission"].startswith("round2/01_twice_")
    scores = graded_class["table"]
    for student, key in (
        ("wrong01", "sets/01_wrong.ipynb"),
        ("zhwrong01", "sets/01_zh_wrong.ipynb"),
    ):
        assert mine.loc[student, "status"] == "graded"
        assert mine.loc[student, "submission"] == key
        assert float(mine.loc[student, "total"]) == float(scores.loc[key, "score"])
        assert scores.loc[key, "student_id"] == student
        for q in ("q1", "q2", "q3", "q4"):
            assert float(mine.loc[student, q]) == float(scores.loc[key, f"01/{q}"])
    assert mine.loc["zoe@uni.edu", "percent"] == "100.0"
    assert mine.loc["absent", "status"] == "missing" and mine.loc["absent", "total"] == ""
    assert "no student" in scores.loc["sets/01_solution.ipynb", "warning"]
    assert scores.loc["sets/01_solution.ipynb", "student_id"] == ""
    imported = pd.read_csv(_output(graded_class) / "import-01_single_head.csv", dtype=str)
    assert list(imported.columns) == ["student_id", "01_single_head"]


def test_class_feedback_pages_show_points_and_never_hidden_expected_values(graded_class):
    full = {}
    with open(_output(graded_class) / "scores.full.jsonl", encoding="utf-8") as file:
        for line in file:
            entry = json.loads(line)
            full[entry["submission"]] = entry
    wrong = full["sets/01_wrong.ipynb"]
    page = (_output(graded_class) / "feedback/wrong01/01_single_head.html").read_text()
    assert f"{wrong['score']:g} / {wrong['possible']:g}" in page
    hidden = [m for _, h, m in wrong["_failures"] if h]
    public = [m for _, h, m in wrong["_failures"] if not h]
    assert hidden and public
    for message in public:
        assert message.split(": ", 1)[1].replace("'", "&#39;")[:40] in page
    for message in hidden:
        assert message.split(": ", 1)[1] not in page, message
    assert "def test_" not in page and "measured 63.87" in page
    zh = (_output(graded_class) / "feedback/zhwrong01/01_single_head.html").read_text()
    assert "它检查你的 variance_unscaled" in zh
    assert 'lang="zh"' in zh and "练习 01" in zh and "未通过" in zh
    assert full["sets/01_zh_wrong.ipynb"]["_edition"] == "zh" and wrong["_edition"] == ""


def test_class_in_three_shards_merged_equals_the_one_run(graded_class, tmp_path):
    one = _output(graded_class)
    run = json.loads((one / "scores.run.json").read_text())
    with open(one / "scores.full.jsonl", encoding="utf-8") as file:
        rows = [json.loads(line) for line in file]
    shards = []
    for i in range(3):
        folder = tmp_path / f"shard{i}"
        (folder / "scores.logs").mkdir(parents=True)
        part = [r for r in rows if in_shard(r["submission"], (i, 3))]
        finish(part, folder / "scores.csv", run["roster"], run["sets"], (i, 3))
        shards.append(folder)
    merge(tmp_path / "merged", shards)
    for name in ("scores.csv", "gradebook.csv", "import-01_single_head.csv"):
        a = pd.read_csv(one / name, dtype=str, keep_default_na=False)
        b = pd.read_csv(tmp_path / "merged" / name, dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(a, b)
    pages = sorted(p.relative_to(one) for p in (one / "feedback").rglob("*.html"))
    assert pages and pages == sorted(
        p.relative_to(tmp_path / "merged")
        for p in (tmp_path / "merged" / "feedback").rglob("*.html")
    )
    for page in pages:
        assert filecmp.cmp(one / page, tmp_path / "merged" / page, shallow=False)


def test_an_edition_is_read_from_the_start_of_a_notebook_of_any_size():
    """The markdown's first ``EDITION_SAMPLE`` characters decide (bounded work on the trusted
    side whatever a submission's size): English first, then pages of Chinese, is English."""
    from d2lmha.grading.feedback import EDITION_SAMPLE

    def notebook(*texts):
        cells = [{"cell_type": "markdown", "metadata": {}, "source": t} for t in texts]
        return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}).encode()

    english, chinese = "attention " * EDITION_SAMPLE, "注意力机制" * EDITION_SAMPLE
    assert edition(notebook(chinese, english)) == "zh"
    assert edition(notebook(english, chinese)) == ""
    # letters of any script count (accented ones too), digits and underscores do not
    assert edition(notebook("Ünïcödé wörds wïth áccents 注意")) == ""  # 2 of 25 letters
    assert edition(notebook("12345678901234567890 ___ 注意力")) == "zh"  # 3 of 3
