"""Shared by the e2e fixtures and tests: where things are, a screenshot per step, and a
JupyterLab server for a test (its settings, port, token and REST API)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "e2e"  # git-ignored (build/)


def step(page, name: str) -> None:
    """Keep a screenshot of what the learner sees now (build/e2e/steps/NAME.png)."""
    (SHOTS / "steps").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "steps" / f"{name}.png"))


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
