"""Every exercise set grades right, graded the way ``make grade`` grades a folder.

For each set: the solution scores full marks (runs without a cell raising, and prints what its
``# NBVAL_CHECK_OUTPUT`` cells saved: the check nbval would make, from the same run), the blank
student notebook scores zero (and
runs to the end without a cell raising: it is the notebook a learner starts from), and a
submission with plausible mistakes scores partial credit strictly between — each mistaken
question loses some but not all of its points, every other question keeps full marks. The
中文 edition's submissions score exactly the same. An answer that hands an implement question's
work to a ready-made equivalent earns none of that question's function points and is flagged,
and at least half of every set's points test understanding. All are graded in the shared class
(``grading_class.py``); set 01's odd cases are in ``test_grading.py``, hostile submissions in
``test_grading_security.py``.
"""

import re

import nbformat
import pytest

from d2lmha import grading
from d2lmha.grading.cases import load_tests
from d2lmha.grading.grade import RERUN_NOTE
from d2lmha.grading.questions import UNDERSTANDING
from d2lmha.grading.wire import read_container
from grading_class import DEGENERATE, DELEGATING, MISTAKES, QUESTIONS, SETS, build, log


def test_every_set_has_a_planned_mistake():
    assert sorted(MISTAKES) == sorted(SETS)


def scores(graded_class, key, role):
    """The English submission's row, after checking that the Chinese one scored the same."""
    zh_row, zh_scores, _ = _scores(graded_class, key, f"zh_{role}")
    row, per_question, possible = _scores(graded_class, key, role)
    assert zh_scores == per_question and zh_row["score"] == row["score"], (key, role)
    return row, per_question, possible


def _scores(graded_class, key, role):
    row = graded_class["table"].loc[f"sets/{key}_{role}.ipynb"]
    possible = build(key).possible
    assert row["set"] == key and row["error"] == "" and row["status"] == "graded", row.to_dict()
    assert float(row["possible"]) == sum(possible.values())
    return row, {q: float(row[f"{key}/{q}"]) for q in possible}, possible


@pytest.mark.parametrize("key", sorted(SETS))
def test_solution_scores_full_marks(graded_class, key):
    row, per_question, possible = scores(graded_class, key, "solution")
    assert len(possible) >= 4 and per_question == possible
    assert float(row["score"]) == float(row["possible"])


def checked_outputs(notebook) -> list[tuple[int, str]]:
    """``(cell index, text)`` of each saved output of each code cell that nbval would compare
    (a comment line ``# NBVAL_CHECK_OUTPUT``): its stream text or its ``text/plain``."""
    found = []
    for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        marked = any(line.strip() == "# NBVAL_CHECK_OUTPUT" for line in cell.source.splitlines())
        if cell.cell_type == "code" and marked:
            for output in cell.outputs:
                if output.output_type == "stream":
                    found.append((index, output.text))
                elif "text/plain" in output.get("data", {}):
                    found.append((index, output.data["text/plain"]))
    return found


@pytest.mark.parametrize("edition", ["", "zh"])
@pytest.mark.parametrize("key", sorted(SETS))
def test_solution_runs_clean_and_prints_its_saved_outputs(graded_class, key, edition):
    """What nbval would check of a solution, from the class's run of it (not run twice): no
    cell raised, and each output saved under a ``# NBVAL_CHECK_OUTPUT`` cell was printed."""
    submission = f"sets/{key}_{edition and edition + '_'}solution.ipynb"
    reported = graded_class["table"].loc[submission, "reported"]
    assert reported.replace(RERUN_NOTE, "").strip("; ") == "", (submission, reported)
    printed = log(graded_class, submission)
    saved = checked_outputs(grading.ROOT / "solutions" / edition / build(key).notebook_name)
    assert saved, f"solutions/{edition}: set {key} has no cell marked # NBVAL_CHECK_OUTPUT"
    missing = [(index, text) for index, text in saved if text.strip() not in printed]
    assert missing == [], f"{submission} did not print these saved outputs: {missing}"


@pytest.mark.parametrize("key", sorted(SETS))
def test_blank_scores_zero_and_runs_to_the_end(graded_class, key):
    row, per_question, possible = scores(graded_class, key, "blank")
    assert float(row["score"]) == 0 and per_question == dict.fromkeys(possible, 0)
    for edition in ("", "zh_"):
        reported = graded_class["table"].loc[f"sets/{key}_{edition}blank.ipynb", "reported"]
        reported = reported.replace(RERUN_NOTE, "").strip("; ")  # a busy machine: run alone
        assert reported == "", f"a cell of the blank {edition}set {key} raised: {reported}"


@pytest.mark.parametrize("key", sorted(SETS))
def test_plausible_mistakes_get_partial_credit(graded_class, key):
    row, per_question, possible = scores(graded_class, key, "wrong")
    assert sorted(MISTAKES[key]) == sorted(possible), f"set {key}: a planned mistake per question"
    assert 0 < float(row["score"]) < float(row["possible"])
    for question, points in per_question.items():
        if question in MISTAKES[key]:
            assert 0 < points < possible[question], (key, question, points)
        else:
            assert points == possible[question], (key, question, points)


_FAILED = re.compile(r"(?:^|; )(q\d+ - \d+): ")


