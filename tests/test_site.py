"""The website's staging rules (tools/site.py), without building it: where a notebook lands,
how its links and figures are rewritten. The built site is checked in a browser by
e2e/test_site.py (`make e2e`)."""

import nbformat
import pytest

from tools import site


def test_each_notebook_has_one_path_in_both_editions():
    assert site.site_path("notebooks/02_x.ipynb") == ("en", "notebooks/02_x.ipynb")
    assert site.site_path("notebooks/zh/02_x.ipynb") == ("zh", "notebooks/02_x.ipynb")
    assert site.site_path("exercises/zh/") == ("zh", "index.md")
    assert site.site_path("solutions/02_x.ipynb") is None  # not on the site
    assert site.site_path("README.md") is None


def test_links_point_at_pages_of_the_site():
    # within an edition: a MyST link to the staged notebook, which Sphinx checks
    assert (
        site.resolve_links("[set](../../exercises/zh/02_s.ipynb)", "notebooks/zh/02_c.ipynb", "zh")
        == "[set](../exercises/02_s.ipynb)"
    )
    assert (
        site.resolve_links("[all](../exercises/)", "notebooks/01_c.ipynb", "en")
        == "[all](../index.md)"
    )
    # into the other edition: the twin's page
    assert (
        site.resolve_links("[en](../01_c.ipynb)", "notebooks/zh/00_o.ipynb", "zh")
        == '<a href="../../notebooks/01_c.html">en</a>'
    )
    assert (
        site.resolve_links("[中文](zh/01_c.ipynb)", "notebooks/00_o.ipynb", "en")
        == '<a href="../zh/notebooks/01_c.html">中文</a>'
    )
    kept = "[web](https://example.org/x.ipynb) [code](../d2lmha/viewer.py) [s](#q1)"
    assert site.resolve_links(kept, "notebooks/04_v.ipynb", "en") == kept


def test_alt_text_is_the_figures_titles_else_the_sentence_introducing_it():
    code = nbformat.v4.new_code_cell
    titled = code('ax.set_title("loss")\nshow(x, titles=["head 0", f"head {i}", \'head 1\'])')
    assert site.alt_text(titled, "Prose.") == "loss; head 0; head 1"
    last = "Here is every head of layer 0, one panel each:"
    prose = f"## 2. Heads\n\nThe value is 0.57 (see `d2lmha.viewer`). {last}"
    assert site.alt_text(code("plt.show()"), prose) == last
    short = "A long first sentence about the twelve heads of layer zero. Below:"
    assert site.alt_text(code("plt.show()"), short) == short
    zh = "它们在做什么？看看注意力图。"  # two short sentences, joined as written
    assert site.alt_text(code("plt.show()"), zh) == zh
    assert site.alt_text(code("plt.show()"), "## Heads only") == "Heads only"


def test_a_widget_without_saved_state_falls_back_to_its_text():
    view = {"model_id": "gone", "version_major": 2, "version_minor": 0}
    output = nbformat.v4.new_output(
        "display_data", data={site.WIDGET_VIEW: view, "text/plain": "[viewer]"}
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[output])])
    nb.metadata["widgets"] = {site.WIDGET_STATE: {"state": {"other": {}}}}
    site._static_widgets(nb)
    assert list(nb.cells[0].outputs[0]["data"]) == ["text/plain"]
    assert "widgets" not in nb.metadata


def test_zh_search_knows_the_course_terms():
    assert "多头注意力" in site.zh_terms()


def test_conf_names_the_edition():
    assert site.sphinx_conf("zh", "../../_vendor")["language"] == "zh_CN"
    with pytest.raises(ValueError, match="edition"):
        site.sphinx_conf("fr", "../_vendor")


def test_every_edition_has_the_sites_words():
    """A new edition of d2lmha.editions needs its words on the site (tools.site.TEXT)."""
    assert set(site.TEXT) == set(site.EDITIONS)
