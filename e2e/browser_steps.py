"""Shared by the e2e fixtures and tests: where things are, a screenshot per step, a make
target run as the instructor runs it, a built folder served on 127.0.0.1, a JupyterLab server
for a test (its settings, port, token and REST API), and what a learner does on a JupyterLab
page."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "e2e"  # git-ignored (build/)
REF = "fall-2026"  # the branch of the students' copy that the hub tests hand out


def step(page, name: str) -> None:
    """Keep a screenshot of what the learner sees now (build/e2e/steps/NAME.png)."""
    (SHOTS / "steps").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "steps" / f"{name}.png"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request in the test's output
        pass


@contextlib.contextmanager
def serve_folder(folder: Path):
    """``folder`` served by Python's http.server on 127.0.0.1 (a free port), in a thread, for
    the ``with`` block; yields its URL (``http://127.0.0.1:PORT``)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def run_make(target: str, *variables: str, **env: str) -> str:
    """`make TARGET VAR=value…` in the repository, on this test's virtual environment (taken
    as installed: ``-o STAMP``); returns its stdout. Fails with make's output."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", f"{sys.prefix}/.installed", target,
         f"VENV={sys.prefix}", *variables],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env},
    )  # fmt: skip
    assert done.returncode == 0, f"make {target}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
SETTINGS = {  # JupyterLab user settings for the test server
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab server (`make lab`, or a hub user's): its URL, token, REST API."""

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


def lab_settings(tmp_path_factory) -> str:
    """``jupyter lab`` arguments for a test server: its own user settings (:data:`SETTINGS`)
    and workspaces, no browser (the port and token are added by :func:`serve`)."""
    settings = tmp_path_factory.mktemp("lab-settings")
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    return (
        f"--no-browser --LabApp.user_settings_dir={settings} --LabApp.expose_app_in_browser=True "
        f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('workspaces')}"
    )


@contextlib.contextmanager
def serve(command, cwd: Path, log_path: Path, port: int, token: str, env=None):
    """Run ``command`` (a JupyterLab server on ``port`` with ``token``) until the block ends;
    yields its :class:`Lab` once its REST API answers (fails the test after 120 s)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: `make e2e` installs Debian's chromium")
    log = open(log_path, "w+")
    server = subprocess.Popen(
        command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    handle = Lab(f"http://127.0.0.1:{port}", token)
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                handle.api("status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"the JupyterLab server did not start:\n{log.read()[-3000:]}")
                time.sleep(0.5)
        yield handle
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # make, jupyter lab and its kernels
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


# What a learner does on a JupyterLab page.
RUN_ALL_TIMEOUT = 600  # seconds per chapter; the house rule is well under 60 s on 2 cores
CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"
# Reads the current notebook's model: what each code cell shows after a run.
SUMMARY_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const out = {path: panel.context.path, pending: 0, errors: [], stderr: [], images: 0,
               status: panel.sessionContext.session?.kernel?.status ?? "none"};
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== "code") continue;
    if (cell.executionCount === null) out.pending += 1;
    for (const o of cell.outputs.toJSON()) {
      if (o.output_type === "error") out.errors.push([i, o.ename + ": " + o.evalue]);
      if (o.output_type === "stream" && o.name === "stderr")
        out.stderr.push([i, String(o.text).slice(0, 300)]);
      if (o.data && o.data["image/png"]) out.images += 1;
    }
  }
  return out;
}"""


def click_menu(page, menu: str, item: str) -> None:
    page.click(f'.lm-MenuBar-itemLabel:text-is("{menu}")')
    page.click(f'.lm-Menu-itemLabel:text-is("{item}")')


def listing_item(page, name: str):
    """The file browser's row for ``name`` in the folder it shows."""
    text = page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator(".jp-DirListing-item", has=text)


