"""Chinese glyphs in the course's figures: a CJK font as matplotlib's fallback.

The 中文 edition labels its figures in Chinese with the same code as the English edition, so
the font is set up for both, on ``import d2lmha``: Noto Sans CJK SC (shipped by the PyPI package
``mplfonts``, the ``zh`` extra) is registered with matplotlib and appended to
``font.family``, after the default (``sans-serif``, i.e. DejaVu Sans). matplotlib (≥ 3.6) falls
back glyph by glyph along that list, so Latin text looks as before and only Chinese characters
come from Noto.
Without ``mplfonts`` nothing changes (Chinese labels then render as boxes, and matplotlib warns
"Glyph … missing from font").

Source: matplotlib, "Fonts in Matplotlib" (font fallback) and ``font_manager.FontManager.addfont``.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

__all__ = ["CJK_FAMILY", "cjk_font_path", "enable_cjk_fallback"]

CJK_FAMILY = "Noto Sans CJK SC"
_FILE = "NotoSansCJKsc-Regular.otf"


def cjk_font_path():
    """Path of the Noto Sans CJK SC font file in ``mplfonts``, or None when it is not installed."""
    spec = find_spec("mplfonts")  # found, not imported: importing it costs seconds
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "fonts" / _FILE
    return path if path.is_file() else None


def enable_cjk_fallback() -> bool:
    """Register Noto Sans CJK SC with matplotlib and make it the fallback of ``font.family``.

    Idempotent; the default font stays first. Returns True when the font is available (now or
    from an earlier call), False when ``mplfonts`` is not installed.
    """
    path = cjk_font_path()
    if path is None:
        return False
    import matplotlib
    from matplotlib import font_manager

    if CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    families = list(matplotlib.rcParams["font.family"])
    if CJK_FAMILY not in families:
        matplotlib.rcParams["font.family"] = [*families, CJK_FAMILY]
    return True
