"""Chinese glyphs in the course's figures: a CJK font as matplotlib's fallback.

The 中文 edition labels its figures in Chinese with the same code as the English edition, so
the font is set up for both, on ``import d2lmha``: each edition's font (:mod:`.editions`; for
中文 Noto Sans CJK SC, shipped by the PyPI package ``mplfonts``, the ``zh`` extra) is
registered with matplotlib and appended to ``font.family``, after the default
(``sans-serif``, i.e. DejaVu Sans). matplotlib (≥ 3.6) falls
back glyph by glyph along that list, so Latin text looks as before and only Chinese characters
come from Noto.
Without ``mplfonts`` nothing changes (Chinese labels then render as boxes, and matplotlib warns
"Glyph … missing from font").

Source: matplotlib, "Fonts in Matplotlib" (font fallback) and ``font_manager.FontManager.addfont``.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from .editions import TRANSLATED, Edition

__all__ = ["CJK_FAMILY", "cjk_font_path", "font_path", "enable_cjk_fallback"]

CJK_FAMILY = TRANSLATED["zh"].font_family


def font_path(edition: Edition):
    """Path of an edition's font file in the package that ships it, or None when that package
    is not installed (or the edition has no font of its own)."""
    if not edition.font_module:
        return None
    spec = find_spec(edition.font_module)  # found, not imported: importing it costs seconds
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / edition.font_file
    return path if path.is_file() else None


def cjk_font_path():
    """Path of the Noto Sans CJK SC font file in ``mplfonts``, or None when it is not installed."""
    return font_path(TRANSLATED["zh"])


def enable_cjk_fallback() -> bool:
    """Register each edition's font (Noto Sans CJK SC for 中文) with matplotlib and make it a
    fallback of ``font.family``.

    Idempotent; the default font stays first. Returns True when every edition's font is
    available (now or from an earlier call), False when one is not installed (the others are
    still registered).
    """
    import matplotlib
    from matplotlib import font_manager

    found = True
    for edition in TRANSLATED.values():
        path = font_path(edition)
        if path is None:
            found = found and not edition.font_family
            continue
        family = edition.font_family
        if family not in {f.name for f in font_manager.fontManager.ttflist}:
            font_manager.fontManager.addfont(str(path))
        families = list(matplotlib.rcParams["font.family"])
        if family not in families:
            matplotlib.rcParams["font.family"] = [*families, family]
    return found
