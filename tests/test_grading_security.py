"""Hostile submissions, graded in the shared class beside correct and partial work.

Every attack must cost only its own row: it scores nothing it did not earn; the correct and
partial submissions in the same folder (the sets' solutions and planned mistakes, the
victim) keep their scores, checked question by question in ``test_grading_sets.py``;
nothing outside the sandboxes' scratch changes, no process is left, the host's loopback sees
no connection, and the trusted side's work stays bounded whatever an answers file is shaped
like. The attacks are in ``hostile.py``; the class in ``grading_class.py``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch

import hostile
from grading_class import SETS, build, log

ATTACKS = sorted(hostile.attacks(dict.fromkeys(hostile.PATH_NAMES, "")))


def attack(graded_class, name):
    return graded_class["names"]["attacks"][name]


def case(graded_class, name):
    return graded_class["table"].loc[graded_class["names"]["round2"][name]]


def test_one_row_per_attack(graded_class):
    table = graded_class["table"]
    assert all(attack(graded_class, name) in table.index for name in ATTACKS)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_scores_zero(graded_class, name):
    row = graded_class["table"].loc[attack(graded_class, name)]
    full = sum(build("01").possible.values())
    assert float(row["score"]) == 0 and float(row["possible"]) == full and row["set"] == "01", (
        row.to_dict()
    )


def test_victim_keeps_full_marks_and_nothing_outside_changes(graded_class):
    victim = graded_class["table"].loc[attack(graded_class, "victim")]
    assert victim["score"] == victim["possible"] and victim["error"] == "", victim.to_dict()
    assert graded_class["changed"] == [], "a file outside the sandboxes changed"


def test_nothing_written_outside_the_sandbox(graded_class):
    assert sorted(Path(graded_class["canary"]).iterdir()) == []
    assert "WROTE" not in log(graded_class, attack(graded_class, "write_others"))
    assert len(pd.read_csv(graded_class["csv"])) == len(graded_class["table"])


def test_no_process_outlives_the_run(graded_class):
    assert graded_class["leftover"] == []
    assert "ATTACK detached: started" in log(graded_class, attack(graded_class, "detached"))


def test_no_network_and_no_instructor_environment(graded_class):
    assert graded_class["connections"] == []
    seen = log(graded_class, attack(graded_class, "loopback"))
    assert "ATTACK loopback: ConnectionRefusedError" in seen
    seen = log(graded_class, attack(graded_class, "environment"))
    assert "ATTACK environment: uid" in seen and "uid 0 " not in seen
    assert hostile.SECRET not in seen and "('HOME', '/tmp')" in seen


def test_hidden_tests_and_solutions_are_out_of_sight(graded_class):
    text = log(graded_class, attack(graded_class, "read_solutions"))
    assert "SOLUTION FOUND" not in text and "ATTACK read_solutions: saw" in text
    assert "found expected" not in log(graded_class, attack(graded_class, "stack_peek"))


def test_limits_hold(graded_class):
    table = graded_class["table"]
    assert "ATTACK memory_bomb: MemoryError" in log(
        graded_class, attack(graded_class, "memory_bomb")
    )
    assert "stopped after" in log(graded_class, attack(graded_class, "fork_bomb"))
    assert "ATTACK fill_scratch: OSError" in log(graded_class, attack(graded_class, "fill_scratch"))
    flood = Path(graded_class["logs"]) / table.loc[attack(graded_class, "output_flood"), "log"]
    assert flood.stat().st_size <= 1 << 20
    looping = table.loc[attack(graded_class, "infinite_loop"), "reported"]
    assert "ran longer than" in looping and "skipped" in looping
    # The kill reaches only the sandbox's own processes: its run ends without answers.
    assert table.loc[attack(graded_class, "kill_grader"), "error"] != ""


def test_bad_files_and_wrong_sets_get_a_clear_row(graded_class):
    table = graded_class["table"]
    assert "unreadable notebook" in table.loc[attack(graded_class, "not_json"), "error"]
    says_02 = table.loc[attack(graded_class, "says_02")]
    assert says_02["set"] == "02" and "graded as set 02" in says_02["warning"]
    assert float(says_02["score"]) == 0
    unknown = table.loc[attack(graded_class, "unknown_set"), "error"]
    assert "unknown exercise set '99_no_such_set'" in unknown


def test_forged_answers_files_cost_only_their_own_row(graded_class):
    table = graded_class["table"]
    forged = table.loc[attack(graded_class, "forge_tree")]
    assert "no answers: malformed report" in forged["error"], forged.to_dict()
    report = table.loc[attack(graded_class, "forge_report")]
    assert report["error"] == "" and report["reported"].startswith("'=HYPERLINK(")
    assert "\n" not in report["reported"]


def test_no_new_user_namespaces(graded_class):
    text = log(graded_class, attack(graded_class, "user_namespace"))
    assert "returncode=1" in text and "uid=0" not in text


# Grading round 2: answers shaped to stall the trusted side, in-place changes, the plan.


def test_huge_answers_cost_only_their_own_zero(graded_class):
    huge = case(graded_class, "huge_02")
    assert huge["status"] == "graded" and float(huge["score"]) == 0, huge.to_dict()
    assert "values where about" in huge["failed"] or "larger than" in huge["error"]


def test_changing_an_input_in_place_fails_that_question_only(graded_class):
    row = case(graded_class, "mutates_05")
    possible = build("05").possible
    assert row["error"] == "" and float(row["05/q1"]) == 0, row.to_dict()
    assert "changed one of its inputs in place" in row["failed"]
    others = {q: float(row[f"05/{q}"]) for q in possible if q != "q1"}
    assert others == {q: p for q, p in possible.items() if q != "q1"}


def test_zeroing_the_inputs_earns_what_zeros_earn(graded_class):
    row = case(graded_class, "zero_in_place_07")
    assert row["error"] == "" and float(row["score"]) == 0, row.to_dict()


def test_the_plan_in_the_sandbox_names_no_test(graded_class):
    row = case(graded_class, "read_plan")
    seen = log(graded_class, graded_class["names"]["round2"]["read_plan"]) + row["reported"]
    assert "ATTACK read_plan:" in seen
    for key in SETS:
        built = build(key)
        data = built.plan.read_bytes()
        assert built.hidden_tests and b"test_q" not in data, key
        for name in built.hidden_tests:
            assert name not in seen and name.encode() not in data, (key, name)


def test_every_file_gets_one_row_whatever_its_name(graded_class):
    full = str(sum(build("01").possible.values()))
    for name in ("long_name", "upper_case", "moodle"):
        row = case(graded_class, name)
        assert row["status"] == "graded" and row["score"] == full, row.to_dict()
        assert len(row["log"].encode()) < 100 and "/" not in row["log"]
    skipped = {
        "readme": "not a notebook",
        "folder": "a folder named like a notebook",
        "sparse": "too large",
        "link": "a link: not followed",
    }
    for name, why in skipped.items():
        row = case(graded_class, name)
        assert row["status"] == "skipped" and why in row["error"], row.to_dict()


def test_copies_are_flagged_and_keep_their_scores(graded_class):
    a, b = case(graded_class, "twice_a"), case(graded_class, "twice_b")
    assert "identical to round2/01_twice_b.ipynb" in a["warning"]
    assert "identical to round2/01_twice_a.ipynb" in b["warning"]
    assert a["score"] == b["score"] == "0.0"
    copied = case(graded_class, "solution_copy")
    assert "identical to the instructor's solution notebook" in copied["warning"]
    assert "carries the solution's hidden tests" in copied["warning"]
    assert copied["score"] == copied["possible"]


def test_a_cpu_hog_costs_its_neighbour_nothing(tmp_path):
    """~100 busy processes, each in its own session, next to a correct submission, two
    sandboxes at once on one CPU (as in a small container)."""
    folder = tmp_path / "class"
    folder.mkdir()
    solution = nbformat.read(build("01").solution_notebook, as_version=4)
    nbformat.write(solution, folder / "01_neighbour.ipynb")
    nbformat.write(
        hostile.with_cell(hostile.read(hostile.BLANK), hostile.HOG), folder / "01_hog.ipynb"
    )
    out = tmp_path / "out" / "scores.csv"
    start = time.monotonic()
    subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-m", "d2lmha.grading", "grade", str(folder)]
        + ["--jobs", "2", "--timeout", "30", "--cell-timeout", "4", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    seconds = time.monotonic() - start
    table = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("submission")
    neighbour = table.loc["01_neighbour.ipynb"]
    assert neighbour["score"] == neighbour["possible"], (neighbour.to_dict(), seconds)
    assert table.loc["01_hog.ipynb", "score"] == "0.0"


def test_answers_are_checked_once_before_any_test(tmp_path):
    """``read_answers`` refuses what does not follow the format, whole; ``replay`` takes
    nothing else."""
    from d2lmha.grading import wire
    from d2lmha.grading.replay import score

    tensors = {"0": torch.zeros(3)}
    good = {
        "functions": {"f": "function"},
        "calls": [{"result": {"t": "tensor", "k": "0"}, "mutated": False}],
        "values": {},
        "device": "cpu",
        "errors": [],
    }
    wire.write_container(tmp_path / "good", good, tensors)
    answers = wire.read_answers(tmp_path / "good", 1 << 20, num_calls=1)
    assert answers.sizes == {0: 4}
    bad = {
        "reused tensor": dict(good, values={"v": {"t": "tensor", "k": "0"}}),
        "wrong count": dict(good, calls=[]),
        "bad flag": dict(good, calls=[{"result": {"t": "none"}, "mutated": "no"}]),
        "bad dtype": dict(good, values={"v": {"t": "dtype", "v": "Tensor"}}),
        "bad kind": dict(good, functions={"f": "eval"}),
        "bad report": dict(good, errors=[1]),
    }
    for name, tree in bad.items():
        wire.write_container(tmp_path / name, tree, tensors)
        with pytest.raises(wire.WireError):
            wire.read_answers(tmp_path / name, 1 << 20, num_calls=1)
    with pytest.raises(TypeError, match="read_answers"):
        score([], {"tests": []}, {}, json.loads(json.dumps(good)))
