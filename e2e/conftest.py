"""The learner's path in a real browser: `make lab` started as a learner starts it, Debian's
chromium driven by Playwright for Python (never `playwright install`: no browser download).

Run with `make e2e`. The server gets its own JupyterLab settings (autosave off, so Run All
writes nothing into the repository; every cell in the DOM) and a token; the browser is
headless. A failing test leaves a screenshot in build/e2e/ (git-ignored); every step's
screenshot is kept in build/e2e/steps/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_steps import ROOT, SHOTS

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
SETTINGS = {  # JupyterLab user settings for the test server
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running `make lab`: its URL, token, and the REST API."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def api(self, path: str):
        request = urllib.request.Request(
            f"{self.url}/api/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def kernels_idle(self) -> bool:
        kernels = self.api("kernels")
        return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """`make lab` (the learner's command) with a test port, token and settings."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: `make e2e` installs Debian's chromium")
    settings = tmp_path_factory.mktemp("lab-settings")
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    venv = Path(sys.prefix)
    lab_args = (
        f"--no-browser --port={port} --IdentityProvider.token={token} "
        f"--LabApp.user_settings_dir={settings} --LabApp.expose_app_in_browser=True "
        f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('workspaces')}"
    )
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
    log = open(tmp_path_factory.mktemp("lab-log") / "lab.log", "w+")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    handle = Lab(f"http://127.0.0.1:{port}", token)
    deadline = time.monotonic() + 120
    while True:
        try:
            handle.api("status")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"`make lab` did not start:\n{log.read()[-3000:]}")
            time.sleep(0.5)
    yield handle
    os.killpg(server.pid, signal.SIGTERM)  # make, jupyter lab and its kernels
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    log.close()


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
    shutil.rmtree(SHOTS, ignore_errors=True)
    (SHOTS / "steps").mkdir(parents=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    # Where `make lab` points the browser: chapter 00, in the server rooted at the repository.
    page.goto(f"{lab.url}/lab/tree/notebooks/00_overview.ipynb?token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
    yield page
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    page = item.funcargs.get("page")
    if report.when == "call" and report.failed and page is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"FAILED-{item.name}.png"), full_page=True)
