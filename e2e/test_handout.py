"""Handing the course out on a hub, in a real browser: `make release` writes the students' copy
into a local git repository; a JupyterLab server with nbgitpuller's server extension (what a
JupyterHub runs for each user) rooted at an empty home folder opens the nbgitpuller link that
`make links` prints for exercise set 01; the learner lands in exercise 01 of the copy, whose
file browser shows the chapters and exercises and no `solutions/`.

The link is opened on that one server (``open_nbgitpuller_link``); the copy is cloned with
``repo=file://…`` (nbgitpuller runs ``git clone --depth 1 --branch REF -- REPO``, which takes
a local URL). The release, the server and the tab are conftest.py's fixtures.
"""

from __future__ import annotations

import subprocess

from browser_steps import REF, listing_item, open_nbgitpuller_link, step

from tools.links import links

SET_01 = "exercises/01_single_head.ipynb"


def test_the_nbgitpuller_link_lands_in_exercise_01_of_the_students_copy(
    class_repository, hub_server, hub_page
):
    page = hub_page
    made = links(f"file://{class_repository}", REF)
    link = made.nbgitpuller(hub_server.url, SET_01)
    open_nbgitpuller_link(page, hub_server, link, "20-nbgitpuller-pulls-the-students-copy")
    path = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
    assert path == f"{made.repo_dir}/{SET_01}"
    page.wait_for_selector('.jp-NotebookPanel .jp-RenderedMarkdown h1:has-text("Exercises 01")')
    step(page, "21-nbgitpuller-link-opens-exercise-01")

    # The clone in the learner's home: the students' copy, one commit, no solutions.
    clone = hub_server.home / made.repo_dir
    assert (clone / SET_01).is_file() and not (clone / "solutions").exists()
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert log.stdout.count("\n") == 1 and "students' copy" in log.stdout

    # The file browser, as the learner sees it: the copy's root has no solutions/.
    page.click(".jp-BreadCrumbs-home")
    listing_item(page, made.repo_dir).dblclick()
    page.wait_for_selector(f'.jp-BreadCrumbs:has-text("{made.repo_dir}")')
    listing_item(page, "exercises").wait_for()
    names = {n.strip() for n in page.locator(".jp-DirListing-itemText").all_inner_texts()}
    step(page, "22-the-students-copy-in-the-file-browser")
    assert {"notebooks", "exercises", "d2lmha", "README.md"} <= names, names
    assert not names & {"solutions", "tests", "docs", "build"}, names
