"""The course as a website (``make site``): ``python -m tools.site [OUT]``, default ``build/site``.

Sphinx with myst-nb (the committed notebooks, outputs as saved: ``nb_execution_mode = "off"``)
and sphinx-book-theme. Jupyter Book 2 (mystmd) was the other candidate; its site theme is
downloaded when a site is built, and the build here must need no network, so Sphinx it is.

Every edition of :mod:`d2lmha.editions`, each one Sphinx build with the same configuration
(:func:`sphinx_conf`, the one place it is written): English at ``OUT/index.html``, a
translation at ``OUT/<code>/index.html`` (中文: ``OUT/zh/``); a page has the same path in each
(``notebooks/02_multi_head_attention.html``), so every page's language switch links to its
twins. Each edition's source is staged under ``build/site-src/<edition>/``
(:func:`stage`): the chapters (``notebooks/``) then the exercise sets (the student versions,
``exercises/``, with their Colab, Binder and, given ``--hub``, nbgitpuller links from
:mod:`tools.links`), their links between notebooks resolved for the site, and alt text on every
figure (:func:`alt_text`: the figure's title where its code gives one, else the sentence that
introduces it). Nothing fetched when a page is read: MathJax 3, RequireJS and the
ipywidgets embed manager (chapter 04's head viewer, from its saved widget state) are copied
from their npm packages (:mod:`tools.vendor`) into ``OUT/_vendor/``; the theme serves its
own fonts and icons. Search is Sphinx's own (offline); in 中文 it splits words with jieba,
taught the course's terms from the chapters' headings (:func:`zh_terms`).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import nbformat

from d2lmha.editions import ENGLISH, TRANSLATED
from tools.links import Links, course_links
from tools.notebooks import badges
from tools.vendor import npm_package

ROOT = Path(__file__).resolve().parents[1]
EDITIONS = (ENGLISH.code, *TRANSLATED)  # "en", then each translation's code
FOLDERS = ("notebooks", "exercises")  # the chapters, then the exercise sets (student versions)
# npm packages the pages load, each unpacked into OUT/_vendor/<key>/ (only the files named).
# MathJax: its TeX-to-HTML bundle and the components and fonts that bundle loads (not the other
# bundles or the SVG output, 20 of its 28 MB).
VENDOR = {
    "mathjax": (
        "mathjax",
        "3.2.2",
        ["es5/tex-mml-chtml.js", "es5/input", "es5/output/chtml", "es5/output/chtml.js"]
        + ["es5/a11y", "es5/ui", "es5/adaptors", "es5/sre", "es5/core.js", "es5/startup.js"],
    ),
    "requirejs": ("requirejs", "2.3.7", ["require.js"]),
    # the ipywidgets 8 embed manager (myst-nb's default version, here served locally)
    # and the fonts its styles load (tools/site_static/d2lmha-widgets.js points RequireJS here)
    "html-manager": (
        "@jupyter-widgets/html-manager",
        "1.0.12",
        ["dist/embed-amd.js"] + [f"dist/*.{kind}" for kind in ("woff2", "woff", "ttf", "svg")],
    ),
}
# The site's own words in each edition of d2lmha.editions (a new edition adds its entry):
# Sphinx's language and the HTML one, the home page, the table of contents' captions, the
# language switch's tooltip (in that edition's language), the label of a hub's link.
TEXT = {
    "en": {
        "language": "en",
        "lang": "en",
        "name": "English",
        "title": "From one attention head to many",
        "intro": (
            "A Jupyter course on attention, from one head to the Transformer, with a small "
            "helper package, `d2lmha`. This site shows the chapters and the exercise sets as "
            "saved (outputs included); to run them, open one in JupyterLab (`make lab`), on "
            "Colab or on Binder, from the links under its title."
        ),
        "chapters": "Chapters",
        "sets": "Exercise sets",
        "switch": "Read this page in English",
        "launch_hub": "Open on your hub",
    },
    "zh": {
        "language": "zh_CN",
        "lang": "zh-CN",
        "name": "中文",
        "title": "从一个注意力头到多个",
        "intro": (
            "一门关于注意力的 Jupyter 课程，从一个头讲到 Transformer，附带一个小工具包 "
            "`d2lmha`。本站展示保存好的各章和练习（含输出）；要运行它们，请用标题下的链接在 "
            "JupyterLab（`make lab`）、Colab 或 Binder 中打开。"
        ),
        "chapters": "章节",
        "sets": "练习",
        "switch": "阅读本页的中文版",
        "launch_hub": "在你的 Hub 上打开",
    },
}
# A figure's titles in its cell's code: the plain string literals (not f-strings) given to
# set_title/suptitle/title, as title=, or in a list as titles=[...].
TITLE = re.compile(
    r"(?:\b(?:set_title|suptitle|title)\(\s*|\btitle\s*=\s*)(?P<one>\"[^\"\n]+\"|'[^'\n]+')"
    r"|\btitles\s*=\s*\[(?P<many>[^\]]*)\]"
)
LITERAL = re.compile(r"(?<![\w\"'])(?:\"([^\"\n]+)\"|'([^'\n]+)')")
# Where a sentence ends: . ! ? before a space and a capital (not 0.57 or d2lmha.causal_mask),
# or a Chinese full stop.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"“])|(?<=[。！？])")


def site_path(repo_path: str) -> tuple[str, str] | None:
    """``(edition, path in the site)`` of a repository path the site shows:
    ``notebooks/zh/02_x.ipynb`` → ``("zh", "notebooks/02_x.ipynb")``; a folder
    (``exercises/``) → its edition's home page (``index.md``); None for anything else."""
    parts = PurePosixPath(repo_path).parts
    if not parts or parts[0] not in FOLDERS:
        return None
    edition = parts[1] if len(parts) > 1 and parts[1] in TRANSLATED else ENGLISH.code
    rest = parts[1:] if edition == ENGLISH.code else parts[2:]
    if not rest:
        return edition, "index.md"
    if len(rest) == 1 and rest[0].endswith(".ipynb"):
        return edition, f"{parts[0]}/{rest[0]}"
    return None


