"""The 中文 edition: every notebook's Chinese twin, made from the English notebook.

    python -m tools.zh sync [PATH…]      # write notebooks/zh/, solutions/zh/ from the English
    python -m tools.zh execute [PATH…]   # run the twins whose code changed (--force: all)
    python -m tools.zh exercises [PATH…] # exercises/zh/ from solutions/zh/ (otter assign)
    python -m tools.zh skeleton PATH     # what in an English notebook still lacks a translation

One course, two languages, one copy of the code. An English notebook (``notebooks/NN_*.ipynb`` or
``solutions/NN_*.ipynb``) and its translation file ``translations/zh/<folder>/<stem>.yml`` make
the Chinese twin (``notebooks/zh/<same name>``); nothing in a Chinese notebook is edited by
hand. The translation file holds

* ``markdown``: the Chinese text of every prose cell, by cell id (the twin keeps the ids);
* ``strings``: Chinese replacements for whole string literals and comments of the code, each
  written exactly as in the source (quotes and prefix, or the ``#``) and replaced by one token
  of the same kind that computes the same (:func:`check_strings`: an f-string keeps the
  expressions in its braces), so a translation can change what a cell prints or a figure
  says, never what it computes.

Each translated edition is an entry of ``d2lmha.editions`` (``zh`` today): every command runs
for each one, or for those named with ``--edition``.

Everything else (code, raw cells, cell order and metadata) is the English notebook's, except
the saved widget state (``metadata.widgets``): a twin keeps that of its own run. A change
to a code cell is made once, in English; ``make zh`` re-makes the twins, runs those whose code
changed and rebuilds the Chinese exercise sets. ``tests/test_zh.py`` fails while a twin differs
from what ``sync`` makes of it, while a prose cell has no translation or a translation has no
cell, or while either edition has a notebook the other lacks. Exercise sets (``exercises/zh``)
are made from ``solutions/zh`` by ``otter assign``, as in English, and graded by the English
set's grader (same hidden tests): the twin keeps the set's name.
"""

from __future__ import annotations

import argparse
import copy
import io
import re
import sys
import tokenize
from pathlib import Path

import nbformat
import yaml

from d2lmha.editions import codes, edition

ROOT = Path(__file__).resolve().parents[1]
LANG = "zh"  # the edition made when none is named (every one: ``--edition``; d2lmha.editions)
SOURCES = ("notebooks", "solutions")  # translated; exercises/zh is made from solutions/zh
_KINDS = {tokenize.STRING: "string literal", tokenize.COMMENT: "comment"}
# Comments that are instructions to tools (nbval, otter, ruff), never translated.
MARKERS = re.compile(r"#\s*(NBVAL_|SOLUTION|BEGIN |END |noqa|type:|fmt:|IGNORE)")


def english_notebooks(root: Path = ROOT) -> list[Path]:
    """The English notebooks that have a translated twin: chapters and exercise sources."""
    return [p for folder in SOURCES for p in sorted((root / folder).glob("*.ipynb"))]


def twin(path: Path, lang: str = LANG) -> Path:
    """``notebooks/01_x.ipynb`` → ``notebooks/zh/01_x.ipynb`` (and so on for each folder and
    each edition ``lang``)."""
    path = Path(path).resolve()
    return path.parent / edition(lang).folder / path.name


def translation_file(path: Path, root: Path = ROOT, lang: str = LANG) -> Path:
    """The translation of an English notebook: ``translations/<lang>/<folder>/<stem>.yml``."""
    path = Path(path).resolve()
    return root / "translations" / edition(lang).folder / path.parent.name / f"{path.stem}.yml"


