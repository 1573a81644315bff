"""Every link into the course, made from one repository URL and one git ref.

    python -m tools.links REPO_URL REF HUB   # one nbgitpuller link per set and chapter

The Colab and Binder links under each chapter's title, the set-up cell's
``pip install "d2lmha @ git+REPO_URL@REF"``, the README's table and the nbgitpuller links of a
hub are all made by :func:`links`; nothing else writes a URL into the course. In this
repository the two come from ``pyproject.toml`` (:func:`course_links`): ``[project.urls]
Repository`` and ``[tool.d2lmha] ref``, a branch (or tag) that ``git rev-parse --verify``
resolves; ``make notebook-meta`` rewrites the notebooks from them and
``tests/test_links.py`` fails on a link to another repository or to a ref git cannot resolve.
A students' copy made by ``make release REPO_URL=… REF=…`` (``tools/release.py``) has its links
rewritten by the same function for its own repository and ref.

Sources: Colab opens ``https://colab.research.google.com/github/OWNER/NAME/blob/REF/PATH``;
Binder ``https://mybinder.org/v2/gh/OWNER/NAME/REF?urlpath=lab/tree/PATH`` (GitHub) or
``/v2/git/URL-ENCODED-REPO/REF`` (any other public git server); nbgitpuller (1.3.0, its
``handlers.py``) ``HUB/hub/user-redirect/git-pull?repo=…&branch=…&urlpath=…``, cloning into a
folder named after the repository URL's last part (``targetpath``).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[1]
GITHUB = re.compile(r"https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?")
# A git ref as `git check-ref-format --allow-onelevel` takes it, less what needs quoting in a URL.
REF = re.compile(r"(?!.*\.\.)(?!.*//)(?!/)(?!.*/$)(?!.*\.lock$)[A-Za-z0-9._/-]+")
URL = re.compile(r"(https?|file|ssh|git)://\S+|git@[\w.-]+:\S+")


@dataclass(frozen=True)
class Links:
    """The links into one repository at one ref (make them with :func:`links`).

    Attributes:
        repo_url: the repository, as ``git clone`` and pip (``git+URL``) take it.
        ref: the branch or tag every link opens.
    """

    repo_url: str
    ref: str

    @property
    def github(self) -> str | None:
        """``OWNER/NAME`` when the repository is on GitHub (Colab opens only those), else None."""
        match = GITHUB.fullmatch(self.repo_url)
        return f"{match['owner']}/{match['name']}" if match else None

    @property
    def repo_dir(self) -> str:
        """The folder nbgitpuller clones into, in the hub user's home: the URL's last part."""
        return self.repo_url.rstrip("/").split("/")[-1]

    def install(self, extras: tuple[str, ...] = ()) -> str:
        """The pip requirement that installs the course from the repository at the ref:
        ``d2lmha[grade] @ git+URL@REF`` for ``extras=("grade",)``."""
        extra = f"[{','.join(extras)}]" if extras else ""
        return f"d2lmha{extra} @ git+{self.repo_url}@{self.ref}"

    def colab(self, path: str) -> str | None:
        """Colab's link to the notebook at ``path`` (relative to the repository root), or None
        where the repository is not on GitHub."""
        if self.github is None:
            return None
        return f"https://colab.research.google.com/github/{self.github}/blob/{self.ref}/{path}"

    def binder(self, path: str) -> str | None:
        """mybinder.org's link that builds the repository (``binder/``) and opens ``path`` in
        JupyterLab; None for a repository Binder cannot reach (a local path or ``file://``)."""
        if self.github is not None:
            where = f"gh/{self.github}/{self.ref}"
        elif self.repo_url.startswith(("https://", "http://")):
            where = f"git/{quote(self.repo_url, safe='')}/{self.ref}"
        else:
            return None
        return f"https://mybinder.org/v2/{where}?urlpath=lab/tree/{path}"

    def nbgitpuller(self, hub: str, path: str) -> str:
        """The link that makes a JupyterHub at ``hub`` clone (or merge into) the learner's copy
        of the repository at the ref, then open ``path`` in JupyterLab.

        Raises:
            ValueError: ``hub`` is not an ``http(s)://`` URL.
        """
        if not re.fullmatch(r"https?://[^\s?#]+", hub):
            raise ValueError(f"hub must be the hub's http(s):// URL, got {hub!r}")
        query = urlencode(
            {
                "repo": self.repo_url,
                "branch": self.ref,
                "urlpath": f"lab/tree/{self.repo_dir}/{path}",
            },
            safe="/:",
        )
        return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def links(repo_url: str, ref: str) -> Links:
    """Every link into the repository at ``repo_url`` at the branch or tag ``ref``.

    Raises:
        ValueError: ``repo_url`` is not a git URL (``https://``, ``http://``, ``file://``,
            ``ssh://``, ``git@host:path``) or an absolute path; ``ref`` is not a ref name
            (letters, digits, ``._/-``; no ``..``), naming the argument.
    """
    if not isinstance(repo_url, str) or not (URL.fullmatch(repo_url) or repo_url.startswith("/")):
        raise ValueError(
            f"repo_url must be a git repository's URL or absolute path, got {repo_url!r}"
        )
    if not isinstance(ref, str) or not REF.fullmatch(ref):
        raise ValueError(f"ref must be a git branch or tag name, got {ref!r}")
    return Links(repo_url.rstrip("/"), ref)


def course_links(root: Path = ROOT) -> Links:
    """The links of this repository: ``pyproject.toml``'s ``[project.urls] Repository`` and
    ``[tool.d2lmha] ref``.

    Raises:
        ValueError: either is missing, or :func:`links` refuses it.
    """
    pyproject = tomllib.loads((Path(root) / "pyproject.toml").read_text())
    url = pyproject.get("project", {}).get("urls", {}).get("Repository")
    ref = pyproject.get("tool", {}).get("d2lmha", {}).get("ref")
    if url is None or ref is None:
        raise ValueError(
            "pyproject.toml needs [project.urls] Repository and [tool.d2lmha] ref, "
            f"got Repository={url!r}, ref={ref!r}"
        )
    return links(url, ref)


def hand_out(root: Path = ROOT) -> list[tuple[str, str, str]]:
    """``(edition, kind, path)`` of what a class opens, both editions: each chapter
    (``notebooks/``) and each exercise set (``exercises/``), paths relative to ``root``."""
    out = []
    from d2lmha.editions import ENGLISH, TRANSLATED

    for this in (ENGLISH, *TRANSLATED.values()):
        edition = this.code
        for kind, folder in (("chapter", "notebooks"), ("set", "exercises")):
            for path in sorted((Path(root) / folder / this.folder).glob("[0-9][0-9]_*.ipynb")):
                out.append((edition, kind, path.relative_to(root).as_posix()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.links",
        description="Print one nbgitpuller link per exercise set and chapter, both editions.",
    )
    parser.add_argument("repo_url", help="the students' copy (make release), as git clones it")
    parser.add_argument("ref", help="its branch or tag")
    parser.add_argument("hub", help="the JupyterHub's URL, e.g. https://hub.example.edu")
    args = parser.parse_args(argv)
    try:
        made = links(args.repo_url, args.ref)
        for edition, kind, path in hand_out():
            print(f"{edition}\t{kind}\t{path}\t{made.nbgitpuller(args.hub, path)}")
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