def open_from_file_browser(page, path: str, attempts: int = 3) -> None:
    """Click the home folder, then double-click each part of ``path`` in the file browser.

    A click that lands while the listing is being redrawn (it refreshes every few seconds,
    and slowly on a loaded machine) can be lost, or overtaken by the folder change it raced
    (CI once saw the listing stay in notebooks/zh after the home click): a learner would
    start again from the home folder, and so do we, up to ``attempts`` times."""
    *folders, name = path.split("/")
    for attempt in range(attempts):
        try:
            page.click(".jp-BreadCrumbs-home")
            for part in folders:
                listing_item(page, part).dblclick(timeout=20_000)
                page.wait_for_selector(f'.jp-BreadCrumbs:has-text("{part}")', timeout=30_000)
            listing_item(page, name).dblclick(timeout=20_000)
            current_tab_is(page, name, timeout=30_000)
            return
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                raise


def current_tab_is(page, name: str, timeout: float = 60_000) -> None:
    page.wait_for_selector(
        f'.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current:has-text("{name}")', timeout=timeout
    )
    page.wait_for_selector(f"{CURRENT} .jp-Cell", timeout=timeout)


def open_nbgitpuller_link(page, server: Lab, link: str, shot: str) -> None:
    """Open ``link``, a hub's nbgitpuller link as `make links` prints it, on ``server``, one
    user's server; wait until the notebook it names is the current tab (minutes at most).

    On a hub the link is ``HUB/hub/user-redirect/git-pull?…``, which the hub redirects to the
    user's server as ``/user/NAME/git-pull?…``; a single server answers ``/git-pull?…``
    itself, so the hub part is taken off. ``shot``: the screenshot of the pull under way."""
    local = link.replace("/hub/user-redirect", "", 1)
    assert local.startswith(f"{server.url}/git-pull?repo="), local
    page.goto(f"{local}&token={quote(server.token)}")
    step(page, shot)
    name = PurePosixPath(parse_qs(urlsplit(link).query)["urlpath"][0]).name
    current_tab_is(page, name, timeout=180_000)


def type_into_cell(page, index: int, text: str) -> None:
    """Replace the source of the current notebook's cell ``index`` with ``text`` through its
    editor: click into it, select all, and enter ``text`` as pasted (no auto-indent)."""
    cell = page.locator(f"{CURRENT} .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def run_all_and_wait(page, timeout: float = RUN_ALL_TIMEOUT) -> dict:
    """Run → Run All Cells; wait until the kernel is idle and no cell is queued ([*])."""
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status"
        " === 'idle'",
        timeout=120_000,
    )
    click_menu(page, "Run", "Run All Cells")
    deadline = time.monotonic() + timeout
    time.sleep(1)
    while time.monotonic() < deadline:
        summary = page.evaluate(SUMMARY_JS)
        queued = page.locator(f'{CURRENT} .jp-InputPrompt:has-text("[*]")').count()
        if summary["status"] == "idle" and queued == 0:
            time.sleep(1)  # outputs of the last cell reach the page
            return page.evaluate(SUMMARY_JS)
        time.sleep(1)
    raise AssertionError(f"Run All did not finish in {timeout} s: {page.evaluate(SUMMARY_JS)}")


def broken_images(page) -> list[str]:
    return page.evaluate(f"""() => Array.from(document.querySelectorAll(
        '{CURRENT} .jp-OutputArea img')).filter(i => !(i.complete && i.naturalWidth > 0))
        .map(i => i.src.slice(0, 80))""")


def close_current_notebook(page) -> None:
    """Kernel → Shut Down Kernel, then File → Close Tab, discarding the run's outputs."""
    click_menu(page, "Kernel", "Shut Down Kernel")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.sessionContext.session")
    path = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
    click_menu(page, "File", "Close Tab")
    # Either the tab goes, or (outputs changed) a dialog asks first, late on a loaded machine:
    # wait for one of the two, so that no dialog is left to swallow the next test's clicks.
    page.wait_for_function(
        """(path) => document.querySelector('.jp-Dialog')
                     || window.jupyterapp.shell.currentWidget?.context?.path !== path""",
        arg=path,
        timeout=60_000,
    )
    discard = page.locator('.jp-Dialog button:has-text("Discard")')
    if discard.count():
        discard.click()
        page.wait_for_selector(".jp-Dialog", state="detached", timeout=60_000)
