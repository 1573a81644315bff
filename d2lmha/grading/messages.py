"""The grader's own words, in every edition's language: one catalog, looked up by key.

A learner reads what the grader says about their submission (a failed test's reason, why a
notebook was not scored) in the language of the edition they worked in: the ``failed`` and
``error`` columns of the CSV and the feedback pages (:mod:`.feedback`) come from here, by
the submission's edition (``""`` for English, ``"zh"`` for 中文; :func:`.feedback.edition`).
The tests' own messages come from the tests of that edition's set (``solutions/zh/`` for
中文). What is written for the instructor alone (the CSV's ``warning`` column) stays English.

:func:`localize` also translates the one message a sandbox sends back that the grader wrote
itself (:func:`.guard.off_limits`), by its exact pattern, on the trusted side: the sandbox
is never told a language.
"""

from __future__ import annotations

import re

__all__ = ["MESSAGES", "say", "localize", "languages"]

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
    """A failure message in ``lang``: the grader's own off-limits message (raised inside the
    sandbox by :mod:`.guard`) and ``torch.testing``'s usual first lines (:data:`LIBRARY`)
    rewritten in that language; any other text as it is."""
    if not lang:
        return message
    message = _OFF_LIMITS.sub(lambda m: say("off_limits", lang, **m.groupdict()), message)
    for pattern, text in LIBRARY.get(lang, []):
        message = pattern.sub(text, message)
    return message
