"""The 中文 edition cannot drift from the English one.

Each Chinese notebook is what ``python -m tools.zh sync`` makes of its English twin and its
translation file: the same cells (ids, order, kinds), the same code token for token except
translated string literals and comments, every prose cell in Chinese. Both editions have the
same notebooks; the Chinese student notebooks are what ``otter assign`` makes of the Chinese
solutions; figures carry Chinese labels without missing glyphs. (nbval runs both editions;
``test_grading_sets.py`` grades Chinese submissions with the English sets' hidden tests.)
"""

import copy
import re
import tokenize
import warnings

import nbformat
import pytest
import yaml

from d2lmha import editions
from d2lmha.editions import codes
from tools import notebooks as meta
from tools import zh

ENGLISH = zh.english_notebooks()
IDS = [str(p.relative_to(zh.ROOT)) for p in ENGLISH]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _cells(nb):
    return [(c.cell_type, c.id, c.source) for c in nb.cells]


@pytest.mark.parametrize("lang", codes())
@pytest.mark.parametrize("folder", meta.FOLDERS)
def test_both_editions_have_the_same_notebooks(folder, lang):
    english = {p.name for p in (zh.ROOT / folder).glob("*.ipynb")}
    chinese = {p.name for p in (zh.ROOT / folder / lang).glob("*.ipynb")}
    assert english, folder
    assert chinese == english, f"only in one edition: {sorted(chinese ^ english)}"


@pytest.mark.parametrize("lang", codes())
def test_every_translation_file_has_its_english_notebook(lang):
    # translations/<lang>/glossary.yml is the edition's vocabulary (tests/test_zh_vocabulary.py)
    folders = [zh.ROOT / "translations" / lang / folder for folder in zh.SOURCES]
    files = [f for folder in folders for f in folder.rglob("*.yml")]
    assert sorted(files) == sorted(zh.translation_file(p, lang=lang) for p in ENGLISH)


@pytest.mark.parametrize("path", ENGLISH, ids=IDS)
def test_chinese_notebook_is_made_from_the_english_one(path):
    made = zh.made_twin(path)
    committed = nbformat.read(zh.twin(path), as_version=nbformat.NO_CONVERT)
    assert _cells(committed) == _cells(made), (
        f"{zh.twin(path).relative_to(zh.ROOT)} is not what its English notebook and "
        "translation make: edit the English notebook or the translation file, then `make zh`"
    )


def _code_tokens(source):
    """The tokens that compute: everything but string literals, comments and layout."""
    skip = {tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE}
    return [(t.type, t.string) for t in zh._tokens(source, "cell") if t.type not in skip]


@pytest.mark.parametrize("path", ENGLISH, ids=IDS)
def test_code_is_the_same_in_both_editions(path):
    """Independent of the tool: token by token, only literals and comments may differ, and a
    literal only where the translation file says so."""
    english = nbformat.read(path, as_version=4).cells
    chinese = nbformat.read(zh.twin(path), as_version=4).cells
    assert [(c.cell_type, c.id) for c in chinese] == [(c.cell_type, c.id) for c in english]
    for en, cn in list(zip(english, chinese, strict=True))[1:]:  # the set-up cell is per edition
        if en.cell_type == "markdown":
            continue
        if en.cell_type == "raw":
            assert cn.source == en.source, en.id
            continue
        assert _code_tokens(cn.source) == _code_tokens(en.source), f"cell {en.id}"
        assert _literals(cn.source) == _literals(en.source), f"cell {en.id}: an f-string's braces"


def _literals(source):
    """What each string literal computes besides its text (an f-string's expressions)."""
    return [
        zh.literal_code(t.string) for t in zh._tokens(source, "cell") if t.type == tokenize.STRING
    ]


def _shown(cell):
    """A cell's text outputs: what nbval compares in a ``# NBVAL_CHECK_OUTPUT`` cell."""
    return [o.get("text") or o.get("data", {}).get("text/plain") for o in cell.get("outputs", [])]


@pytest.mark.parametrize(
    "path", [p for p in ENGLISH if p.parent.name == "notebooks"], ids=lambda p: p.name
)
def test_checked_outputs_of_untranslated_cells_are_the_same_in_both_editions(path):
    """Where a checked cell's code is the same character for character, both editions stored
    the same output: the numbers a learner reads do not depend on the language."""
    english = nbformat.read(path, as_version=4).cells
    chinese = nbformat.read(zh.twin(path), as_version=4).cells
    same = [
        (en, cn)
        for en, cn in zip(english, chinese, strict=True)
        if en.cell_type == "code"
        and en.source.startswith("# NBVAL_CHECK_OUTPUT")
        and en.source == cn.source
    ]
    for en, cn in same:
        assert _shown(cn) == _shown(en), f"cell {en.id}"