def _in_site(edition: str, path: str) -> str:
    """``path`` of an edition's site as a path in the whole site (``zh/…`` for 中文)."""
    return path if edition == ENGLISH.code else f"{edition}/{path}"


def _relative(target: str, start: str) -> str:
    return os.path.relpath(target, PurePosixPath(start).parent.as_posix() or ".").replace(
        os.sep, "/"
    )


def resolve_links(source: str, repo_path: str, edition: str) -> str:
    """``source`` (a markdown cell of the notebook at ``repo_path``) with each relative link to a
    notebook or folder of the site pointed at its page: a link within the edition stays a
    MyST link to the staged notebook (Sphinx checks it); one into the other edition becomes an
    HTML link to the twin's page. Other links are left as they are."""
    _, here = site_path(repo_path) or (edition, repo_path)

    def fix(match: re.Match) -> str:
        text, target = match["text"], match["target"]
        if re.match(r"[a-z]+:|#", target):
            return match[0]
        resolved = os.path.normpath(PurePosixPath(repo_path).parent / target).replace(os.sep, "/")
        found = site_path(resolved + ("/" if target.endswith("/") else ""))
        if found is None:
            return match[0]
        where, path = found
        if where == edition:
            return f"[{text}]({_relative(path, here)})"
        page = path.removesuffix(".ipynb").removesuffix(".md") + ".html"
        return f'<a href="{_relative(_in_site(where, page), _in_site(edition, here))}">{text}</a>'

    return re.sub(r"\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)", fix, source)


