"""Handing the course out on a hub, in a real browser: `make release` writes the students' copy
into a local git repository; a JupyterLab server with nbgitpuller's server extension (what a
JupyterHub runs for each user) rooted at an empty home folder opens the nbgitpuller link that
`make links` prints for exercise set 01; the learner lands in exercise 01 of the copy, whose
file browser shows the chapters and exercises and no `solutions/`.

On a hub the link is ``HUB/hub/user-redirect/git-pull?…``, which the hub redirects to the
user's server as ``/user/NAME/git-pull?…``; a single server answers ``/git-pull?…`` itself, so
the test opens the link with the hub part taken off. The copy is cloned with ``repo=file://…``
(nbgitpuller runs ``git clone --depth 1 --branch REF -- REPO``, which takes a local URL).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from browser_steps import ROOT, free_port, lab_settings, serve, step
from browser_steps import current_tab_is, listing_item

from tools.links import links

REF = "fall-2026"
SET_01 = "exercises/01_single_head.ipynb"


@pytest.fixture(scope="module")
def class_repository(tmp_path_factory) -> Path:
    """`make release` of this repository's HEAD into a local git repository."""
    dest = tmp_path_factory.mktemp("class") / "d2lmha-class"
    subprocess.run(
        ["make", "--no-print-directory", "-o", f"{sys.prefix}/.installed", "release",
         f"VENV={sys.prefix}", f"DEST={dest}", f"REPO_URL=file://{dest}", f"REF={REF}"],
        cwd=ROOT, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    """One user's server as a hub starts it: JupyterLab with nbgitpuller, an empty home."""
    home = tmp_path_factory.mktemp("home")
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab", *lab_settings(tmp_path_factory).split(),
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}",
    ]  # fmt: skip
    if os.getuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path_factory.mktemp("hub-log") / "lab.log"
    with serve(command, home, log, port, token, env) as lab:
        lab.home = home
        yield lab


@pytest.fixture(scope="module")
def hub_page(browser, hub_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def test_the_nbgitpuller_link_lands_in_exercise_01_of_the_students_copy(
    class_repository, hub_server, hub_page
):
    page = hub_page
    made = links(f"file://{class_repository}", REF)
    link = made.nbgitpuller(hub_server.url, SET_01).replace("/hub/user-redirect", "", 1)
    assert link.startswith(f"{hub_server.url}/git-pull?repo=file://")
    page.goto(f"{link}&token={quote(hub_server.token)}")
    step(page, "20-nbgitpuller-pulls-the-students-copy")
    current_tab_is(page, "01_single_head.ipynb", timeout=180_000)
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
