"""The grader's own words, in every edition's language: one catalog, looked up by key.

A learner reads what the grader says about their submission (a failed test's reason, why a
notebook was not scored) in the language of the edition they worked in: the ``failed`` and
``error`` columns of the CSV and the feedback pages (:mod:`.feedback`) come from here, by
the submission's edition (``""`` for English, ``"zh"`` for 中文; :func:`.feedback.edition`).
The tests' own messages come from the tests of that edition's set (``solutions/zh/`` for
中文). What is written for the instructor alone (the CSV's ``warning`` column) stays English.

:func:`localize` also translates the one message a sandbox sends back that the grader wrote
itself (:func:`.guard.off_limits`), and :func:`localize_report` the runner's notes on the run
(a cell that raised or was skipped), by their exact patterns, on the trusted side: the
sandbox is never told a language. The runner takes its English from this catalog.
"""

from __future__ import annotations

import functools
import re

__all__ = ["MESSAGES", "say", "localize", "localize_report", "languages"]

MESSAGES: dict[str, dict[str, str]] = {
    # replay: a test's call to the learner's function, checked against the solution's
    "called_more": {
        "": "{name} was called more often than in the solution's test",
        "zh": "{name} 被调用的次数比参考答案的测试中更多",
    },
    "other_call": {
        "": "{name} was called where the solution's test made another call (its inputs came "
        "from another of your answers)",
        "zh": "在参考答案的测试调用别的函数的地方调用了 {name}（它的输入来自你的另一个答案）",
    },
    "other_inputs": {
        "": "the inputs of this call to {name} came from another of your answers, which "
        "differs from the expected one",
        "zh": "这次调用 {name} 的输入来自你的另一个答案，而那个答案与期望的不同",
    },
    "no_answer": {
        "": "no answer was recorded for this call to {name}",
        "zh": "这次调用 {name} 没有记录到答案",
    },
    "mutated": {
        "": "{name} changed one of its inputs in place; an answer must leave its inputs as "
        "they were (work on a copy, e.g. X = X.clone())",
        "zh": "{name} 原地修改了它的一个输入；答案必须保持输入不变（在副本上计算，例如 "
        "X = X.clone()）",
    },
    "too_large": {
        "": "{what} holds {size} values where about {expected} are expected: check its type "
        "and shape",
        "zh": "{what}含有 {size} 个值，而期望的大约是 {expected} 个：请检查它的类型和形状",
    },
    "answer_of": {"": "{name}'s answer", "zh": "{name} 的答案"},
    "value_of": {"": "the value of {name}", "zh": "{name} 的值"},
    "off_limits": {
        "": "{question} asks you to write this yourself: {path} is off limits here",
        "zh": "{question} 要求你自己写出它：这里不可调用 {path}",
    },
    # scoring: why a submission's answers were not scored
    "scoring_time": {
        "": "scoring took longer than {seconds} s",
        "zh": "评分用时超过 {seconds} 秒",
    },
    "scoring_ended": {
        "": "scoring ended without a result (exit status {status})",
        "zh": "评分没有得出结果就结束了（退出状态 {status}）",
    },
    "no_answers": {"": "no answers: {why}", "zh": "没有答案：{why}"},
    "unfinished": {
        "": "the notebook did not finish (see reported)",
        "zh": "笔记本没有运行完（见 reported 一栏）",
    },
    "scoring_memory": {"": "scoring ran out of memory", "zh": "评分时内存不足"},
    "grader_error": {
        "": "grader error (not the submission's fault): {why}",
        "zh": "评分器出错（不是提交的问题）：{why}",
    },
    # grade: a submission that could not be run
    "timed_out": {"": "timed out after {seconds} s", "zh": "运行超过 {seconds} 秒，已停止"},
    "not_graded": {"": "could not be graded: {why}", "zh": "无法评分：{why}"},
    # the sandbox's report of the run (the runner writes the English; localize_report here)
    "cell_raised": {"": "code cell {cell}: {error}", "zh": "代码单元格 {cell}：{error}"},
    "cell_skipped": {
        "": "code cell {cell} {why}; skipped",
        "zh": "代码单元格 {cell} {why}，已跳过",
    },
    "call_skipped": {
        "": "a call to {name} {why}; skipped",
        "zh": "对 {name} 的一次调用{why}，已跳过",
    },
    "run_stopped": {"": "the run {why}", "zh": "这次运行{why}"},
    "not_finished": {"": "the notebook did not finish", "zh": "笔记本没有运行完"},
    "did_not_return": {"": "{name} did not return: it {why}", "zh": "{name} 没有返回：它{why}"},
    "past_limit": {
        "": "ran past the time limit of {seconds} s",
        "zh": "超过了 {seconds} 秒的时间限制",
    },
    "longer_than": {"": "ran longer than {seconds} s", "zh": "运行超过 {seconds} 秒"},
    "ended_process": {
        "": "ended the process (exit status {status})",
        "zh": "结束了进程（退出状态 {status}）",
    },
    # otter assign's closing cell of a student notebook (before its grader.check_all())
    "check_all": {
        "": "To double-check your work, the cell below will rerun all of the autograder tests.",
        "zh": "想再检查一遍？下面的单元格会重新运行所有自动评分测试。",
    },
}


