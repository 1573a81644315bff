"""JavaScript that the course's web pages need, copied from npm packages so that the pages work
offline (a classroom without network): the slides (``tools/slides.py``) and the website
(``tools/site.py``) load MathJax, RequireJS, ... from these copies, never from a CDN.

Each package is fetched with ``npm pack`` (the registry's own client) at a pinned version and
unpacked once into a folder; a ``.version`` stamp in it skips the work on the next build.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path


def npm() -> str | None:
    """The ``npm`` executable, or None where it is not installed."""
    return shutil.which("npm")


def npm_package(name: str, version: str, folder: Path) -> Path:
    """Unpack the npm package ``name`` at ``version`` into ``folder`` (its ``package/``
    contents: ``folder/package.json``, ...), unless ``folder`` already holds that version.

    Returns:
        ``folder``.

    Raises:
        FileNotFoundError: npm is not installed (check with :func:`npm` first).
        subprocess.CalledProcessError: ``npm pack`` failed (no network, no such version).
    """
    folder = Path(folder)
    stamp = folder / ".version"
    if stamp.is_file() and stamp.read_text() == version:
        return folder
    executable = npm()
    if executable is None:
        raise FileNotFoundError(f"npm is not installed: cannot fetch {name}@{version}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [executable, "pack", "--silent", f"{name}@{version}"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as archive:
            archive.extractall(tmp, filter="data")
        shutil.move(Path(tmp) / "package", folder)
    stamp.write_text(version)
    return folder