@pytest.mark.parametrize("path", ENGLISH, ids=IDS)
def test_every_prose_cell_is_translated_and_no_entry_is_stale(path):
    english = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    translation = zh.load_translation(zh.translation_file(path))
    assert zh.unused(english, translation) == [], "entries that match nothing in the English"
    chinese = nbformat.read(zh.twin(path), as_version=4)
    untranslated = [
        c.id for c in chinese.cells if c.cell_type == "markdown" and not CJK.search(c.source)
    ]
    assert untranslated == []


@pytest.mark.parametrize("path", meta.all_notebooks(), ids=lambda p: str(p.relative_to(zh.ROOT)))
def test_no_figure_or_output_warns_of_missing_glyphs(path):
    texts = [
        o.get("text", "")
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ]
    # matplotlib's warning for plain text, and mathtext's for text between $...$
    assert not any("missing from font" in t or "does not have a glyph" in t for t in texts)


def test_chinese_labels_render_with_the_course_font():
    """``import d2lmha`` puts Noto Sans CJK SC behind the default font: Chinese text draws
    without a missing-glyph warning, Latin text still uses DejaVu Sans."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    import d2lmha

    assert d2lmha.enable_cjk_fallback()
    assert matplotlib.rcParams["font.family"][-1] == d2lmha.fonts.CJK_FAMILY
    fig, ax = plt.subplots()
    ax.set_title("注意力权重 attention weights")
    ax.set_xlabel("键")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.canvas.draw()
    plt.close(fig)
    first = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))
    assert "DejaVuSans" in first


def test_minilm_vocabulary_is_english():
    """Why the Chinese edition feeds the real model English sentences (chapter 00 says so)."""
    import d2lmha

    tokenizer = d2lmha.load_minilm()[1]
    assert tokenizer.encode("我爱机器学习").tokens == [
        "[CLS]",
        "我",
        "[UNK]",
        "[UNK]",
        "[UNK]",
        "学",
        "[UNK]",
        "[SEP]",
    ]


# The tool's guarantees, on small inputs.


def test_translation_replaces_whole_literals_and_comments_only():
    source = 'label = "Keys"  # the keys\nKeys = {"Keys": 1}\nprint(f"{label}: Keys")\n'
    strings = {'"Keys"': '"键"', "# the keys": "# 键"}
    used = set()
    out = zh.translate_code(source, strings, used=used)
    assert out == 'label = "键"  # 键\nKeys = {"键": 1}\nprint(f"{label}: Keys")\n'
    assert used == set(strings)


CONFIG = '""" # BEGIN TEST CONFIG\npoints: 1\n{}\n"""'  # otter's test settings


@pytest.mark.parametrize(
    "entry",
    [
        {'"a"': '"a" + secret'},  # a literal may not become code
        {'"a"': "# a"},  # nor a comment
        {"# a": "# a\nx = 1"},  # a comment may not grow a line of code
        {"x": "y"},  # names are never translated
        {"# NBVAL_CHECK_OUTPUT": "# 检查输出"},  # tool instructions stay
        # an f-string keeps the expressions in its braces (issue #25 item 5)
        {'f"loss {loss:.3f}"': "f\"损失 {__import__('os').getpid()}\""},
        {'f"loss {loss:.3f}"': 'f"损失"'},  # none dropped
        {'f"{x!r}"': 'f"{x!s}"'},  # nor their conversions
        {'f"{x:>{width}}"': 'f"{x:>{width + 1}}"'},  # nor a format spec's expressions
        {"f\"{d['keys']}\"": "f\"{d['键']}\""},  # a string the code uses is code
        {'f"{(n := 1)} {(n := 2)}"': 'f"{(n := 2)} {(n := 1)}"'},  # assignments in order
        {'"a"': 'f"{secret}"'},  # a plain literal does not become an f-string
        {'"a"': 'b"a"'},  # nor bytes
        {CONFIG.format("hidden: true"): CONFIG.format("hidden: false")},  # a test's settings
    ],
)
def test_translation_refuses_entries_that_could_change_code(entry):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(ValueError):
        zh.make_twin(nb, {"markdown": {}, "strings": entry})