def languages() -> set[str]:
    """The editions every message is written in (``""`` is English)."""
    return set.intersection(*(set(texts) for texts in MESSAGES.values()))


def say(key: str, lang: str = "", **fields) -> str:
    """The message ``key`` in the edition ``lang`` (English where ``lang`` has none), with
    ``fields`` filled in.

    Raises:
        KeyError: no message ``key``.
    """
    texts = MESSAGES[key]
    return texts.get(lang, texts[""]).format(**fields)


# torch.testing's own first lines, which a test without a ``msg=`` fails with
LIBRARY = {
    "zh": [
        (re.compile(r"Tensor-likes are not close!"), "张量的值不够接近！"),
        (re.compile(r"Tensor-likes are not equal!"), "张量不相等！"),
        (re.compile(r"Scalars are not close!"), "标量的值不够接近！"),
        (re.compile(r"Scalars are not equal!"), "标量不相等！"),
        (
            re.compile(r"The values for attribute '(\w+)' do not match: "),
            r"属性 '\1' 的值不一致：",
        ),
    ],
}

_OFF_LIMITS = re.compile(
    re.escape(MESSAGES["off_limits"][""])
    .replace(r"\{question\}", r"(?P<question>q\w{1,20})")
    .replace(r"\{path\}", r"(?P<path>[\w.]{1,200})")
)


def localize(message: str, lang: str = "") -> str:
    """A failure message in ``lang``: the grader's own messages raised inside the sandbox
    (:mod:`.guard`'s off-limits message, :mod:`.runner`'s call that did not return) and
    ``torch.testing``'s usual first lines (:data:`LIBRARY`) rewritten in that language; any
    other text as it is."""
    if not lang:
        return message
    message = _OFF_LIMITS.sub(lambda m: say("off_limits", lang, **m.groupdict()), message)
    message = _pattern("did_not_return", anchored=False).sub(
        lambda m: say("did_not_return", lang, name=m["name"], why=_why(m["why"], lang)), message
    )
    for pattern, text in LIBRARY.get(lang, []):
        message = pattern.sub(text, message)
    return message


# The runner's notes, as patterns of their English templates. Fields are bounded: the text
# is untrusted (capped at 300 characters by the caller); only an error's text runs to the end.
_FIELDS = {
    "cell": r"(?P<cell>\d{1,7})",
    "seconds": r"(?P<seconds>[0-9.e+]{1,20})",
    "status": r"(?P<status>-?\d{1,5})",
    "name": r"(?P<name>[\w.]{1,200})",
    "why": r"(?P<why>[^;\n]{1,200})",
    "error": r"(?P<error>.*)",
}
_NOTES = ("cell_skipped", "call_skipped", "run_stopped", "cell_raised", "not_finished")
_WHYS = ("past_limit", "longer_than", "ended_process")


@functools.cache
def _pattern(key: str, anchored: bool = True) -> re.Pattern:
    """The English template of message ``key`` as a regex whose groups are its fields."""
    text = re.escape(MESSAGES[key][""])
    for field, group in _FIELDS.items():
        text = text.replace(re.escape("{" + field + "}"), group)
    return re.compile(text + r"\Z" if anchored else text, re.S)


def _why(text: str, lang: str) -> str:
    """The reason in a runner's note ("ran longer than 20 s", ...) in ``lang``."""
    for key in _WHYS:
        found = _pattern(key).match(text)
        if found:
            return say(key, lang, **found.groupdict())
    return text


def localize_report(note: str, lang: str = "") -> str:
    """One note of the sandbox's report on the run (:mod:`.runner`: a cell that raised or was
    skipped, a call skipped, the run stopped) in ``lang``. A raised error's own text goes
    through :func:`localize`; Python's words for the learner's own error stay as Python wrote
    them. A note of another form is returned as it is."""
    if not lang:
        return note
    for key in _NOTES:
        match = _pattern(key).match(note)
        if match:
            fields = match.groupdict()
            if "why" in fields:
                fields["why"] = _why(fields["why"], lang)
            if "error" in fields:
                fields["error"] = localize(fields["error"], lang)
            return say(key, lang, **fields)
    return note
