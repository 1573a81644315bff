"""The lecture slides in a real browser (`make slides`, then Chromium): every deck starts with
no network, every slide of every deck fits the 1280x720 canvas, and a lecturer can step
through a whole deck with the keyboard (one deck per edition, a screenshot per slide in
build/e2e/steps/).

The decks are built once (`make slides`, as an instructor builds them) and served from
build/slides on 127.0.0.1; any request to another host is refused and fails the test. A
slide fits when no element of it (its speaker notes aside) reaches past the canvas, measured
with getBoundingClientRect against the canvas (.reveal .slides) in canvas px, and no code
block or slide scrolls (scrollWidth/scrollHeight past its box).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from browser_steps import ROOT, SHOTS, run_make, serve_folder

from d2lmha.editions import TRANSLATED

SLIDES = ROOT / "build" / "slides"
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
DECKS = [f"{c}.slides.html" for c in CHAPTERS]
DECKS += [f"{c}.{code}.slides.html" for code in TRANSLATED for c in CHAPTERS]
WALKED = ["03_self_attention_positions.slides.html", "04_visualizing_heads.zh.slides.html"]
# fit.js may scale a whole slide to fit; below this its text would be too small to read.
MIN_SCALE = 0.6
TOLERANCE = 1.0  # canvas px (sub-pixel rounding)

# Every overflow of the current slide, in canvas px (0 where none). Runs in the page.
MEASURE = """() => {
  const canvas = document.querySelector('.reveal .slides').getBoundingClientRect();
  const scale = Reveal.getScale();
  const slide = Reveal.getCurrentSlide();
  const out = {right: 0, bottom: 0, left: 0, top: 0, scrolled: []};
  for (const el of slide.querySelectorAll('*')) {
    if (el.closest('aside.notes, .MJX_Assistive_MathML')) continue;  // not shown
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    out.right = Math.max(out.right, (r.right - canvas.right) / scale);
    out.bottom = Math.max(out.bottom, (r.bottom - canvas.bottom) / scale);
    out.left = Math.max(out.left, (canvas.left - r.left) / scale);
    out.top = Math.max(out.top, (canvas.top - r.top) / scale);
    if (el.matches('pre, code, .jp-OutputArea-output, .d2lmha-fit')
        && (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)) {
      out.scrolled.push(el.tagName.toLowerCase() + '.' + el.className);
    }
  }
  if (slide.scrollHeight > slide.clientHeight + 1) out.scrolled.push('section');
  const i = Reveal.getIndices(slide);
  out.slide = i.h + '/' + (i.v || 0);
  return out;
}"""

# Every slide in order (Reveal.slide, no transition), measured.
MEASURE_ALL = (
    """async () => {
  const measure = """
    + MEASURE
    + """;
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});
  const results = [];
  for (const slide of Reveal.getSlides()) {
    const i = Reveal.getIndices(slide);
    Reveal.slide(i.h, i.v);
    await new Promise(requestAnimationFrame);
    results.push(measure());
  }
  return results;
}"""
)


def overflows(measured: dict) -> list[str]:
    """What does not fit on one measured slide, in words (empty when it fits)."""
    problems = [
        f"{side} by {measured[side]:.0f} px"
        for side in ("right", "bottom", "left", "top")
        if measured[side] > TOLERANCE
    ]
    problems += [f"{what} scrolls" for what in measured["scrolled"]]
    return problems


@pytest.fixture(scope="module")
def slides_url():
    """`make slides` once, then build/slides served on 127.0.0.1 (a free port)."""
    run_make("slides")
    with serve_folder(SLIDES) as url:
        yield url


@pytest.fixture(scope="module")
def deck(browser, slides_url):
    """Open a deck in a fresh tab: ``deck(name)`` returns the page once fit.js has fitted every
    slide, with ``page.foreign`` (requests to other hosts, refused) and ``page.errors``."""
    context = browser.new_context(viewport={"width": 1333, "height": 750})
    pages = []

    def refuse_foreign(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.request.frame.page.foreign.append(route.request.url)
            route.abort()

    context.route("**/*", refuse_foreign)

    def open_deck(name: str):
        page = context.new_page()
        page.foreign, page.errors = [], []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on(
            "console",
            lambda message: message.type == "error" and page.errors.append(message.text),
        )
        page.goto(f"{slides_url}/{name}")
        page.wait_for_selector("html[data-d2lmha-fitted]", timeout=60_000)
        pages.append(page)
        return page

    yield open_deck
    for page in pages:
        page.close()
    context.close()


@pytest.mark.parametrize("name", DECKS)
def test_every_slide_fits_the_canvas(deck, name):
    page = deck(name)
    assert page.evaluate("Reveal.isReady()"), "reveal.js did not start"
    config = page.evaluate("[Reveal.getConfig().width, Reveal.getConfig().height]")
    assert config == [1280, 720]
    measured = page.evaluate(MEASURE_ALL)
    scales = page.evaluate("window.d2lmhaSlides.scales")
    assert len(measured) == len(scales) > 0
    bad = {m["slide"]: overflows(m) for m in measured if overflows(m)}
    assert not bad, f"{name}: slides past the 1280x720 canvas: {bad}"
    small = {measured[i]["slide"]: s for i, s in enumerate(scales) if s < MIN_SCALE}
    assert not small, f"{name}: slides scaled below {MIN_SCALE} to fit: {small}"
    assert not page.foreign, f"{name} requested other hosts: {page.foreign}"
    assert not page.errors, f"{name}: {page.errors}"


@pytest.mark.parametrize("name", WALKED)
def test_lecturer_steps_through_a_deck(deck, name):
    """Space from the title to the last slide, as a lecturer presses it: every slide is
    reached once, fits, and is kept as a screenshot."""
    page = deck(name)
    page.evaluate("Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
    total = page.evaluate("Reveal.getTotalSlides()")
    seen, noted = [], 0
    for number in range(total + 1):
        measured = page.evaluate(MEASURE)
        noted += bool(page.evaluate("Reveal.getSlideNotes()"))
        assert not overflows(measured), f"slide {measured['slide']}: {overflows(measured)}"
        seen.append(measured["slide"])
        (SHOTS / "steps").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "steps" / f"slides-{name[:-12]}-{number:02d}.png"))
        if page.evaluate("Reveal.isLastSlide()"):
            break
        page.keyboard.press("Space")
    assert len(seen) == total == len(set(seen)), f"reached {seen} of {total} slides"
    # the speaker view (S) shows each slide's notes: the prose that did not fit
    assert noted == page.evaluate(
        "Reveal.getSlides().filter(s => s.querySelector('aside.notes')).length"
    )
    assert not page.foreign and not page.errors, (page.foreign, page.errors)
