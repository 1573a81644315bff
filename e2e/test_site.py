"""The course website (`make site`, tools/site.py) in a real browser, as a reader meets it.

`make site` once, `build/site/` served on 127.0.0.1 by Python's http.server, one chromium tab
(see conftest.py: Debian's chromium, no browser download). In each edition: the home page's
table of contents, a chapter (maths typeset, every figure loaded with alt text), an exercise
set with its launch links, the language switch to the twin page, and a search whose first
result opens. Every page checked also passes axe-core (its serious and critical rules; the
copy bundled by the ``axe-playwright-python`` package, injected into the page) and asks
nothing of any host but 127.0.0.1 (other requests are aborted and fail the test).
Screenshots: build/e2e/steps/site-*.png.
"""

from __future__ import annotations

from itertools import pairwise
from urllib.parse import quote, urlsplit

import pytest
from browser_steps import ROOT, run_make, serve_folder, step

SITE = ROOT / "build" / "site"
CHAPTER = "notebooks/02_multi_head_attention.html"
EXERCISE = "exercises/02_multi_head.html"
EDITIONS = {  # prefix in the site, the chapter's title, the search, the words of the TOC
    "en": ("", "02 Multi-head attention", "multi-head", ("Chapters", "Exercise sets")),
    "zh": ("zh/", "02 多头注意力", "多头注意力", ("章节", "练习")),
}
SEVERE = {"serious", "critical"}
# The level of each heading the reader meets in the page's main part, in order (a heading by
# role, such as the table of contents' captions, at its aria-level, 2 by default).
HEADINGS_JS = """() => Array.from(document.querySelectorAll(
    'main :is(h1, h2, h3, h4, h5, h6, [role=heading])')).filter(h => h.offsetParent !== null)
    .map(h => Number(h.getAttribute('aria-level') || (/^H[1-6]$/.test(h.tagName)
      ? h.tagName[1] : 2)))"""


@pytest.fixture(scope="session")
def site_url():
    """`make site`, then ``build/site`` served on 127.0.0.1 (a free port) for the session."""
    run_make("site")
    with serve_folder(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def page(browser, site_url):
    """A tab for the site: every request to a host other than 127.0.0.1 is aborted and kept in
    ``page.foreign``, every uncaught script error in ``page.errors``, every answer 4xx/5xx
    in ``page.broken``. (This module's ``page``
    replaces conftest's, which starts JupyterLab; conftest's screenshot on failure still
    finds it.)"""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.foreign, tab.errors, tab.broken = [], [], []

    def route(request_route):
        if urlsplit(request_route.request.url).hostname == "127.0.0.1":
            request_route.continue_()
        else:
            tab.foreign.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))

    def response(answer):
        # axe-core reads each stylesheet again (its CSSOM preload, by XHR) and resolves the
        # theme's @import "../basic.css" against the page: a 404 that no reader's page asks for
        by_axe = answer.request.resource_type == "xhr" and answer.url.endswith(".css")
        if answer.status >= 400 and not by_axe:
            tab.broken.append(f"{answer.status} {answer.url}")

    tab.on("response", response)
    tab.base = site_url
    yield tab
    context.close()


def checked(page, shot: str) -> None:
    """The page as loaded so far: a screenshot; since the last check, no request off
    127.0.0.1, no script error and no file missing; one h1 first, and headings that go down
    one level at a time; no serious or critical axe-core violation."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state("load")
    step(page, f"site-{shot}")
    foreign, errors, broken = list(page.foreign), list(page.errors), list(page.broken)
    for found in (page.foreign, page.errors, page.broken):
        found.clear()
    assert foreign == [], f"{page.url} asked other hosts: {foreign}"
    assert errors == [], f"{page.url}: script errors {errors}"
    assert broken == [], f"{page.url}: files the site lacks {broken}"
    levels = page.evaluate(HEADINGS_JS)
    jumps = [(a, b) for a, b in pairwise(levels) if b > a + 1]
    assert levels[:1] == [1] and levels.count(1) == 1 and not jumps, f"{page.url}: {levels}"
    violations = Axe().run(page).response["violations"]
    severe = [
        (v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["target"])
        for v in violations
        if v["impact"] in SEVERE
    ]
    assert severe == [], f"{page.url}: axe-core's serious/critical violations {severe}"


@pytest.mark.parametrize("edition", EDITIONS)
def test_home_chapter_and_exercise_set(page, edition):
    prefix, title, _, captions = EDITIONS[edition]
    page.goto(f"{page.base}/{prefix}index.html")
    nav = page.locator("nav.bd-links")
    for caption in captions:
        assert nav.get_by_text(caption, exact=True).count() == 1, caption
    links = nav.locator("a.reference.internal")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    # every chapter and every exercise set of the repository, once each
    for folder in ("notebooks", "exercises"):
        expected = len(list((ROOT / folder).glob("*.ipynb")))
        assert sum(h.startswith(f"{folder}/") for h in hrefs) == expected, (folder, hrefs)
    checked(page, f"{edition}-home")

    nav.locator(f'a[href="{CHAPTER}"]').click()
    page.wait_for_selector(f'article h1:has-text("{title}")')
    # MathJax (served by the site) typeset the maths
    page.wait_for_selector("mjx-container", state="attached")
    images = page.evaluate(
        """() => Array.from(document.querySelectorAll('article img')).map(
             i => [i.getAttribute('alt') || '', i.complete && i.naturalWidth > 0])"""
    )
    assert images and all(alt.strip() and loaded for alt, loaded in images), images
    checked(page, f"{edition}-chapter-02")

    page.goto(f"{page.base}/{prefix}{EXERCISE}")
    launch = page.locator('article a[href^="https://colab.research.google.com/"]')
    assert launch.count() >= 1 and "exercises/" in launch.first.get_attribute("href")
    checked(page, f"{edition}-exercise-02")


def test_language_switch_opens_the_twin_page(page):
    page.goto(f"{page.base}/{CHAPTER}")
    page.locator("a.d2lmha-twin").click()
    page.wait_for_url(f"**/zh/{CHAPTER}")
    page.wait_for_selector(f'article h1:has-text("{EDITIONS["zh"][1]}")')
    checked(page, "switch-to-zh")
    page.locator("a.d2lmha-twin").click()
    page.wait_for_url(f"{page.base}/{CHAPTER}")
    page.wait_for_selector(f'article h1:has-text("{EDITIONS["en"][1]}")')


@pytest.mark.parametrize("edition", EDITIONS)
def test_search_finds_the_multi_head_chapter(page, edition):
    prefix, title, words, _ = EDITIONS[edition]
    page.goto(f"{page.base}/{prefix}search.html?q={quote(words)}")
    result = page.locator(f'#search-results a[href*="{CHAPTER}"]').first
    result.wait_for()
    checked(page, f"{edition}-search")
    result.click()
    page.wait_for_selector(f'article h1:has-text("{title}")')
    assert urlsplit(page.url).path == f"/{prefix}{CHAPTER}"


def test_chapter_04_head_viewer_from_its_saved_state(page):
    page.goto(f"{page.base}/notebooks/04_visualizing_heads.html")
    page.wait_for_selector(".widget-slider")  # the viewer's controls, from its widget state
    checked(page, "chapter-04-viewer")
