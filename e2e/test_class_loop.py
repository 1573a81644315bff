"""The whole class loop in one test, as an instructor and one learner live it (issue 23):

1. `make release` writes the students' copy into a local git repository (conftest.py's
   ``class_repository``) and `make links` prints its nbgitpuller links;
2. the learner opens set 01's link on a hub user's server (JupyterLab with nbgitpuller, an
   empty home), answers exercise 01 in Chromium with the solution's answers but one planned
   mistake (:data:`WRONG`, from ``tests/mistakes_01.py``) and saves with Ctrl+S;
3. the instructor collects the saved notebook, from the learner's home on disk, as Moodle's
   "Download all submissions" lays it out, with a roster;
4. `make grade SUBMISSIONS=… ROSTER=…` grades it in its sandbox;
5. the gradebook row shows that question below full points and the others full, and the
   learner's feedback page, opened in Chromium, shows the question wrong and the total.

The right answers are put into their cells through JupyterLab's model (typing them adds
nothing that the wrong one does not test); the wrong answer is typed into its cell's editor
as a learner pastes it. Nothing is run in the notebook: `make grade` runs it. Screenshots:
build/e2e/steps/3*.png.
"""

from __future__ import annotations

import csv
import json
import re
import shutil

import nbformat
from browser_steps import CURRENT, REF, ROOT, open_nbgitpuller_link, run_make, step
from browser_steps import type_into_cell

from tests.mistakes_01 import MISTAKES

SET_01 = "exercises/01_single_head.ipynb"
WRONG = "q2"  # predicts √d = 8, not d = 64: the public check cannot tell, the hidden tests do
STUDENT, FOLDER = "ada@uni.example", "Ada Lovelace_4242_assignsubmission_file_"
ABSENT = "alan@uni.example"  # on the roster, handed nothing in
LOADED_JS = """(cells) => { const panel = window.jupyterapp.shell.currentWidget;
  return panel.context.isReady && panel.content.model.cells.length === cells; }"""
SET_CELL_JS = """([index, text]) => window.jupyterapp.shell.currentWidget.content.model.cells
  .get(index).sharedModel.setSource(text)"""


def learner_answer(source: str) -> str:
    """A solution cell as the learner writes it: without Otter's ``# BEGIN/END SOLUTION``
    lines and ``# SOLUTION`` marks."""
    lines = [
        line for line in source.splitlines() if not re.fullmatch(r"\s*# (BEGIN|END) SOLUTION", line)
    ]
    return "\n".join(re.sub(r"\s*# SOLUTION$", "", line) for line in lines)


def answers(student_nb) -> dict[str, tuple[int, str]]:
    """``{question: (cell index in the learner's notebook, answer)}``: the solution's answer
    for each question of set 01, the planned mistake for :data:`WRONG`."""
    solution = nbformat.read(ROOT / "solutions" / "01_single_head.ipynb", as_version=4)
    out = {}
    for question, (marker, right, wrong) in MISTAKES.items():
        (index,) = [
            i
            for i, c in enumerate(student_nb.cells)
            if c.cell_type == "code" and marker in c.source
        ]
        assert "..." in student_nb.cells[index].source, f"{question}: not a blank answer cell"
        (master,) = [  # the answer cell, not the tests of its question
            c.source
            for c in solution.cells
            if c.cell_type == "code" and marker in c.source and "TEST CONFIG" not in c.source
        ]
        text = learner_answer(master)
        assert right in text, f"{question}: the solution no longer contains {right!r}"
        out[question] = (index, text.replace(right, wrong) if question == WRONG else text)
    return out


def points(text: str) -> tuple[float, float]:
    """``(earned, possible)`` from a feedback page's ``"3 / 5 points"``."""
    earned, possible = re.match(r"\s*([\d.]+) / ([\d.]+)", text).groups()
    return float(earned), float(possible)