@pytest.mark.parametrize("key", sorted(SETS))
def test_a_chinese_submission_is_told_why_in_chinese(graded_class, key):
    """The 中文 planned mistakes fail the same tests as the English ones, and every assertion
    message with words in it reaches the CSV in Chinese (the set's Chinese tests, the grader's
    own words and torch.testing's first lines translated: issue #25)."""
    table = graded_class["table"]
    english = table.loc[f"sets/{key}_wrong.ipynb", "failed"]
    chinese = table.loc[f"sets/{key}_zh_wrong.ipynb", "failed"]
    assert _FAILED.findall(english) and _FAILED.findall(chinese) == _FAILED.findall(english)
    for message in _FAILED.split(chinese)[2::2]:
        if message.startswith("AssertionError") and re.search(
            r"[A-Za-z]{2,} [A-Za-z]{2,}", message
        ):
            assert re.search("[\u4e00-\u9fff]", message), (key, message)


def points_by_test(key):
    """``[(question, points, calls a learner function)]``, one per test of the set."""
    built = build(key)
    plan, _ = read_container(built.plan_data, 1 << 30)
    kinds = {entry["id"]: entry["kinds"] for entry in plan["tests"]}
    return [
        (test["question"], test["points"], "function" in kinds[test["id"]].values())
        for test in load_tests(built.solution_notebook)
    ]


def function_questions(key):
    """The questions of a set whose tests call a learner function (implement, fix)."""
    return {question for question, _, calls in points_by_test(key) if calls}


@pytest.mark.parametrize("key", sorted(SETS))
def test_half_the_points_test_understanding(key):
    """At least 4 questions; the tests that check a value the learner worked out (a prediction,
    a diagnosis, a measurement), not a function they wrote, hold at least half the points; and
    each question's kind (its config) agrees: an implement question's points are all function
    points, and it names what it may not call."""
    points = points_by_test(key)
    total = sum(p for _, p, _ in points)
    understanding = sum(p for _, p, calls in points if not calls)
    assert len(QUESTIONS[key]) >= 4 and understanding >= total / 2, (key, understanding, total)
    for name, question in QUESTIONS[key].items():
        values = sum(p for q, p, calls in points if q == name and not calls)
        if question.kind == "implement":
            assert values == 0 and question.forbidden, (key, name)
        else:
            assert question.kind in UNDERSTANDING and values > 0, (key, name)


@pytest.mark.parametrize("key", sorted(SETS))
@pytest.mark.parametrize("edition", ["", "zh"])
def test_questions_say_what_they_may_not_call(key, edition):
    """Each forbidden name is in its question's prompt (both editions), and each question with
    forbidden names has a planned delegating answer."""
    assert sorted(DELEGATING[key]) == sorted(q for q, c in QUESTIONS[key].items() if c.forbidden)
    nb = nbformat.read(grading.ROOT / "exercises" / edition / SETS[key].name, as_version=4)
    for name, question in QUESTIONS[key].items():
        (prompt,) = [
            c.source
            for c in nb.cells
            if c.cell_type == "markdown" and re.match(rf"## {name}\b", c.source)
        ]
        missing = [path for path in question.forbidden if f"`{path}`" not in prompt]
        assert not missing, f"set {key} {edition} {name}'s prompt does not name {missing}"


@pytest.mark.parametrize("key", sorted(SETS))
def test_degenerate_answers_earn_nothing(graded_class, key):
    """Identity, zeros, a constant or always raising, for every function of the set."""
    assert DEGENERATE[key].strip(), f"set {key}: plan a degenerate answer in mistakes_{key}.py"
    row = graded_class["table"].loc[f"sets/{key}_degenerate.ipynb"]
    assert row["error"] == "" and row["status"] == "graded", row.to_dict()
    questions = function_questions(key)
    assert questions, key
    earned = {q: float(row[f"{key}/{q}"]) for q in questions}
    assert earned == dict.fromkeys(questions, 0.0), (key, row["failed"])


DELEGATED = [(key, question) for key in sorted(SETS) for question in sorted(DELEGATING[key])]


@pytest.mark.parametrize("key, question", DELEGATED)
def test_handing_the_work_to_a_ready_made_function_earns_nothing(graded_class, key, question):
    """The solution, with each implement question's function replaced by a call of what the
    question may not call (one notebook per set: the guard is per call, so the questions do
    not interact): none of that question's function points (the name raises while it runs,
    with a message saying it is off limits), full marks on every question not delegated, and
    a warning naming the question."""
    row = graded_class["table"].loc[f"sets/{key}_delegating.ipynb"]
    possible = build(key).possible
    values = sum(p for q, p, calls in points_by_test(key) if q == question and not calls)
    assert row["error"] == "" and float(row[f"{key}/{question}"]) == values, row.to_dict()
    assert f"{question} asks you to write this yourself" in row["failed"], row["failed"]
    others = {q: float(row[f"{key}/{q}"]) for q in possible if q not in DELEGATING[key]}
    assert others == {q: p for q, p in possible.items() if q not in DELEGATING[key]}, row["failed"]
    assert f"{question}'s answer names " in row["warning"], row["warning"]


@pytest.mark.parametrize("key", sorted(SETS))
def test_honest_answers_are_not_flagged(graded_class, key):
    """The text check flags names, not the learner's own functions: no solution, blank,
    mistaken or degenerate answer (whose functions share names with the package's, as set 02's
    merge_heads) carries the warning."""
    for role in ("solution", "zh_solution", "blank", "zh_blank", "wrong", "zh_wrong", "degenerate"):
        warning = graded_class["table"].loc[f"sets/{key}_{role}.ipynb", "warning"]
        assert "may not call" not in warning, (key, role, warning)