@pytest.mark.parametrize(
    "entry",
    [
        {'f"loss {loss:.3f}"': 'f"损失 {loss:.4f}"'},  # a format spec's text is text
        {'f"{name:<24} size {size(w):.3f}"': 'f"大小 {size(w):.3f}：{name:<24}"'},  # word order
        {
            "f\"{'yes' if ok else 'no'} {', '.join(xs) or 'none'}\"": (
                "f\"{'是' if ok else '否'} {'、'.join(xs) or '无'}\""
            )
        },
        {CONFIG.format('failure_message: "no"'): CONFIG.format('failure_message: "不对"')},
    ],
)
def test_translation_accepts_entries_that_change_only_text(entry):
    zh.check_strings(entry)


def test_a_prose_cell_without_translation_is_named():
    cell = nbformat.v4.new_markdown_cell("Hello")
    cell.id = "abc123"
    nb = nbformat.v4.new_notebook(cells=[cell])
    with pytest.raises(ValueError, match="abc123"):
        zh.make_twin(nb, {"markdown": {}, "strings": {}})


@pytest.mark.parametrize(
    "lang, edition",
    [("zh", "zh/"), ("zh_CN.UTF-8", "zh/"), ("en", ""), ("C.UTF-8", ""), ("", "")],
)
def test_make_lab_opens_chapter_00_in_the_asked_edition(lang, edition):
    """``make lab LANG=zh`` (or a Chinese locale) opens the Chinese chapter 00 (dry run)."""
    import os
    import subprocess

    # Not the environment of a `make test` around us (MAKEFLAGS, MAKELEVEL): a learner's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")} | {"LANG": lang}
    done = subprocess.run(
        ["make", "-s", "-n", "--no-print-directory", "lab", f"LANG={lang}"],
        cwd=zh.ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    command = done.stdout.replace("\\\n", " ").strip().splitlines()[-1]
    assert command.endswith(f" notebooks/{edition}00_overview.ipynb"), command
    # LANG=zh is not a locale: the server does not get it (a real locale passes through).
    assert ("env -u LANG" in command) == (lang in ("zh", "en")), command


GLOSSARY_HEADER = "| English | 中文 |"


def _glossary(text):
    """The rows ``(English, 中文)`` of the glossary table in a markdown text."""
    lines = text.split("\n")
    start = lines.index(GLOSSARY_HEADER) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(tuple(part.strip() for part in line.strip("|").split("|")))
    return rows


def test_glossary_is_one_table_in_chapter_00_of_both_editions_and_the_guide():
    tables = []
    for path in (
        zh.ROOT / "notebooks" / "00_overview.ipynb",
        zh.ROOT / "notebooks" / "zh" / "00_overview.ipynb",
    ):
        (cell,) = [c for c in nbformat.read(path, as_version=4).cells if c.id == "glossary"]
        tables.append(_glossary(cell.source))
    tables.append(_glossary((zh.ROOT / "docs" / "instructors.md").read_text()))
    assert tables[0] == tables[1] == tables[2]
    chinese = {cn for _, cn in tables[0]}
    for term in ("查询", "键", "值", "注意力汇聚", "多头注意力", "位置编码", "掩蔽"):  # d2l-zh's
        assert any(term in cn for cn in chinese), term
    assert len(tables[0]) >= 30 and all(len(row) == 2 for row in tables[0])


def test_line_breaks_between_chinese_characters_are_removed_outside_code():
    code = "```\n代码\n代码\n```\n| 表 |\n| 格 |\n切成\n`[CLS]`"
    text = "## 标题\n第一行，\n第二行。\n* 列表\n  继续\n" + code
    assert zh.join_cjk_lines(text) == "## 标题\n第一行，第二行。\n* 列表继续\n" + code


def test_execute_runs_only_twins_whose_code_changed_unless_forced(monkeypatch):
    ran = []
    monkeypatch.setattr(zh, "execute", lambda paths: ran.extend(paths) or [])
    chapter = zh.ROOT / "notebooks" / "01_single_head_attention.ipynb"
    zh.main(["execute", str(chapter)])  # committed twins are run: nothing to do
    assert ran == []
    zh.main(["execute", "--force", str(chapter)])
    assert ran == [zh.twin(chapter)]


def test_a_twin_keeps_the_widget_state_of_its_own_run(tmp_path, monkeypatch):
    english = tmp_path / "notebooks" / "99_x.ipynb"
    made = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    made.metadata["widgets"] = {"state": "the English run's models"}  # what make_twin copies
    monkeypatch.setattr(zh, "made_twin", lambda *args, **kwargs: copy.deepcopy(made))
    target = zh.twin(english)
    target.parent.mkdir(parents=True)
    zh.sync(english)  # a first twin: no run of its own yet, so no state
    assert "widgets" not in nbformat.read(target, as_version=4).metadata
    ran = nbformat.read(target, as_version=4)
    ran.metadata["widgets"] = {"state": "the twin's own models"}  # what `execute` saves
    nbformat.write(ran, target)
    zh.sync(english)
    assert nbformat.read(target, as_version=4).metadata["widgets"] == ran.metadata["widgets"]


def _test_cells(nb):
    """The code cells between ``# BEGIN TESTS`` and ``# END TESTS`` of a set's source."""
    inside = False
    for cell in nb.cells:
        if cell.cell_type == "raw":
            inside = cell.source.startswith("# BEGIN TESTS") or (
                inside and not cell.source.startswith("# END TESTS")
            )
        elif inside and cell.cell_type == "code":
            yield cell


def _messages(source):
    """The string literals of a test that a learner reads: an ``assert``'s message, a ``msg=``
    argument, what a ``raise`` raises (each literal token, as written), and its TEST CONFIG's
    ``success_message`` and ``failure_message``."""
    import ast

    tree = ast.parse(source)
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.msg is not None:
            parts.append(node.msg)
        elif isinstance(node, ast.Call):
            parts += [k.value for k in node.keywords if k.arg == "msg"]
        elif isinstance(node, ast.Raise) and node.exc is not None:
            parts.append(node.exc)
    config = tree.body[0].value.value if tree.body and isinstance(tree.body[0], ast.Expr) else ""
    settings = yaml.safe_load(str(config).replace("# BEGIN TEST CONFIG", "")) or {}
    return [
        t.string
        for part in parts
        for t in zh._tokens(ast.get_source_segment(source, part), "test")
        if t.type == tokenize.STRING
    ] + [settings[k] for k in ("success_message", "failure_message") if k in settings]


@pytest.mark.parametrize(
    "path", [p for p in ENGLISH if p.parent.name == "solutions"], ids=lambda p: p.name
)
def test_every_test_message_of_a_chinese_set_is_chinese(path):
    """A learner of the 中文 edition reads why a test failed in Chinese (issue #25): every
    message of its public and hidden tests with English words in it is translated."""
    chinese = nbformat.read(zh.twin(path), as_version=4)
    english_words = re.compile(r"[A-Za-z]{2,}[^A-Za-z{}]+[A-Za-z]{2,}")
    untranslated = {
        message
        for cell in _test_cells(chinese)
        for message in _messages(cell.source)
        if english_words.search(re.sub(r"\{[^{}]*\}", "", message)) and not CJK.search(message)
    }
    assert not untranslated, f"add these to {zh.translation_file(path).name}: {untranslated}"


def test_the_graders_words_exist_in_every_language():
    from d2lmha.grading import messages

    for key, texts in messages.MESSAGES.items():
        assert set(texts) == {"", *codes()}, key
        fields = {f for f in re.findall(r"\{(\w+)\}", texts[""])}
        assert all(set(re.findall(r"\{(\w+)\}", t)) == fields for t in texts.values()), key
    off = messages.localize("RuntimeError: " + _off_limits("q2", "d2lmha.KVCache"), "zh")
    assert off == "RuntimeError: q2 要求你自己写出它：这里不可调用 d2lmha.KVCache"
    assert messages.localize("AssertionError: Tensor-likes are not close!", "zh").endswith("！")
    assert messages.localize("AssertionError: Tensor-likes are not close!", "") == (
        "AssertionError: Tensor-likes are not close!"
    )


def test_the_sandboxs_notes_on_a_run_are_translated_on_the_trusted_side():
    """The runner writes its notes (a cell raised or was skipped, a call skipped, the run
    stopped) in English from the catalog; a 中文 submission's CSV and feedback show them in
    Chinese, Python's own words for the learner's error aside."""
    from d2lmha.grading import messages, runner

    assert runner.MESSAGES is not messages.MESSAGES and runner.MESSAGES == messages.MESSAGES
    say = messages.say
    why = say("longer_than", seconds="20")
    cases = {
        say("cell_skipped", cell=2, why=why): "代码单元格 2 运行超过 20 秒，已跳过",
        say("call_skipped", name="f", why=say("past_limit", seconds="300")): (
            "对 f 的一次调用超过了 300 秒的时间限制，已跳过"
        ),
        say(
            "run_stopped", why=say("ended_process", status=-9)
        ): "这次运行结束了进程（退出状态 -9）",
        say("cell_raised", cell=3, error="NameError: name 'x' is not defined"): (
            "代码单元格 3：NameError: name 'x' is not defined"
        ),
        say("cell_raised", cell=4, error="RuntimeError: " + _off_limits("q1", "torch.bmm")): (
            "代码单元格 4：RuntimeError: q1 要求你自己写出它：这里不可调用 torch.bmm"
        ),
        say("not_finished"): "笔记本没有运行完",
        "a note of another form; skipped": "a note of another form; skipped",
    }
    for note, chinese in cases.items():
        assert messages.localize_report(note, "zh") == chinese
        assert messages.localize_report(note, "") == note
    stopped = "RuntimeError: " + say("did_not_return", name="f", why=why)
    assert messages.localize(stopped, "zh") == "RuntimeError: f 没有返回：它运行超过 20 秒"


def _off_limits(question, path):
    from d2lmha.grading.guard import off_limits

    return off_limits(question, path)


@pytest.mark.parametrize("path", sorted((zh.ROOT / "exercises" / "zh").glob("*.ipynb")))
def test_otters_closing_cell_is_translated(path):
    from d2lmha.grading.messages import say

    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert say("check_all", "zh") in text and say("check_all") not in text


GUIDES = {lang: zh.ROOT / "docs" / lang / "instructors.md" for lang in codes()}


@pytest.mark.parametrize("lang", sorted(GUIDES))
def test_the_translated_guide_keeps_step_with_the_english(lang):
    """The same sections (heading levels, in order), tables (rows each) and command blocks
    (character for character) as ``docs/instructors.md``: a section added to one edition of
    the guide fails until the other has it."""
    english = zh.outline((zh.ROOT / "docs" / "instructors.md").read_text(encoding="utf-8"))
    translated = zh.outline(GUIDES[lang].read_text(encoding="utf-8"))
    assert translated["headings"] == english["headings"], "sections differ"
    assert translated["tables"] == english["tables"], "tables (rows each) differ"
    for ours, theirs in zip(translated["blocks"], english["blocks"], strict=True):
        assert ours == theirs, "a command block differs"


def test_outline_sees_sections_tables_and_blocks():
    text = "# A\n\ntext\n\n## B\n| a |\n| - |\n| 1 |\n\n```bash\nmake x\n# not a heading\n```\n"
    assert zh.outline(text) == {
        "headings": [1, 2],
        "tables": [3],
        "blocks": ["```bash\nmake x\n# not a heading"],
    }


def _make_variable(name):
    text = (zh.ROOT / "Makefile").read_text()
    return re.search(rf"^{name}\s*:=(.*)$", text, re.M).group(1).split()


def test_one_registry_of_editions_and_everything_agrees_with_it():
    """A new edition is a translation folder and an entry of ``d2lmha.editions``: the
    Makefile's ``EDITIONS`` (``make lab LANG=…``) and install extras, ``pyproject.toml``'s
    extras, the grader's words and the feedback page's all follow it."""
    import tomllib

    from d2lmha.grading import feedback, messages

    extras = [e.extra for e in editions.TRANSLATED.values() if e.extra]
    assert _make_variable("EDITIONS") == codes()
    assert _make_variable("EDITION_EXTRAS") == extras
    pyproject = tomllib.loads((zh.ROOT / "pyproject.toml").read_text())
    assert set(extras) <= set(pyproject["project"]["optional-dependencies"])
    assert messages.languages() == {"", *codes()}
    assert set(feedback.STRINGS) == {"", *codes()}
    for code, this in editions.TRANSLATED.items():
        assert this.folder == code and editions.edition(code) is this
        assert (zh.ROOT / "translations" / code).is_dir()
        assert this.setup_comment.format(mark="#", ref="main").startswith("#")
    with pytest.raises(ValueError, match="edition='xx'"):
        editions.edition("xx")


@pytest.mark.parametrize("lang", codes())
def test_every_editions_font_is_registered_on_import(lang):
    import matplotlib

    import d2lmha

    this = editions.edition(lang)
    if this.font_family:
        assert d2lmha.fonts.font_path(this) is not None, f"pip install .[{this.extra}]"
        assert this.font_family in matplotlib.rcParams["font.family"]


@pytest.mark.parametrize("lang", codes())
def test_a_submission_is_told_apart_by_its_editions_script(lang):
    from d2lmha.grading.feedback import edition

    student = next((zh.ROOT / "exercises" / lang).glob("*.ipynb")).read_bytes()
    english = next((zh.ROOT / "exercises").glob("*.ipynb")).read_bytes()
    assert edition(student) == lang and edition(english) == ""