def load_translation(path: Path) -> dict:
    """``{"markdown": {id: text}, "strings": {token: token}}`` from a translation file.

    Raises:
        FileNotFoundError: no such file. ValueError: not a mapping with those two keys.
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or set(data) - {"markdown", "strings"}:
        raise ValueError(f"{path}: expected a mapping with keys 'markdown' and 'strings'")
    markdown, strings = data.get("markdown") or {}, data.get("strings") or {}
    for name, table in (("markdown", markdown), ("strings", strings)):
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()
        ):
            raise ValueError(f"{path}: '{name}' must map text to text")
    return {"markdown": markdown, "strings": strings}


def join_cjk_lines(text: str, lang: str = LANG) -> str:
    """Remove the line breaks between two Chinese characters inside a paragraph (the
    edition's line-joining rule, ``d2lmha.editions``: its ``join_lines`` characters).

    Markdown renders a line break inside a paragraph as a space, which between Chinese
    characters is a stray gap; translation files may still wrap their lines. Lines in code
    blocks and ``$$`` maths, headings and table rows are never joined.
    """
    if not edition(lang).join_lines:
        return text
    joins = re.compile(edition(lang).join_lines)
    out: list[str] = []
    fenced = False
    for line in text.split("\n"):
        stripped = line.strip()
        previous = out[-1] if out else ""
        if (
            not fenced
            and stripped
            and joins.match(stripped)
            and previous.strip()
            and joins.match(previous[-1])
            and not previous.lstrip().startswith(("#", "|"))
        ):
            out[-1] = previous + stripped
        else:
            out.append(line)
        if stripped.startswith(("```", "$$")) and not (
            stripped.endswith("$$") and len(stripped) > 2
        ):
            fenced = not fenced
    return "\n".join(out)


def outline(markdown: str) -> dict:
    """The shape of a markdown document that its translation keeps: each heading's level,
    each table's number of rows (header and rule included), and each fenced block's text
    (commands, configuration, examples: never translated), in order.

    ``tests/test_zh.py`` compares the outlines of ``docs/instructors.md`` and its translation
    ``docs/zh/instructors.md``, so a section, a table row or a changed command in one edition
    fails until the other follows.
    """
    headings, tables, blocks = [], [], []
    fence, block, rows = None, [], 0
    for line in markdown.split("\n") + [""]:
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence):
                blocks.append("\n".join(block))
                fence, block = None, []
            else:
                block.append(line)
            continue
        if stripped.startswith(("```", "~~~")):
            fence, block = stripped[:3], [stripped]
            continue
        if stripped.startswith("|"):
            rows += 1
            continue
        if rows:
            tables.append(rows)
            rows = 0
        heading = re.match(r"(#{1,6}) ", line)
        if heading:
            headings.append(len(heading.group(1)))
    return {"headings": headings, "tables": tables, "blocks": blocks}


def _tokens(source: str, where: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as error:
        raise ValueError(f"{where}: cannot tokenize the code: {error}") from error


def _text_masked(node, shown: bool = True):
    """``node`` with the text a learner reads masked out, so what remains is what it computes.

    Text is a string constant whose value is shown, not used: the literal parts of an
    f-string (format-spec text included), and a string in a *shown* position: the whole
    replacement field, a branch of ``a if c else b``, an operand of ``or``/``and``, a
    separator ``", ".join(...)``. Only whether such a text is empty is kept (``or`` and
    ``and`` test it). Any other constant (a dict key, an argument, a comparison) is code.
    """
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and shown:
        return ast.Constant(value=bool(node.value))
    if isinstance(node, ast.JoinedStr):
        return ast.JoinedStr(
            values=[_text_masked(v) for v in node.values if isinstance(v, ast.FormattedValue)]
        )
    if isinstance(node, ast.FormattedValue):
        spec = node.format_spec and _text_masked(node.format_spec)
        return ast.FormattedValue(_text_masked(node.value), node.conversion, spec)
    if isinstance(node, ast.IfExp) and shown:
        return ast.IfExp(
            _text_masked(node.test, False), _text_masked(node.body), _text_masked(node.orelse)
        )
    if isinstance(node, ast.BoolOp) and shown:
        return ast.BoolOp(node.op, [_text_masked(v) for v in node.values])
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and isinstance(node.func.value, ast.Constant)
        and shown
    ):
        func = ast.Attribute(_text_masked(node.func.value), "join", node.func.ctx)
        args = [_text_masked(a, False) for a in node.args]
        return ast.Call(func, args, node.keywords)
    for name, value in ast.iter_fields(node):  # any other node: its strings are code
        if isinstance(value, ast.AST):
            setattr(node, name, _text_masked(value, False))
        elif isinstance(value, list):
            setattr(
                node, name, [_text_masked(v, False) if isinstance(v, ast.AST) else v for v in value]
            )
    return node


def literal_code(literal: str) -> tuple:
    """What a string literal computes besides the text it shows: its type (``str`` or
    ``bytes``) and, for an f-string, each replacement field (its expression, ``!conversion``
    and format-spec expressions) as an AST dump with its shown text masked
    (:func:`_text_masked`).

    Two literals with the same ``literal_code`` differ only in text a reader sees:
    ``f"loss {loss:.3f}"`` and ``f"损失 {loss:.3f}"``, or ``f"{'yes' if ok else 'no'}"`` and
    ``f"{'是' if ok else '否'}"``. The fields may come in another order (word order differs
    between languages), unless one assigns (``:=``), where the order of evaluation matters.

    Raises:
        ValueError: ``literal`` is not one string literal.
    """
    import ast

    try:
        node = ast.parse(literal.strip(), mode="eval").body
    except SyntaxError as error:
        raise ValueError(f"not a string literal: {literal!r} ({error.msg})") from error
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return (type(node.value).__name__,)
    if not isinstance(node, ast.JoinedStr):
        raise ValueError(f"not a string literal: {literal!r}")
    fields = [ast.dump(_text_masked(v)) for v in node.values if isinstance(v, ast.FormattedValue)]
    assigns = any(isinstance(n, ast.NamedExpr) for n in ast.walk(node))
    return ("str", *(fields if assigns else sorted(fields)))


# A test's settings (otter's TEST CONFIG docstring): only its messages are text to translate.
_TEST_CONFIG = re.compile(r'^[rR]?("""|\'\'\')\s*# BEGIN TEST CONFIG')
_MESSAGES = {"success_message", "failure_message"}


