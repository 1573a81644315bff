"""The set-up promises: pyproject, environment.yml and Binder's environment agree; no CUDA
wheels on a CPU install."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import torch
import yaml

from d2lmha.editions import TRANSLATED

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _name_and_spec(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", requirement)
    assert match, requirement
    name = match.group(1).lower().replace("_", "-")
    return CONDA_NAMES.get(name, name), match.group(2).replace(" ", "")


def pyproject_requirements(extras=None) -> dict[str, str]:
    """Name -> version spec of the dependencies and the given extras (all when None)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if extras is None or name in extras:
            requirements += extra
    return dict(_name_and_spec(r) for r in requirements)


def conda_requirements(path=ROOT / "environment.yml") -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge"]
    entries = []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            entries += [p for p in item["pip"] if not p.startswith("-e")]
        elif not item.startswith(("python=", "pip")) or item.startswith("pip:"):
            entries.append(item)
    return dict(
        _name_and_spec(e.replace("=", "==", 1) if re.search(r"[^<>=!]=[^=]", e) else e)
        for e in entries
    )


def test_environment_yml_matches_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_binder_installs_only_what_learners_need():
    """Binder: the course, JupyterLab, grader.check (otter) and the 中文 edition's font; no test,
    lint or browser tools."""
    binder = ROOT / "binder"
    assert conda_requirements(binder / "environment.yml") == pyproject_requirements(
        extras={"lab", "grade", *(e.extra for e in TRANSLATED.values() if e.extra)}
    )
    assert "pip install --no-deps" in (binder / "postBuild").read_text()
    assert (binder / "postBuild").stat().st_mode & 0o111  # executable, as repo2docker needs


def test_no_cuda_wheels_on_a_cpu_build():
    if torch.version.cuda is not None:
        pytest.skip("a CUDA build of torch legitimately brings nvidia-* packages")
    cuda = sorted(
        d.metadata["Name"]
        for d in metadata.distributions()
        if (d.metadata["Name"] or "").lower().startswith("nvidia")
    )
    assert cuda == []


def test_kernel_is_not_one_that_stalls_notebook_runs():
    """ipykernel 7.0-7.3 could leave a shell request unread, so that an nbval or nbconvert run
    stalled with client and kernel both idle (chapter 04's widgets made it likely; reproduce
    with ``python -m tools.kernel_stall``). pyproject requires 7.4 or later."""
    from packaging.version import Version

    version = Version(metadata.version("ipykernel"))
    assert not Version("7.0") <= version < Version("7.4"), f"ipykernel {version}"
