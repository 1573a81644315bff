"""Every chapter as reveal.js slides (``make slides``): ``python -m tools.slides OUT_DIR``.

nbconvert's ``--to slides`` exporter cuts each chapter at its cells' slide types (set by
``python -m tools.notebooks slides``). The HTML it writes loads reveal.js, RequireJS and
MathJax from a CDN when it is opened. So that the slides also work offline (a classroom
without network), this copies those three from their npm packages (``npm pack``, the
registry's own client; :mod:`tools.vendor`) into ``OUT_DIR/vendor/`` and points the slides
there. Without npm the slides keep nbconvert's CDN links, and this says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from d2lmha.editions import TRANSLATED
from tools.vendor import npm, npm_package

ROOT = Path(__file__).resolve().parents[1]
# reveal.js 4.0.2 is the version nbconvert's reveal template is written for (its default URL).
VENDOR = {"reveal.js": "4.0.2", "requirejs": "2.3.7", "mathjax": "2.7.9"}


def vendor(out: Path) -> dict[str, str] | None:
    """Unpack the npm packages of :data:`VENDOR` into ``out/vendor`` (:mod:`tools.vendor`); the
    exporter settings that point at them (relative URLs), or None where npm is not installed.

    Raises:
        subprocess.CalledProcessError: npm is there but ``npm pack`` failed.
    """
    if npm() is None:
        return None
    for name, version in VENDOR.items():
        npm_package(name, version, out / "vendor" / name)
    return {
        "reveal_url_prefix": "vendor/reveal.js",
        "require_js_url": "vendor/requirejs/require.js",
        "mathjax_url": "vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    }


def export(notebook: Path, out: Path, settings: dict[str, str] | None = None) -> Path:
    """Write ``out/NAME.slides.html`` for one notebook (nbconvert's SlidesExporter);
    ``NAME.zh.slides.html`` for a chapter of the 中文 edition (``notebooks/zh/``)."""
    import nbformat
    from nbconvert import SlidesExporter

    # No "In [n]:" prompts on a slide.
    # reveal_scroll: a slide taller than the screen (prose, code and a figure) scrolls.
    exporter = SlidesExporter(
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        reveal_scroll=True,
        **(settings or {}),
    )
    body, _ = exporter.from_notebook_node(
        nbformat.read(notebook, as_version=4), resources={"metadata": {"name": notebook.stem}}
    )
    edition = f".{notebook.parent.name}" if notebook.parent.name in TRANSLATED else ""
    path = out / f"{notebook.stem}{edition}.slides.html"
    path.write_text(body, encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.slides", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "build" / "slides")
    parser.add_argument("notebooks", type=Path, nargs="*")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = vendor(args.out)
    if settings is None:
        print(
            "npm not found: the slides load reveal.js, RequireJS and MathJax from nbconvert's "
            "CDN links when opened (install npm for offline slides)"
        )
    chapters = sorted((ROOT / "notebooks").glob("*.ipynb"))
    chapters += [
        p for code in TRANSLATED for p in sorted((ROOT / "notebooks" / code).glob("*.ipynb"))
    ]
    for notebook in args.notebooks or chapters:
        print(export(notebook, args.out, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