def _test_settings(literal: str) -> dict | None:
    """The settings of a TEST CONFIG literal other than its messages (None for any other)."""
    if not _TEST_CONFIG.match(literal):
        return None
    import ast

    text = ast.literal_eval(literal).replace("# BEGIN TEST CONFIG", "")
    settings = yaml.safe_load(text.replace("# END TEST CONFIG", "")) or {}
    return {k: v for k, v in settings.items() if k not in _MESSAGES}


def check_strings(strings: dict, where: str = "strings") -> None:
    """Every entry replaces one string literal by one string literal, or one comment by one
    comment: the guarantee that a translation never changes the code.

    A literal keeps what it computes (:func:`literal_code`): its type, and an f-string the
    expressions in its braces, their conversions and format-spec expressions, in order
    (``f"loss {loss:.3f}"`` may become ``f"损失 {loss:.3f}"``, never
    ``f"损失 {__import__('os').getpid()}"``). A test's settings (otter's ``TEST CONFIG``)
    may change only in their ``success_message`` and ``failure_message``.

    Raises:
        ValueError: naming the first entry that is not such a pair.
    """
    for key, value in strings.items():
        kinds = []
        for text in (key, value):
            toks = [
                t
                for t in _tokens(text, f"{where} {key!r}")
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)
            ]
            ok = len(toks) == 1 and toks[0].type in _KINDS and toks[0].string == text
            kinds.append(toks[0].type if ok else None)
        if None in kinds or kinds[0] != kinds[1]:
            raise ValueError(
                f"{where}: {key!r} → {value!r} must replace one string literal by one string "
                "literal, or one comment by one comment, written exactly as in the code"
            )
        if kinds[0] != tokenize.STRING:
            continue
        if literal_code(key) != literal_code(value):
            raise ValueError(
                f"{where}: {key!r} → {value!r} changes what the literal computes: keep its "
                "type and, in an f-string, every expression in braces (with its !conversion "
                "and format-spec expressions) as in the English, in the same order"
            )
        if _test_settings(key) != _test_settings(value):
            raise ValueError(
                f"{where}: {key!r} → {value!r} changes a test's settings: only its "
                "success_message and failure_message are translated"
            )


