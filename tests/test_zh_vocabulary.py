"""The 中文 edition speaks one vocabulary: ``translations/zh/glossary.yml``.

Every term has one Chinese rendering; no forbidden variant of it (``掩码`` for 掩蔽, ``宽度`` for
维度, ``软件包`` for 包, ``et al.`` for 等人, an answer-option column headed ``键``…) appears in
what a Chinese reader reads: the prose and the string literals and comments (never identifiers)
of ``notebooks/zh``, ``solutions/zh``, ``exercises/zh``, and the Chinese guide ``docs/zh``.
Chapter 00's glossary table, in both editions, is the one the glossary file makes. Text only:
about 3 s of CPU.
"""

from tools import vocabulary

TERMS = vocabulary.load()


def test_no_forbidden_variant_in_the_chinese_edition():
    found = vocabulary.check(terms=TERMS)
    assert not found, (
        f"{len(found)} forbidden variants (fix the translation file, then `make zh`):\n"
        + "\n".join(map(str, found[:40]))
    )


def test_chapter_00_glossary_tables_are_made_from_the_glossary():
    table = vocabulary.table(TERMS)
    _, english = vocabulary.english_table_cell()
    assert table in english.source, "run `python -m tools.vocabulary tables`, then `make zh`"
    assert table in vocabulary.chinese_table_cell(), "run `python -m tools.vocabulary tables`"
    assert table in vocabulary.GUIDE.read_text(encoding="utf-8"), "and the guide's table"


def test_every_term_is_written_once():
    assert len({t.en for t in TERMS}) == len(TERMS)
    renderings = {t.zh: t.en for t in TERMS}
    for term in TERMS:
        for variant in term.forbidden:
            assert variant not in renderings, f"{variant!r} is both a rendering and forbidden"


def test_the_check_reads_prose_and_strings_not_code():
    markdown = "用掩码遮住填充，见 Vaswani et al. (2017)；`mask_掩码` 是代码。"
    found = vocabulary.findings("cell", vocabulary.prose(markdown), TERMS)
    assert sorted(f.found for f in found) == ["et al.", "掩码"]
    code = 'x_宽度 = 1  # 宽度\nprint("Vaswani et al.")\n'
    pieces = vocabulary.code_text(code)
    assert pieces == ["# 宽度", '"Vaswani et al."']
    found = [f.found for p in pieces for f in vocabulary.findings("cell", p, TERMS)]
    assert found == ["宽度"], "et al. counts only in Chinese text; identifiers never"
    option = '| 键 | 该层做了什么 |\n| --- | --- |\n| `"A"` | … |'
    assert [f.term.zh for f in vocabulary.findings("cell", option, TERMS)] == ["选项"]
