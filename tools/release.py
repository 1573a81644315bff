"""The students' copy of the course: a new git repository to hand out, without the answers.

    python -m tools.release DEST REPO_URL REF [--rev REV]
    make release DEST=dir REPO_URL=url REF=ref

Writes ``DEST`` (a new folder) from the commit ``REV`` (default ``HEAD``: what is committed,
never uncommitted edits) as one commit, without history, on a branch named ``REF``:

* kept (:data:`INCLUDE`): the chapters (``notebooks/``) and the student notebooks
  (``exercises/``), both editions; the package ``d2lmha/``; ``Makefile``, ``README.md``,
  ``pyproject.toml``, ``conftest.py``, ``environment.yml``, ``binder/``, ``LICENSE``,
  ``.gitignore``;
* left out: ``solutions/`` (the answers and every hidden test), ``tests/`` (the planned
  mistakes ``tests/mistakes_*``), ``docs/`` (the instructor's guide), ``translations/``,
  ``tools/``, ``benchmarks/``, ``e2e/``, and anything untracked (``build/``: otter's
  autograder zips and the grading plans);
* in ``Makefile`` and ``README.md``, the blocks between :data:`BEGIN` and :data:`END`
  markers (the instructor's targets and sections) are dropped;
* every link is rewritten for ``REPO_URL`` at ``REF`` by :func:`tools.links.links`: each
  notebook's set-up cell (``pip install git+REPO_URL@REF``), each chapter's Colab and Binder
  links, the README's table, and ``pyproject.toml``'s ``Repository`` and ``[tool.d2lmha] ref``.

It refuses to finish (and says what) when a relative link in the copy points at a file it
does not have, or when a solution notebook's hidden test appears in it. In the copy,
``make lab`` opens the course and ``make test`` runs every chapter and blank exercise set of
both editions under nbval. Push it with ``git -C DEST push REPO_URL REF``.

When the course changes during a term, release again into a clone of the class repository
(``git clone REPO_URL DEST``): the new copy becomes one more commit on ``REF``, which
learners' clones merge (a new one-commit repository would not merge into them).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat

from tools import notebooks
from tools.links import Links, links

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = (
    "notebooks",
    "exercises",
    "d2lmha",
    "Makefile",
    "README.md",
    "pyproject.toml",
    "conftest.py",
    "environment.yml",
    "binder",
    "LICENSE",
    ".gitignore",
)
# Lines that open and close a block the students' copy leaves out (Makefile, README).
BEGIN = re.compile(r"^\s*(#|<!--) instructor only\b.*$")
END = re.compile(r"^\s*(#|<!--) end instructor only\b.*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
AUTHOR = ["-c", "user.name=d2lmha release", "-c", "user.email=release@d2lmha.invalid"]


def _git(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, **kwargs)


def drop_instructor_blocks(text: str, where: str = "text") -> str:
    """``text`` without the lines from each :data:`BEGIN` marker to its :data:`END` marker,
    both included (and without the second of two empty lines that meet where a block was).

    Raises:
        ValueError: an unclosed, unopened or nested block, naming ``where`` and the line.
    """
    out, inside, after_block = [], None, False
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if BEGIN.match(line):
            if inside is not None:
                raise ValueError(f"{where}:{number}: instructor block opened inside another")
            inside = number
        elif END.match(line):
            if inside is None:
                raise ValueError(f"{where}:{number}: instructor block closed but never opened")
            inside, after_block = None, True
            continue
        elif inside is None:
            blank_twice = not line.strip() and out and not out[-1].strip()
            if not (after_block and blank_twice):  # no empty line doubled where a block was
                out.append(line)
        after_block = False
    if inside is not None:
        raise ValueError(f"{where}:{inside}: instructor block never closed")
    return "".join(out)


def point_pyproject_at(text: str, made: Links) -> str:
    """``pyproject.toml``'s text with ``Repository`` and ``[tool.d2lmha] ref`` set to
    ``made``'s, so the copy's own ``make notebook-meta`` would make the same links.

    Raises:
        ValueError: either setting is missing.
    """
    for key, value in (("Repository", made.repo_url), ("ref", made.ref)):
        text, count = re.subn(
            rf'^{key} = ".*"$', f"{key} = {json.dumps(value)}", text, count=1, flags=re.M
        )
        if count != 1:
            raise ValueError(f'pyproject.toml has no `{key} = "..."` line')
    return text


def hidden_tests(root: Path = ROOT) -> dict[str, str]:
    """``{"solutions/01_x.ipynb cell ID": code}``: each hidden test's code (the test cell
    below its ``hidden: true`` config) in the solution notebooks of both editions."""
    found = {}
    for path in sorted((root / "solutions").glob("**/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            config, _, code = cell.source.partition("# END TEST CONFIG")
            if cell.cell_type == "code" and re.search(r"^hidden:\s*true\s*$", config, re.M):
                found[f"{path.relative_to(root).as_posix()} cell {cell.id}"] = code.strip()
    return found


def searchable_text(path: Path) -> str:
    """A file's text as a search for leaked code needs it: a notebook's every string
    (cell sources, outputs, metadata such as otter's stored tests) joined by newlines, so
    code split into JSON lines reads whole again; other files as text ("" if binary)."""
    data = path.read_bytes()
    if path.suffix == ".ipynb":
        strings: list[str] = []

        def walk(node):
            if isinstance(node, str):
                strings.append(node)
            elif isinstance(node, list) and all(isinstance(x, str) for x in node):
                strings.append("".join(node))
            elif isinstance(node, list):
                for x in node:
                    walk(x)
            elif isinstance(node, dict):
                for x in node.values():
                    walk(x)

        walk(json.loads(data))
        return "\n".join(strings)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def leaks(dest: Path, root: Path = ROOT) -> list[str]:
    """Where in ``dest`` a hidden test of ``root``'s solutions appears (its whole code, or
    its ``def test_…(`` line): ``["exercises/01_x.ipynb: solutions/01_x.ipynb cell ID"]``."""
    tests = hidden_tests(root)
    signatures = {
        name: match.group(0)
        for name, code in tests.items()
        if (match := re.search(r"^def \w+\(", code, re.M))
    }
    found = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts):
        text = searchable_text(path)
        for name, code in tests.items():
            if code in text or (name in signatures and signatures[name] in text):
                found.append(f"{path.relative_to(dest).as_posix()}: {name}")
    return found


def dangling_links(dest: Path) -> list[str]:
    """Relative links in the copy's README and notebooks whose target it does not have."""
    texts = [(dest / "README.md", (dest / "README.md").read_text(encoding="utf-8"))]
    for path in sorted(dest.glob("*/**/*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        texts.append((path, "\n".join(c.source for c in cells if c.cell_type == "markdown")))
    missing = []
    for path, text in texts:
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:|#", target):
                continue
            if not (path.parent / target.split("#")[0]).resolve().exists():
                missing.append(f"{path.relative_to(dest).as_posix()} → {target}")
    return missing


def _previous_release(dest: Path, ref: str) -> bool:
    """True when ``dest`` is a git repository on branch ``ref`` with nothing uncommitted
    (a clone of the class repository: the copy is updated there); False when ``dest`` is
    missing or empty.

    Raises:
        ValueError: ``dest`` is anything else.
    """
    if not dest.exists() or not any(dest.iterdir()):
        return False
    if (dest / ".git").exists():
        branch = _git("branch", "--show-current", cwd=dest, text=True).stdout.strip()
        dirty = _git("status", "--porcelain", cwd=dest, text=True).stdout
        if branch == ref and not dirty:
            return True
    raise ValueError(
        f"dest must be a new or empty folder, or a clone of the class repository on branch "
        f"{ref} with nothing uncommitted (to update the copy), and {dest} is neither"
    )


def release(dest: Path, repo_url: str, ref: str, rev: str = "HEAD", root: Path = ROOT) -> str:
    """Write the students' copy of ``root`` at commit ``rev`` into ``dest`` (see the module's
    docstring); returns the copy's commit id.

    ``dest`` is a new (or empty) folder: it becomes a git repository with one commit on
    branch ``ref``. Or it is a clone of the class repository, on branch ``ref`` and clean:
    its files are replaced by the new copy in one more commit, so each learner's clone
    (nbgitpuller, ``git pull``) merges the update into their work.

    Raises:
        ValueError: ``repo_url`` or ``ref`` refused by :func:`tools.links.links`; ``dest`` is
            neither of the above; a dangling link or a hidden test in the copy (then nothing
            is committed: a new ``dest`` is removed, a clone reset to its last commit).
        subprocess.CalledProcessError: ``rev`` is not a commit of ``root``.
    """
    made = links(repo_url, ref)
    dest = Path(dest).resolve()
    update = _previous_release(dest, ref)
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}", cwd=root, text=True).stdout
    archive = _git("archive", "--format=tar", commit.strip(), "--", *INCLUDE, cwd=root).stdout
    dest.mkdir(parents=True, exist_ok=True)
    try:
        for old in dest.iterdir():  # an update: the previous copy's files go
            if old.name != ".git":
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        for name in ("Makefile", "README.md"):
            path = dest / name
            path.write_text(
                drop_instructor_blocks(path.read_text(encoding="utf-8"), name), encoding="utf-8"
            )
        readme = dest / "README.md"
        readme.write_text(notebooks.readme(readme.read_text(encoding="utf-8"), dest, made))
        pyproject = dest / "pyproject.toml"
        pyproject.write_text(point_pyproject_at(pyproject.read_text(encoding="utf-8"), made))
        for path in notebooks.all_notebooks(dest):
            nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
            nb = notebooks.add_setup(nb, path, dest, made)
            nb = notebooks.add_slides(nb, path, dest)
            nbformat.write(nb, path)
        problems = [f"dangling link: {m}" for m in dangling_links(dest)]
        problems += [f"hidden test in the copy: {m}" for m in leaks(dest, root)]
        if problems:
            raise ValueError("the students' copy is not fit to hand out:\n" + "\n".join(problems))
        if not update:
            _git("init", "--quiet", f"--initial-branch={ref}", cwd=dest)
        _git("add", "--all", cwd=dest)
        message = f"d2lmha students' copy of {commit.strip()[:12]}, for {made.repo_url} at {ref}"
        _git(*AUTHOR, "commit", "--quiet", "--allow-empty", "-m", message, cwd=dest)
    except BaseException:
        if update:
            _git("reset", "--quiet", "--hard", cwd=dest)
            _git("clean", "-fdq", cwd=dest)
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return _git("rev-parse", "HEAD", cwd=dest, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dest", type=Path, help="a new folder, or a clone of the class repository to update"
    )
    parser.add_argument("repo_url", help="where the students' copy will be (git URL or path)")
    parser.add_argument("ref", help="the branch the copy is committed on; every link opens it")
    parser.add_argument("--rev", default="HEAD", help="the commit to release (default HEAD)")
    args = parser.parse_args(argv)
    try:
        commit = release(args.dest, args.repo_url, args.ref, args.rev)
    except ValueError as error:
        parser.error(str(error))
    print(f"{args.dest}: the students' copy, commit {commit[:12]} on branch {args.ref}")
    print(f"push it: git -C {args.dest} push {args.repo_url} {args.ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