def translate_code(source: str, strings: dict, where: str = "code", used: set | None = None) -> str:
    """``source`` with each string literal or comment that is a key of ``strings`` replaced.

    Only whole tokens are replaced, so names, numbers and operators are untouched. ``used``
    collects the keys that matched.
    """
    if not strings:
        return source
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    out, last = [], 0
    for tok in _tokens(source, where):
        if tok.type in _KINDS and tok.string in strings:
            begin = starts[tok.start[0] - 1] + tok.start[1]
            end = starts[tok.end[0] - 1] + tok.end[1]
            out += [source[last:begin], strings[tok.string]]
            last = end
            if used is not None:
                used.add(tok.string)
    return "".join(out) + source[last:]


def make_twin(
    english, translation: dict, where: str = "notebook", used: set | None = None, lang: str = LANG
):
    """The Chinese notebook made from an English one: prose from ``translation["markdown"]`` by
    cell id, code with ``translation["strings"]`` applied, everything else as in English.

    Raises:
        ValueError: a prose cell without a translation (its id named), or a bad string entry.
    """
    check_strings(translation["strings"], where)
    for key in translation["strings"]:
        if MARKERS.match(key):
            raise ValueError(f"{where}: {key!r} is an instruction to a tool; it is not translated")
    nb = copy.deepcopy(english)
    missing = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = translation["markdown"].get(cell.id)
            if text is None:
                missing.append(cell.id)
            else:
                cell.source = join_cjk_lines(text.rstrip("\n"), lang)
                if used is not None:
                    used.add(cell.id)
        elif cell.cell_type == "code":
            cell.source = translate_code(
                cell.source, translation["strings"], f"{where} cell {cell.id}", used
            )
    if missing:
        raise ValueError(f"{where}: prose cells without a translation: {', '.join(missing)}")
    return nb


def unused(english, translation: dict) -> list[str]:
    """Entries of a translation that match nothing in the English notebook (stale ones)."""
    used: set = set()
    make_twin(english, translation, used=used)
    return [key for table in translation.values() for key in table if key not in used]


def made_twin(path: Path, root: Path = ROOT, lang: str = LANG):
    """``make_twin`` for the English notebook at ``path`` and its translation file, finished
    by ``tools.notebooks`` (the Chinese set-up cell, the twin's own badges, slide types)."""
    from tools import notebooks

    english = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    translation = load_translation(translation_file(path, root, lang))
    made = make_twin(english, translation, str(Path(path).relative_to(root)), lang=lang)
    for step in notebooks.STEPS.values():
        made = step(made, twin(path, lang), root)
    return made


def _keep_own_widget_state(made, before) -> None:
    """Give ``made`` (a twin just made) the saved widget state of ``before`` (the twin as its own
    last run left it; None: no state), never the English notebook's: the state holds the models
    of the widgets that run drew (chapter 04's head viewer), whose ids are in the twin's outputs,
    and the website draws a viewer only from a state that holds its model (tools/site.py)."""
    made.metadata.pop("widgets", None)
    if before is not None and "widgets" in before.metadata:
        made.metadata["widgets"] = before.metadata["widgets"]


def sync(path: Path, root: Path = ROOT, lang: str = LANG) -> bool:
    """Write the twin of ``path``; keep a cell's outputs where its code is unchanged, and the
    widget state of the twin's own run (``execute`` saves it), not the English one's.

    Returns True when a code cell changed (the twin needs running: ``execute``).
    """
    from tools import notebooks

    path = Path(path).resolve()
    target = twin(path, lang)
    made = made_twin(path, root, lang)
    old, before_nb = {}, None
    if target.exists():
        before_nb = nbformat.read(target, as_version=nbformat.NO_CONVERT)
        old = {c.id: c for c in before_nb.cells}
    _keep_own_widget_state(made, before_nb)
    stale = False
    for cell in made.cells:
        if cell.cell_type != "code":
            continue
        before = old.get(cell.id)
        if before is not None and before.source == cell.source:
            cell.outputs, cell.execution_count = before.outputs, before.execution_count
        elif notebooks.is_setup(cell):
            cell.outputs, cell.execution_count = [], None
        else:
            cell.outputs, cell.execution_count, stale = [], None, True
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(made, target)
    return stale


