"""Lint and format: ruff on the code, nbqa + ruff on the notebooks (config: pyproject.toml).

`make format` fixes what can be fixed mechanically (ruff's formatter and safe fixes).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ["d2lmha", "tests", "benchmarks", "tools", "e2e", "conftest.py"]
NOTEBOOKS = ["notebooks", "exercises", "solutions"]


def _run(*args):
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)
    return done.returncode, (done.stdout + done.stderr)[-5000:]


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "--no-cache", *CODE),
        ("ruff", "format", "--no-cache", "--check", *CODE),
        ("nbqa", "ruff", *NOTEBOOKS, "--no-cache"),
    ],
    ids=["ruff check", "ruff format", "nbqa ruff"],
)
def test_lint_is_clean(command):
    code, output = _run(*command)
    assert code == 0, f"{' '.join(command)} (fix with `make format` where it can):\n{output}"