def _plain(markdown: str) -> str:
    """Markdown prose as plain text: links, emphasis, code and maths marks off."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"\*\*?|`|\$|\\[a-zA-Z]+|[{}]", "", text)
    return " ".join(text.split())


def alt_text(cell, previous_markdown: str) -> str:
    """The alt text of the figures a code cell draws: their titles where the cell's code gives
    them as plain strings (``set_title("…")``, ``title="…"``, ``titles=["…", …]``), else the
    last sentence of the prose above the cell (the sentence that introduces the figure; two
    where the last is short)."""
    found = []
    for match in TITLE.finditer(cell.source):
        for literal in LITERAL.finditer(match["one"] or match["many"] or ""):
            found.append(literal[1] or literal[2])
    titles = list(dict.fromkeys(found))
    if titles:
        return "; ".join(titles)
    prose = [
        line
        for line in previous_markdown.split("\n")
        if line.strip() and not line.lstrip().startswith(("|", "```", "$$"))
    ]
    if not prose:
        return "Figure"
    heading = next((line for line in reversed(prose) if line.startswith("#")), None)
    body = [line for line in prose if not line.startswith("#")]
    sentences = [s for s in _SENTENCE_END.split(_plain(" ".join(body))) if s.strip()]
    if not sentences:
        return _plain(heading.lstrip("# ")) if heading else "Figure"
    text = sentences.pop()
    while len(text) < 40 and sentences:  # a short last sentence: the one before it too
        before = sentences.pop()
        text = f"{before}{'' if before.endswith(('。', '！', '？')) else ' '}{text}"
    return text[:300]


def _launch_line(repo_path: str, made: Links, hub: str | None, edition: str) -> str:
    """An exercise set's links: Colab and Binder as a chapter's (tools.notebooks.badges), and
    the hub's nbgitpuller link when ``hub`` is given."""
    line = badges(ROOT / repo_path, ROOT, made)
    if hub:
        link = f"[{TEXT[edition]['launch_hub']}]({made.nbgitpuller(hub, repo_path)})"
        line = f"{line} · {link}" if line else link
    return line


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _static_widgets(nb) -> None:
    """A widget whose model the notebook's saved widget state lacks (a state saved by another
    run) cannot be drawn: its output keeps only its text (which says so), and the static
    figure after it stands for it. Without any widget left, the saved state goes too."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    drawn = False
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            if view.get("model_id") in state:
                drawn = True
            else:
                del output["data"][WIDGET_VIEW]
    if not drawn:
        nb.metadata.pop("widgets", None)


def stage_notebook(repo_path: str, edition: str, made: Links, hub: str | None = None):
    """The notebook at ``repo_path`` as the site shows it: its widgets drawn where their state
    was saved (:func:`_static_widgets`), links resolved for the site (:func:`resolve_links`),
    alt text on each figure (``mystnb.image.alt`` cell metadata, which myst-nb puts on the
    ``<img>``), and, for an exercise set, its launch links under the title. The committed
    notebook is not changed."""
    nb = nbformat.read(ROOT / repo_path, as_version=4)
    nb = copy.deepcopy(nb)
    _static_widgets(nb)
    previous = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = resolve_links(cell.source, repo_path, edition)
            previous = cell.source
        elif cell.cell_type == "code" and any(
            "image/png" in output.get("data", {}) for output in cell.get("outputs", [])
        ):
            cell.metadata.setdefault("mystnb", {})["image"] = {"alt": alt_text(cell, previous)}
    if repo_path.startswith("exercises/"):
        header = next(c for c in nb.cells if c.cell_type == "markdown")
        title, _, rest = header.source.partition("\n")
        line = _launch_line(repo_path, made, hub, edition)
        header.source = f"{title}\n\n{line}\n{rest}" if line else header.source
    return nb


def zh_terms(root: Path = ROOT, code: str = "zh") -> list[str]:
    """The course's own words for jieba (the 中文 search's word splitter), which knows
    general Chinese but not, say, 多头注意力: every run of 2 to 8 characters of the edition's
    script (:attr:`d2lmha.editions.Edition.script`) in a heading (``#``/``##``) of one of its
    chapters or exercise sets."""
    run = re.compile(f"{TRANSLATED[code].script}{{2,8}}")
    terms: dict[str, None] = {}
    for folder in FOLDERS:
        for path in sorted((root / folder / code).glob("[0-9][0-9]_*.ipynb")):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type != "markdown":
                    continue
                for line in cell.source.split("\n"):
                    if re.match(r"#{1,2} ", line):
                        for word in run.findall(line):
                            terms[word] = None
    return list(terms)


def sphinx_conf(edition: str, vendor_url: str, src: Path = Path(".")) -> dict:
    """The Sphinx configuration of one edition (``conf.py`` of the staged source is this);
    ``vendor_url``: ``OUT/_vendor`` relative to the edition's ``_static`` folder; ``src``:
    the staged source (where the 中文 search's word list is, :func:`stage`).

    Raises:
        ValueError: ``edition`` is not one of :data:`EDITIONS` with its words in :data:`TEXT`.
    """
    if edition not in EDITIONS or edition not in TEXT:
        raise ValueError(
            f"edition must be one of {sorted(set(EDITIONS) & set(TEXT))}, got {edition!r}"
        )
    text = TEXT[edition]
    conf = {
        "project": text["title"],
        "author": "d2lmha",
        "copyright": "d2lmha contributors, MIT License",
        "language": text["language"],
        "extensions": ["myst_nb", "tools.site"],
        "d2lmha_edition": edition,
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        # the language switch (its template and style), the saved widgets' helper (below)
        "templates_path": [str(ROOT / "tools" / "site_templates")],
        "html_static_path": [str(ROOT / "tools" / "site_static")],
        "html_css_files": ["d2lmha.css"],
        # the committed outputs, as saved; nothing is run
        "nb_execution_mode": "off",
        "myst_enable_extensions": ["dollarmath", "amsmath"],
        "mathjax_path": f"{vendor_url}/mathjax/es5/tex-mml-chtml.js",
        # myst-nb loads these, in this order, on a page with saved widget state (chapter
        # 04's viewer): RequireJS, the helper that points it at the manager's copy (and names
        # the widgets' parts for screen readers), the manager. No CDN attribute: the manager
        # never looks for a widget module elsewhere.
        "nb_ipywidgets_js": {
            f"{vendor_url}/requirejs/require.js": {},
            "d2lmha-widgets.js": {},
            f"{vendor_url}/html-manager/dist/embed-amd.js": {},
        },
        "html_theme": "sphinx_book_theme",
        "html_title": text["title"],
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_theme_options": {
            "article_header_end": ["language-switch.html", "article-header-buttons.html"],
            "home_page_in_toc": True,
            "show_toc_level": 2,
            "use_download_button": False,
            "navigation_with_keys": False,
        },
    }
    if edition == "zh":
        conf["html_search_language"] = "zh"
        conf["html_search_options"] = {"dict": str(Path(src, "zh_terms.txt").resolve())}
    return conf


def _twin(app, pagename, templatename, context, doctree):
    """Sphinx ``html-page-context``: the links to this page in the other editions."""
    here = _in_site(app.config.d2lmha_edition, f"{pagename}.html")
    context["d2lmha_twins"] = [
        {
            "href": _relative(_in_site(code, f"{pagename}.html"), here),
            "lang": TEXT[code]["lang"],
            "label": (ENGLISH if code == ENGLISH.code else TRANSLATED[code]).name,
            "title": TEXT[code]["switch"],
        }
        for code in EDITIONS
        if code != app.config.d2lmha_edition
    ]


def _search_chinese():
    """Sphinx 9.0's 中文 search (``sphinx.search.zh``) names a JavaScript stemmer that does not
    exist, ``ChineseStemmer``, so the search page stops ("ChineseStemmer is not defined",
    sphinx-doc/sphinx#14229, fixed by #14416 after 9.0.4): the same class, naming the English
    stemmer it uses (for the Latin words; Chinese words are not stemmed)."""
    import logging

    from sphinx.search.zh import SearchChinese

    logging.getLogger("jieba").setLevel(logging.WARNING)  # not its "Building prefix dict..."

    return type("SearchChinese", (SearchChinese,), {"language_name": "English"})


def setup(app):
    """Sphinx extension (named in :func:`sphinx_conf`): the language switch on every page;
    the 中文 search that works (:func:`_search_chinese`)."""
    app.add_config_value("d2lmha_edition", "en", "html")
    app.add_search_language(_search_chinese())
    app.connect("html-page-context", _twin)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _write(path: Path, data: str | bytes) -> None:
    """Write only what changed, so that Sphinx rebuilds only pages whose source changed."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def index_page(edition: str) -> str:
    """The home page of an edition: the course's title, a paragraph, and the table of contents
    (chapters 00-07, then the exercise sets 01-07)."""
    text = TEXT[edition]
    trees = [
        f"```{{toctree}}\n:caption: {text[key]}\n:maxdepth: 1\n:glob:\n\n{folder}/*\n```\n"
        for key, folder in (("chapters", "notebooks"), ("sets", "exercises"))
    ]
    return f"# {text['title']}\n\n{text['intro']}\n\n" + "\n".join(trees)


def stage(edition: str, src: Path, vendor_url: str, made: Links, hub: str | None = None) -> None:
    """Write the Sphinx source of one edition into ``src``: ``conf.py``, ``index.md``, the
    notebooks (:func:`stage_notebook`) and, in 中文, the words for jieba (:func:`zh_terms`)."""
    _write(
        src / "conf.py",
        "# Written by tools/site.py (make site); the configuration is tools.site.sphinx_conf.\n"
        f"import sys\nfrom pathlib import Path\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"from tools.site import sphinx_conf\nglobals().update(sphinx_conf({edition!r}, "
        f"{vendor_url!r}, Path(__file__).parent))\n",
    )
    _write(src / "index.md", index_page(edition))
    if edition == "zh":
        _write(src / "zh_terms.txt", "".join(f"{term} 1000 n\n" for term in zh_terms()))
    wanted = set()
    for folder in FOLDERS:
        where = ROOT / folder / ("" if edition == ENGLISH.code else edition)
        for path in sorted(where.glob("[0-9][0-9]_*.ipynb")):
            repo_path = path.relative_to(ROOT).as_posix()
            target = src / folder / path.name
            wanted.add(target)
            _write(target, nbformat.writes(stage_notebook(repo_path, edition, made, hub)))
    for stale in src.glob("*/*.ipynb"):
        if stale not in wanted:
            stale.unlink()


def vendor(out: Path, cache: Path) -> None:
    """Copy :data:`VENDOR`'s files (glob patterns) from their npm packages (unpacked once into
    ``cache``) into ``out/_vendor/``.

    Raises:
        FileNotFoundError: npm is not installed (the site would need a CDN without it).
    """
    for key, (name, version, files) in VENDOR.items():
        package = npm_package(name, version, cache / key)
        for pattern in files:
            for source in package.glob(pattern):
                target = out / "_vendor" / key / source.relative_to(package)
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    shutil.copytree(source, target)
                else:
                    shutil.copy2(source, target)


def build(out: Path, hub: str | None = None, jobs: int = 2) -> None:
    """Build every edition into ``out`` (English) and ``out/<code>`` (中文: ``out/zh``).
    Sphinx writes each into ``build/site-src/<edition>-html/`` (kept, so a second build redoes
    only what changed; myst-nb's ``jupyter_execute/`` lands beside it), then ``out`` is made
    anew from them.

    Raises:
        subprocess.CalledProcessError: a Sphinx build failed (its output says why).
    """
    out = Path(out).resolve()
    work = out.parent / f"{out.name}-src"
    made = course_links()
    runs = []
    for edition in EDITIONS:
        src, html = work / edition, work / f"{edition}-html" / "html"
        vendor_url = _relative("_vendor", _in_site(edition, "_static/x"))
        stage(edition, src, vendor_url, made, hub)
        command = [
            sys.executable, "-m", "sphinx", "-b", "html", "-q",
            "-d", str(work / f"{edition}-html" / "doctrees"), str(src), str(html),
        ]  # fmt: skip
        runs.append(subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}))
        if jobs < 2:
            runs[-1].wait()
    for run in runs:
        if run.wait() != 0:
            raise subprocess.CalledProcessError(run.returncode, run.args)
    shutil.rmtree(out, ignore_errors=True)
    for edition in EDITIONS:
        shutil.copytree(work / f"{edition}-html" / "html", out / _in_site(edition, ""))
    vendor(out, work / "npm")
    (out / ".nojekyll").touch()  # GitHub Pages: serve _static/ and _vendor/ as they are


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.site", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "build" / "site")
    parser.add_argument(
        "--hub", help="a JupyterHub's URL: the exercise sets get its nbgitpuller links too"
    )
    parser.add_argument("--jobs", type=int, default=2, help="editions built at once (default 2)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    cpu = os.times()
    build(args.out, args.hub, args.jobs)
    done = os.times()
    used = sum(getattr(done, a) - getattr(cpu, a) for a in ("user", "system", "children_user",
                                                             "children_system"))  # fmt: skip
    print(
        f"site: {', '.join(str(args.out / _in_site(e, 'index.html')) for e in EDITIONS)}; "
        f"{time.perf_counter() - start:.0f} s wall, {used:.0f} s CPU"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