def needs_run(path: Path) -> bool:
    """A notebook with a code cell that was never run (no execution count)."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    return any(
        c.cell_type == "code" and c.execution_count is None and c.source.strip()
        for c in nb.cells[1:]
    )


def execute(paths) -> list[Path]:
    """Run each notebook top to bottom in place (nbconvert), then strip transient metadata.

    The kernel gets the inline backend whatever ``MPLBACKEND`` says (with ``Agg`` a figure
    would be drawn but never shown, so the notebook would store none).
    """
    import os
    import subprocess

    from tools import notebooks

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    ran = []
    for path in paths:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter",
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                "--inplace",
                # a cell that runs this long has stalled (tools/kernel_stall.py): fail, not hang
                "--ExecutePreprocessor.timeout=600",
                str(path),
            ],
            check=True,
            env=env,
        )
        notebooks.apply(["strip"], Path(path))
        ran.append(Path(path))
    return ran


def skeleton(path: Path, root: Path = ROOT, lang: str = LANG) -> str:
    """YAML listing what of the English notebook at ``path`` has no translation yet: prose
    cells (English text, to replace) and the comments and string literals with words in them."""
    english = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    file = translation_file(path, root, lang)
    done = load_translation(file) if file.exists() else {"markdown": {}, "strings": {}}
    from tools.notebooks import BADGE_MARK, is_setup

    markdown = {
        c.id: "\n".join(line for line in c.source.split("\n") if not line.startswith(BADGE_MARK))
        for c in english.cells
        if c.cell_type == "markdown" and c.id not in done["markdown"]
    }
    strings = {}
    for cell in english.cells:
        if cell.cell_type != "code" or is_setup(cell):
            continue
        for tok in _tokens(cell.source, f"cell {cell.id}"):
            text = tok.string
            wordy = any(ch.isalpha() for ch in text) and (
                " " in text or tok.type == tokenize.COMMENT
            )
            if tok.type in _KINDS and wordy and text not in done["strings"]:
                if not MARKERS.match(text):
                    strings[text] = text
    return dump({"markdown": markdown, "strings": strings})


class _Dumper(yaml.SafeDumper):
    """Multi-line text as YAML block scalars (``|``), so a translation file reads like prose."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def dump(data: dict) -> str:
    """YAML text of a translation (``skeleton``'s output format)."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10**6)


def _command(command: str, english: list, lang: str, force: bool) -> None:
    """One command of :func:`main` for the edition ``lang``."""
    if command == "skeleton":
        for path in english:
            print(skeleton(path, lang=lang))
    elif command == "sync":
        for path in english:
            changed = sync(path, lang=lang)
            shown = twin(path, lang).relative_to(ROOT)
            print(f"sync: {shown}" + (" (code changed)" if changed else ""))
    elif command == "execute":
        todo = [twin(p, lang) for p in english if force or needs_run(twin(p, lang))]
        for path in execute(todo):
            print(f"execute: {path.relative_to(ROOT)}")
    else:
        from d2lmha.grading.assign import BUILD_DIR, assign

        from tools import notebooks

        sets = [p.name[:2] for p in english if p.parent.name == "solutions"]
        (ROOT / "exercises" / lang).mkdir(exist_ok=True)
        for path in assign(
            sets,
            solutions=ROOT / "solutions" / lang,
            exercises=ROOT / "exercises" / lang,
            build_dir=BUILD_DIR / lang,
            capture=False,  # graded by the English set's plan
        ):
            notebooks.apply(list(notebooks.STEPS), path)
            print(f"exercises: {path.relative_to(ROOT)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.zh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["sync", "execute", "exercises", "skeleton"])
    parser.add_argument("paths", nargs="*", type=Path, help="English notebooks or folders")
    parser.add_argument("--force", action="store_true", help="execute: run even if up to date")
    parser.add_argument(
        "--edition",
        choices=codes(),
        action="append",
        help="the translated edition to make (repeatable; default: every one)",
    )
    args = parser.parse_intermixed_args(argv)
    english = []
    for p in args.paths:
        p = p.resolve()
        english += sorted(p.glob("*.ipynb")) if p.is_dir() else [p]
    english = english or english_notebooks()
    for lang in args.edition or codes():
        _command(args.command, english, lang, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
