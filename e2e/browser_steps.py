"""Shared by the e2e fixtures and tests: where things are, and a screenshot per step."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "e2e"  # git-ignored (build/)


def step(page, name: str) -> None:
    """Keep a screenshot of what the learner sees now (build/e2e/steps/NAME.png)."""
    (SHOTS / "steps").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "steps" / f"{name}.png"))
