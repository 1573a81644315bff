"""The learner's path in a real browser: `make lab` started as a learner starts it, Debian's
chromium driven by Playwright for Python (never `playwright install`: no browser download).

Run with `make e2e`. The server gets its own JupyterLab settings (autosave off, so Run All
writes nothing into the repository; every cell in the DOM) and a token; the browser is
headless. A failing test leaves a screenshot in build/e2e/ (git-ignored); every step's
screenshot of the run is kept in build/e2e/steps/ (emptied when the run starts).

The hub side (test_handout.py, test_class_loop.py): `make release` of this repository's HEAD
into a local git repository, once per run; per test module, one user's server as a hub
starts it (JupyterLab with nbgitpuller, an empty home) and a browser tab for it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import pytest
from browser_steps import CHROMIUM, REF, ROOT, SHOTS, free_port, lab_settings, run_make, serve


def pytest_sessionstart(session):
    """Each run's screenshots only (a test module's fixtures must not wipe another's): once,
    in the process that starts the run (pytest-xdist's workers share the folder)."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        return
    shutil.rmtree(SHOTS, ignore_errors=True)
    (SHOTS / "steps").mkdir(parents=True)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """`make lab` (the learner's command) with a test port, token and settings."""
    port, token = free_port(), secrets.token_hex(16)
    venv = Path(sys.prefix)
    lab_args = f"{lab_settings(tmp_path_factory)} --port={port} --IdentityProvider.token={token}"
    # `-o STAMP`: the environment is the one running this test (make e2e installed it).
    command = [
        "make",
        "--no-print-directory",
        "-o",
        f"{venv}/.installed",
        "lab",
        f"VENV={venv}",
        f"LAB_ARGS={lab_args}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = tmp_path_factory.mktemp("lab-log") / "lab.log"
    with serve(command, ROOT, log, port, token, env) as handle:
        yield handle


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def page(browser, lab):
    """One browser tab on `make lab`'s start page, kept across the tests as a learner's is."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    # Where `make lab` points the browser: chapter 00, in the server rooted at the repository.
    page.goto(f"{lab.url}/lab/tree/notebooks/00_overview.ipynb?token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def class_repository(tmp_path_factory) -> Path:
    """`make release` of this repository's HEAD into a local git repository (branch REF)."""
    dest = tmp_path_factory.mktemp("class") / "d2lmha-class"
    run_make("release", f"DEST={dest}", f"REPO_URL=file://{dest}", f"REF={REF}")
    return dest


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    """One user's server as a hub starts it: JupyterLab with nbgitpuller, an empty home
    (``.home``); one per test module, so each starts from a learner's first visit."""
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
    """A browser tab for the hub user's server (it opens nothing yet)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    page = item.funcargs.get("page") or item.funcargs.get("hub_page")
    if report.when == "call" and report.failed and page is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"FAILED-{item.name}.png"), full_page=True)