def test_release_hand_out_answer_collect_grade_and_feedback(
    class_repository, hub_server, hub_page, tmp_path
):
    page = hub_page

    # 1. The instructor's links (`make links`), set 01's in English.
    printed = run_make(
        "links", f"REPO_URL=file://{class_repository}", f"REF={REF}", f"HUB={hub_server.url}"
    )
    (link,) = [
        line.split("\t")[3]
        for line in printed.splitlines()
        if line.split("\t")[:3] == ["en", "set", SET_01]
    ]

    # 2. The learner follows it, lands in exercise 01 of the clone in their home and answers.
    open_nbgitpuller_link(page, hub_server, link, "30-loop-nbgitpuller-pulls-the-copy")
    saved = hub_server.home / class_repository.name / SET_01  # the clone: the repository's name
    blank = nbformat.read(saved, as_version=4)
    filled = answers(blank)
    page.wait_for_function(LOADED_JS, arg=len(blank.cells))  # the tab shows before its cells
    for question, (index, text) in filled.items():
        if question != WRONG:
            page.evaluate(SET_CELL_JS, [index, text])
    index, wrong = filled[WRONG]
    type_into_cell(page, index, wrong)
    editor = page.locator(f"{CURRENT} .jp-Cell").nth(index).locator(".cm-content")
    assert MISTAKES[WRONG][2] in editor.inner_text()
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    step(page, "31-loop-the-learner-answered-q2-wrong-and-saved")
    on_disk = nbformat.read(saved, as_version=4)
    assert {q: on_disk.cells[i].source for q, (i, _) in filled.items()} == {
        q: text for q, (_, text) in filled.items()
    }

    # 3. Collected as Moodle exports it, with a roster (one student handed nothing in).
    export = tmp_path / "moodle-export"
    (export / FOLDER).mkdir(parents=True)
    shutil.copy2(saved, export / FOLDER / saved.name)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"student_id,match\n{STUDENT},Ada Lovelace\n{ABSENT},Alan Turing\n")

    # 4. `make grade`, one sandbox at a time; its output in tmp_path, not grading_output/.
    out = tmp_path / "graded" / "scores.csv"
    printed = run_make(
        "grade", f"SUBMISSIONS={export}", f"ROSTER={roster}", f"GRADE_ARGS=--out {out}",
        GRADE_JOBS="1",
    )  # fmt: skip
    assert printed.strip().splitlines()[-1] == str(out)

    # 5. The gradebook: that question below full points (partial credit), the others full.
    with open(out.parent / "gradebook.csv", newline="", encoding="utf-8") as f:
        book = {row["student_id"]: row for row in csv.DictReader(f)}
    # Each question's points, as the run recorded them (its set descriptions, for merge).
    possible = json.loads((out.parent / "scores.run.json").read_text())["sets"]["01"]["possible"]
    row = book[STUDENT]
    assert (row["set"], row["status"], row["submission"]) == (
        "01_single_head", "graded", f"{FOLDER}/01_single_head.ipynb"
    )  # fmt: skip
    earned = {q: float(row[q]) for q in possible}
    assert 0 < earned[WRONG] < possible[WRONG], (earned, possible)
    assert {q: p for q, p in earned.items() if q != WRONG} == {
        q: p for q, p in possible.items() if q != WRONG
    }, (earned, possible)
    total = sum(earned.values())
    assert (float(row["total"]), float(row["possible"])) == (total, sum(possible.values()))
    assert book[ABSENT]["status"] == "missing" and book[ABSENT]["total"] == ""

    # 6. The learner's feedback page, in the browser.
    feedback = out.parent / "feedback" / STUDENT / "01_single_head.html"
    sheet = page.context.new_page()
    sheet.goto(feedback.as_uri())
    assert sheet.locator("#student").inner_text() == STUDENT
    assert points(sheet.locator("#total").inner_text()) == (total, sum(possible.values()))
    for question in possible:
        shown = points(sheet.locator(f"#{question} p.points").inner_text())
        assert shown == (earned[question], possible[question]), (question, shown)
    section = sheet.locator(f"#{WRONG}")
    section.scroll_into_view_if_needed()  # on a 1000 px page it shows below the total
    step(sheet, "32-loop-feedback-page-total-and-q2-wrong")
    failed = section.locator("li").all_inner_texts()
    assert failed and all("Failed" in item for item in failed), failed
    assert "All tests passed." not in section.inner_text()
    lost = sum(float(re.search(r"\(([\d.]+) points\)", item).group(1)) for item in failed)
    assert lost == possible[WRONG] - earned[WRONG], (failed, earned[WRONG])
    sheet.close()
