"""Honest packaging: every imported package is declared, the declared Python is the tested
one, and building the package prints no setuptools warning and ships every module and file."""

import ast
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import nbformat
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SOURCE_DIRS = ("d2lmha", "tests", "benchmarks", "tools", "e2e")
# The project's own packages, and the helper modules its tests import by name (tests/*.py,
# e2e/*.py: pytest puts their folders on sys.path).
LOCAL = {"d2lmha", "tests", "benchmarks", "tools", "conftest"} | {
    path.stem for folder in ("tests", "e2e") for path in (ROOT / folder).glob("*.py")
}
NOTEBOOK_DIRS = ("notebooks", "exercises", "solutions")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    requirements = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        requirements += extra
    return {_normalize(re.match(r"[A-Za-z0-9_.\-]+", r).group(0)) for r in requirements}


def _top_level_imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def imported_modules() -> dict[str, str]:
    """Every top-level module imported by the code and the notebooks -> one file importing it."""
    from IPython.core.inputtransformer2 import TransformerManager

    found: dict[str, str] = {}
    files = [ROOT / "conftest.py"]
    for folder in SOURCE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    for path in files:
        for name in _top_level_imports(path.read_text()):
            found.setdefault(name, str(path.relative_to(ROOT)))
    transform = TransformerManager().transform_cell  # %magics -> plain Python
    for folder in NOTEBOOK_DIRS:
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type == "code":
                    for name in _top_level_imports(transform(cell.source)):
                        found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared():
    providers = metadata.packages_distributions()  # module -> installed distributions
    declared = declared_distributions()
    undeclared = {}
    for module, where in imported_modules().items():
        if module in sys.stdlib_module_names or module in LOCAL or module.startswith("mistakes_"):
            continue
        dists = {_normalize(d) for d in providers.get(module, [])}
        if not dists & declared:
            undeclared[module] = (where, sorted(dists) or "not installed")
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_declared_python_is_the_tested_one():
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert Version(running) in SpecifierSet(PROJECT["requires-python"])
    # tomllib (used by the tests) is new in 3.11: nothing older may be declared.
    assert Version("3.10") not in SpecifierSet(PROJECT["requires-python"])
    assert f"Programming Language :: Python :: {running}" in PROJECT["classifiers"]


def test_wheel_builds_without_warnings_and_ships_everything(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    # Python warning classes (SetuptoolsDeprecationWarning, BuildBackendWarning, ...) and
    # pip's "WARNING:" lines; distutils' "warning: byte-compiling is disabled" is not one.
    warnings = [
        line
        for line in log.splitlines()
        if re.search(r"[A-Za-z]Warning\b|WARNING:", line)
        and "is ignored: it is neither" not in line
    ]  # a local pip index absent here
    assert warnings == [], "\n".join(warnings)
    (wheel,) = tmp_path.glob("d2lmha-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "d2lmha").rglob("*.py")}
    data = {str(p.relative_to(ROOT)) for p in (ROOT / "d2lmha" / "data").iterdir()}
    assert modules | data <= names, sorted((modules | data) - names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "License-Expression: MIT" in zipfile.ZipFile(wheel).read(meta).decode()
