"""What a learner does in JupyterLab, in a real browser (see conftest.py), in order:
open the course with `make lab`, find the folders, follow a chapter's link to its exercise,
Run All on every chapter, move the live head viewer, and check an exercise answer."""

from __future__ import annotations

import re
import time

import nbformat
import pytest
from browser_steps import (
    CURRENT,
    ROOT,
    broken_images,
    close_current_notebook,
    current_tab_is,
    listing_item,
    open_from_file_browser,
    run_all_and_wait,
    step,
    type_into_cell,
)

from tests.mistakes_01 import MISTAKES

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_make_lab_opens_chapter_00_and_every_folder_is_reachable(page):
    current_tab_is(page, "00_overview.ipynb")
    step(page, "01-make-lab-opens-chapter-00")
    page.click(".jp-BreadCrumbs-home")
    listing_item(page, "exercises").wait_for()
    names = [n.strip() for n in page.locator(".jp-DirListing-itemText").all_inner_texts()]
    step(page, "02-file-browser-at-the-repository-root")
    assert {"notebooks", "exercises", "solutions"} <= set(names), names


def test_chapter_01_links_to_its_exercise(page):
    open_from_file_browser(page, "notebooks/01_single_head_attention.ipynb")
    target = "/files/exercises/01_single_head.ipynb"  # JupyterLab resolves ../exercises/...
    link = page.locator(f'{CURRENT} .jp-RenderedMarkdown a[href*="{target}"]')
    link.first.scroll_into_view_if_needed()
    step(page, "03-chapter-01-exercise-link")
    link.first.click()
    current_tab_is(page, "01_single_head.ipynb")
    page.wait_for_selector(f'{CURRENT} .jp-RenderedMarkdown h1:has-text("Exercises 01")')
    step(page, "04-exercise-01-opened-from-the-link")
    close_current_notebook(page)  # the exercise (its own test opens it again)
    close_current_notebook(page)  # chapter 01


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_run_all_gives_no_error_and_every_figure_renders(page, chapter):
    committed = sum(
        1
        for c in nbformat.read(chapter, as_version=4).cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    )
    open_from_file_browser(page, f"notebooks/{chapter.name}")
    started = time.monotonic()
    summary = run_all_and_wait(page)
    seconds = time.monotonic() - started
    print(f"{chapter.name}: Run All {seconds:.1f} s, {summary['images']} figures")
    page.locator(f"{CURRENT} .jp-Cell").last.scroll_into_view_if_needed()
    step(page, f"05-run-all-{chapter.stem}")
    assert summary["errors"] == [], summary["errors"]
    assert summary["stderr"] == [], summary["stderr"]
    assert summary["pending"] == 0, f"{summary['pending']} code cells did not run"
    assert summary["images"] >= committed > 0 or committed == 0
    assert broken_images(page) == []
    if chapter.name.startswith("04_"):
        check_the_head_viewer_is_live(page)
    close_current_notebook(page)


def test_a_chinese_chapter_runs_and_its_figures_have_every_glyph(page):
    """中文版: chapter 01 in Chinese, opened from the file browser and Run All. A figure label
    with a glyph missing from matplotlib's fonts would print "Glyph ... missing from font" on
    stderr; the prose is checked to be Chinese, and the figures to render."""
    chapter = ROOT / "notebooks" / "zh" / "01_single_head_attention.ipynb"
    code = [c.source for c in nbformat.read(chapter, as_version=4).cells if c.cell_type == "code"]
    assert any(re.search(r"[\u4e00-\u9fff]", s) for s in code)  # its figures label in Chinese
    open_from_file_browser(page, "notebooks/zh/01_single_head_attention.ipynb")
    heading = page.locator(f"{CURRENT} .jp-RenderedMarkdown h1").first.inner_text()
    assert re.search(r"[\u4e00-\u9fff]", heading), heading
    summary = run_all_and_wait(page)
    figure = page.locator(f"{CURRENT} .jp-OutputArea img").first
    figure.scroll_into_view_if_needed()
    step(page, "10-zh-chapter-01-figure")
    assert summary["errors"] == [], summary["errors"]
    assert summary["stderr"] == [], summary["stderr"]  # no "missing from font" warning
    assert summary["pending"] == 0 and summary["images"] > 0, summary
    assert broken_images(page) == []
    close_current_notebook(page)


def check_the_head_viewer_is_live(page):
    """Chapter 04's viewer: a widget (not a text repr) whose heatmap follows the layer slider."""
    viewer = page.locator(f"{CURRENT} .widget-vbox:has(.widget-output)").first
    viewer.scroll_into_view_if_needed()
    slider = viewer.locator('.widget-slider:has(.widget-label:text-is("layer"))')
    image = viewer.locator(".widget-output img").first
    image.wait_for()
    before = image.get_attribute("src")
    layer = int(slider.locator(".widget-readout").inner_text())
    step(page, "06-chapter-04-viewer-before-the-slider-moves")
    slider.locator(".noUi-handle, .slider-handle, [role=slider]").first.focus()
    page.keyboard.press("ArrowRight" if layer < 5 else "ArrowLeft")
    page.wait_for_function(
        """([root, src]) => { const img = document.querySelector(root);
                             return img && img.src !== src; }""",
        arg=[f"{CURRENT} .widget-output img", before],
        timeout=60_000,
    )
    step(page, "07-chapter-04-viewer-after-the-layer-slider-moved")
    moved = int(slider.locator(".widget-readout").inner_text())
    assert moved == (layer + 1 if layer < 5 else layer - 1), (layer, moved)
    assert viewer.locator(".widget-output img").count() == 1  # one live figure, redrawn
    assert page.locator(f'{CURRENT} .jp-OutputArea-output:text-matches("^VBox\\\\(")').count() == 0


def _answer_cell_index(nb, marker: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and marker in c.source)


def _run_cell_and_next(page, index: int) -> str:
    """Shift+Enter on cell ``index`` (the answer) and on the next (its grader.check);
    returns the check's output text."""
    cell = page.locator(f"{CURRENT} .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    check = page.locator(f"{CURRENT} .jp-Cell").nth(index + 1)
    page.keyboard.press("Shift+Enter")
    output = check.locator(".jp-OutputArea-output").first
    output.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
        " === 'idle'",
        timeout=120_000,
    )
    return check.locator(".jp-OutputArea").inner_text()


def test_exercise_01_q1_right_answer_passes_and_wrong_answer_fails(page):
    student = nbformat.read(ROOT / "exercises" / "01_single_head.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / "01_single_head.ipynb", as_version=4)
    marker, right_text, wrong_text = MISTAKES["q1"]
    right = solution.cells[_answer_cell_index(solution, marker)].source
    assert right_text in right
    wrong = right.replace(right_text, wrong_text)
    index = _answer_cell_index(student, marker)
    assert 'grader.check("q1")' in student.cells[index + 1].source

    open_from_file_browser(page, "exercises/01_single_head.ipynb")
    run_all_and_wait(page)  # the set-up cells; blank answers leave the checks failing
    type_into_cell(page, index, right)
    passed = _run_cell_and_next(page, index)
    step(page, "08-exercise-01-q1-right-answer")
    assert "q1 passed!" in passed and "failed" not in passed.lower(), passed

    type_into_cell(page, index, wrong)
    failed = _run_cell_and_next(page, index)
    step(page, "09-exercise-01-q1-wrong-answer")
    assert "q1 results:" in failed and "q1 passed!" not in failed, failed
    close_current_notebook(page)


def test_the_run_left_the_repository_unchanged():
    import subprocess

    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "notebooks", "exercises", "solutions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    assert status == "", status
