"""A feedback page per student and set: points, what failed and why, and the measurements.

What a page shows, per question: the points earned, each failed public test's message (the
learner has those tests already) with the test's name, each failed hidden test by its points
only, with its TEST CONFIG ``failure_message`` where the author wrote one (a hidden test's
assertion message often holds the expected value and its name may give the answer away,
e.g. ``test_q4_sink_head_in_layer_3``: neither is ever shown), and the measurement that settles a
predict or diagnose question: the output of the solution's ``# BEGIN SOLUTION NO PROMPT``
cell in that question, read from the instructor's solution notebook of the submission's
edition (trusted; never from the submission). Then the notebook's own errors as the sandbox
reported them (cells that raised or were skipped; capped).

Everything a submission shaped (messages, errors, file names) is escaped by the template
engine (Jinja2, autoescaping on). The set's trusted description is plain JSON
(:func:`set_info`), so a run's shards carry it and ``merge`` needs no build.

The edition is the submission's: a notebook whose markdown is mostly Chinese gets the 中文
page (section names, question titles and measurements from ``solutions/zh/``). Its failure
messages are in its language too: the tests that scored it are its edition's set's (the same
tests, their messages translated), the grader's own words come from :mod:`.messages`, and a
hidden test's hint is its edition's ``failure_message``.

Source: Jinja2's autoescaping (``select_autoescape``); ``solutions/README.md`` (question
layout).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..editions import TRANSLATED

__all__ = ["set_info", "edition", "render", "MAX_ERRORS"]

MAX_ERRORS = 20  # notebook errors shown on a page
MAX_TEXT = 2000  # characters of one measurement or message shown

STRINGS = {
    "": {
        "lang": "en",
        "feedback": "Feedback",
        "student": "Student",
        "submission": "Submission",
        "total": "Total",
        "points": "points",
        "status": "Status",
        "passed": "All tests passed.",
        "public": "Failed test",
        "hidden": "Failed hidden test",
        "hidden_note": "(hidden tests are not shown: only their points, what they check, and a "
        "hint where the instructor wrote one)",
        "checks": "it checks your",
        "measurement": "The measurement, as the solution notebook shows it "
        "(where it says 'you predicted', that is the solution's answer)",
        "errors": "Your notebook's errors when it ran",
        "error": "Not graded",
        "no_errors": "None.",
    },
    "zh": {
        "lang": "zh",
        "feedback": "反馈",
        "student": "学生",
        "submission": "提交的文件",
        "total": "总分",
        "points": "分",
        "status": "状态",
        "passed": "所有测试均通过。",
        "public": "未通过的测试",
        "hidden": "未通过的隐藏测试",
        "hidden_note": "（隐藏测试不公开：只显示分值、它检查的内容，以及教师写下的提示）",
        "checks": "它检查你的",
        "measurement": "测量结果，即参考答案笔记本中的输出（其中的“你的预测”是参考答案）",
        "errors": "运行时笔记本中的错误",
        "error": "未评分",
        "no_errors": "无。",
    },
}

TEMPLATE = """<!DOCTYPE html>
<html lang="{{ s.lang }}">
<head><meta charset="utf-8"><title>{{ s.feedback }}: {{ title }}</title>
<style>
body { font-family: sans-serif; max-width: 52em; margin: 2em auto; line-height: 1.45; }
pre { background: #f6f6f6; padding: .6em; white-space: pre-wrap; overflow-wrap: anywhere; }
.q { border-top: 1px solid #ccc; margin-top: 1.2em; }
.points { font-weight: bold; }
</style></head>
<body>
<h1>{{ title }}</h1>
<p>{{ s.student }}: <b id="student">{{ student }}</b><br>
{{ s.submission }}: <code>{{ submission }}</code><br>
{{ s.status }}: {{ status }}<br>
{{ s.total }}: <span class="points" id="total">{{ total }} / {{ possible }}</span>
({{ percent }} %)</p>
{% if error %}<p><b>{{ s.error }}:</b> {{ error }}</p>{% endif %}
{% for q in questions %}
<section class="q" id="{{ q.id }}">
<h2>{{ q.title }}</h2>
<p class="points">{{ q.earned }} / {{ q.possible }} {{ s.points }}</p>
{% if q.failed %}<ul>
{% for f in q.failed %}<li>{{ s.hidden if f.hidden else s.public }}
{%- if f.name %} <i>{{ f.name }}</i>{% endif %} ({{ f.points }} {{ s.points }})
{%- if f.message %}: {{ f.message }}{% endif %}</li>
{% endfor %}</ul>
{% if q.any_hidden %}<p><small>{{ s.hidden_note }}</small></p>{% endif %}
{% elif not error %}<p>{{ s.passed }}</p>{% endif %}
{% if q.measurement %}<h3>{{ s.measurement }}</h3>
{% if q.check %}{{ q.check|safe }}{% endif %}<pre>{{ q.measurement }}</pre>{% endif %}
</section>
{% endfor %}
<section class="q" id="errors"><h2>{{ s.errors }}</h2>
{% if errors %}<ul>{% for e in errors %}<li><code>{{ e }}</code></li>{% endfor %}</ul>
{% else %}<p>{{ s.no_errors }}</p>{% endif %}
</section>
</body></html>
"""


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _questions(master: Path) -> dict:
    """``{"title": set title, "questions": {q: {"title", "check", "measurement"}}}`` from a
    master notebook (trusted): each question's heading, and the text output of its
    measurement cell with the markdown before it."""
    cells = json.loads(Path(master).read_text(encoding="utf-8"))["cells"]
    title, questions, current, last_markdown = "", {}, None, ""
    for cell in cells:
        text = _source(cell)
        if cell["cell_type"] == "raw" and text.startswith("# BEGIN QUESTION"):
            name = re.search(r"name:\s*(\S+)", text)
            current = name.group(1) if name else None
            questions[current] = {"title": current, "check": "", "measurement": ""}
        elif cell["cell_type"] == "raw" and text.startswith("# END QUESTION"):
            current = None
        elif cell["cell_type"] == "markdown":
            heading = re.match(r"#+\s*(.+)", text)
            if heading and not title:
                title = heading.group(1).strip()
            elif heading and current and questions[current]["title"] == current:
                questions[current]["title"] = heading.group(1).strip()
            last_markdown = text
        elif current and cell["cell_type"] == "code" and "SOLUTION NO PROMPT" in text:
            shown = [
                _source({"source": o.get("text") or o.get("data", {}).get("text/plain", "")})
                for o in cell.get("outputs", [])
            ]
            questions[current]["measurement"] = "".join(shown)[:MAX_TEXT]
            questions[current]["check"] = " ".join(last_markdown.split())[:MAX_TEXT]
    return {"title": title, "questions": questions}


def set_info(autograder, solutions: Path, translated: dict | None = None) -> dict:
    """The trusted description of a set that feedback pages need, as plain JSON.

    Args:
        autograder: the built set (:class:`~.assign.Autograder`); its tests are read from
            its solution notebook's metadata.
        solutions: the folder of master notebooks (``solutions/``; the 中文 ones in its
            ``zh/``).
        translated: ``{edition: autograder notebook}`` of the set's translations that were
            built (their tests' ``failure_message`` in that language).

    Returns:
        ``{"name", "possible": {q: points}, "tests": {test id: {"question", "name",
        "hidden", "points", "failure_message", "checks"}}, "editions": {"": ..., "zh": ...}}``;
        an edition's entry has ``"title"``, ``"questions"`` and ``"failure_messages"``
        (``{test id: text}``, where its tests have one).
    """
    from .cases import load_tests

    tests = {
        t["id"]: {
            "question": t["question"],
            "name": t["func"].__name__.removeprefix("test_"),
            "hidden": t["hidden"],
            "points": t["points"],
            "failure_message": t["failure_message"],
            # the learner's own names the test takes (answers, functions): never a value
            "checks": list(t["params"]),
        }
        for t in load_tests(autograder.solution_notebook)
    }
    editions = {}
    for name in ("", *TRANSLATED):
        folder = Path(solutions) / name
        if (folder / autograder.notebook_name).is_file():
            editions[name] = _questions(folder / autograder.notebook_name)
    for name, notebook in (translated or {}).items():
        if name in editions:
            editions[name]["failure_messages"] = {
                t["id"]: t["failure_message"] for t in load_tests(notebook) if t["failure_message"]
            }
    return {
        "name": Path(autograder.notebook_name).stem,
        "possible": dict(autograder.possible),
        "tests": tests,
        "editions": editions,
    }


EDITION_SAMPLE = 100_000  # characters of a notebook's markdown that decide its edition
_LETTERS = re.compile(r"[^\W\d_]")  # a letter of any script (and numerals such as ², Ⅷ)


def edition(data: bytes) -> str:
    """The edition of a submitted notebook, read from its markdown as data (nothing is run):
    the translated edition (:mod:`d2lmha.editions`) whose script holds the most of the letters
    of its first ``EDITION_SAMPLE`` characters of markdown, at least a fifth (``"zh"`` when
    mostly Chinese), else ``""`` (English); any notebook that cannot be read is ``""``. Past
    reading the JSON (bounded by ``grade.MAX_SUBMISSION_BYTES``), the counting is bounded
    whatever the notebook's size (counting the letters of a 1 MB notebook one by one took
    30 ms)."""
    try:
        cells = json.loads(data.decode("utf-8"))["cells"]
        text = "".join(_source(c) for c in cells if c.get("cell_type") == "markdown")
    except Exception:  # noqa: BLE001 - untrusted bytes; its row already says what is wrong
        return ""
    text = text[:EDITION_SAMPLE]
    letters = len(_LETTERS.findall(text))
    counts = {code: this.in_script(text) for code, this in TRANSLATED.items()}
    best = max(counts, key=counts.get, default="")
    return best if letters and counts.get(best, 0) >= 0.2 * letters else ""


def _number(value) -> str:
    value = float(value or 0)
    return f"{value:g}"


def _markdown(text: str) -> str:
    """The solution notebook's prose (trusted) as HTML for the page's ``|safe`` slot: code
    spans, emphasis and links rendered; raw HTML in it is escaped, not passed through
    (CommonMark with ``html`` off)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(text) if text else ""


def render(row: dict, info: dict, student: str, status: str) -> str:
    """The HTML feedback page of one graded row.

    Args:
        row: the submission's row (with its ``_failures``, ``_notes`` and ``_edition``).
        info: its set's :func:`set_info`.
        student: the student id shown.
        status: the gradebook's status for this student and set.
    """
    from jinja2 import Environment

    lang = row.get("_edition", "") if row.get("_edition", "") in info["editions"] else ""
    text = info["editions"].get(lang) or {"title": info["name"], "questions": {}}
    set_id = row.get("set", "")
    failed: dict[str, list] = {}
    for test_id, _hidden, message in row.get("_failures", []):
        test = info["tests"].get(test_id)
        if test is None:
            continue
        shown = message
        if test["hidden"]:  # never its assertion's text (it may hold the expected value)
            checks = ", ".join(test.get("checks", ()))
            checks = f"{STRINGS[lang]['checks']} {checks}" if checks else ""
            hint = text.get("failure_messages", {}).get(test_id, test["failure_message"])
            shown = "; ".join(filter(None, [checks, hint]))
        failed.setdefault(test["question"], []).append(
            {
                "name": "" if test["hidden"] else test["name"],
                "hidden": test["hidden"],
                "points": _number(test["points"]),
                "message": str(shown)[:MAX_TEXT],
            }
        )
    questions = []
    for question, possible in info["possible"].items():
        words = text["questions"].get(question, {})
        questions.append(
            {
                "id": question,
                "title": words.get("title", question),
                "earned": _number(row.get(f"{set_id}/{question}", 0)),
                "possible": _number(possible),
                "failed": failed.get(question, []),
                "any_hidden": any(f["hidden"] for f in failed.get(question, [])),
                "measurement": words.get("measurement", ""),
                "check": _markdown(words.get("check", "")),
            }
        )
    possible = float(row.get("possible") or sum(info["possible"].values()))
    total = float(row.get("score") or 0)
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(TEMPLATE).render(
        s=STRINGS[lang],
        title=text["title"] or info["name"],
        student=student,
        submission=row["submission"],
        status=status,
        total=_number(total),
        possible=_number(possible),
        percent=f"{100 * total / possible:.1f}" if possible else "0.0",
        error=row.get("error", ""),
        questions=questions,
        errors=[str(e)[:300] for e in row.get("_notes", [])[:MAX_ERRORS]],
    )
