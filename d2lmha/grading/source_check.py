"""Read a submission's answer cells as text, never run: does an answer name what it may not call?

The sandbox guards each question's forbidden names while the question's functions run
(:mod:`.guard`), but code in the sandbox can undo a guard. So the trusted grader also reads
the code cells of each submission, from the bytes :mod:`.collect` read (capped there), as
text: at most :data:`MAX_CELLS` cells of at most :data:`MAX_CELL_CHARS` characters each are
looked at, with regular expressions only (no parsing into a syntax tree, no import, no
``eval``). A cell is an answer to question ``q`` when it is an answer cell that ``otter
assign`` tagged ``otter_answer_cell`` and the next ``grader.check(...)`` cell checks ``q``,
or when it defines (``def f(`` or ``f =`` at the start of a line) one of the names that
``q``'s tests take: so a cell added at the end that redefines ``q``'s function counts too.
An answer of ``q`` that names one of ``q``'s forbidden names (a whole word: ``KVCache`` in
``d2lmha.KVCache()`` or ``from d2lmha import KVCache``; where the learner's own function has
the same name, as set 02's ``merge_heads``, only an attribute ``.merge_heads`` or an import of
it counts) gives the row a warning, for the instructor to read; the score is the tests'.
"""

from __future__ import annotations

import json
import re

__all__ = ["MAX_CELLS", "MAX_CELL_CHARS", "answers_by_question", "forbidden_warning"]

MAX_CELLS = 2000
MAX_CELL_CHARS = 100_000
_CHECK = re.compile(r"""grader\.check\(\s*["'](\w{1,40})["']\s*\)""")


def _sources(nb) -> list[tuple[str, bool]]:
    """``(source, tagged as an answer cell)`` of the first code cells, each source capped."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    found = []
    for cell in cells[:MAX_CELLS] if isinstance(cells, list) else ():
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(part for part in source[:MAX_CELL_CHARS] if isinstance(part, str))
        if not isinstance(source, str):
            continue
        metadata = cell.get("metadata")
        tags = metadata.get("tags") if isinstance(metadata, dict) else None
        tagged = isinstance(tags, list) and "otter_answer_cell" in tags
        found.append((source[:MAX_CELL_CHARS], tagged))
    return found


def answers_by_question(nb, learner_names: dict) -> dict[str, list[str]]:
    """The sources of each question's answer cells (see the top).

    Args:
        nb: the submission, as parsed JSON (anything: a malformed one has no answers).
        learner_names: ``{question: names its tests take}`` (trusted).
    """
    defines = {
        question: re.compile(
            r"^(?:def\s+(?:{0})\b|(?:{0})\s*(?::[^=\n]*)?=(?!=))".format(
                "|".join(map(re.escape, names))
            ),
            re.MULTILINE,
        )
        for question, names in learner_names.items()
        if names
    }
    answers: dict[str, list[str]] = {question: [] for question in learner_names}
    pending = []
    for source, tagged in _sources(nb):
        check = _CHECK.search(source)
        if check and not tagged:
            found = answers.setdefault(check.group(1), [])
            found += [waiting for waiting in pending if waiting not in found]
            pending = []
            continue
        if tagged:
            pending.append(source)
        for question, pattern in defines.items():
            if pattern.search(source) and source not in answers[question]:
                answers[question].append(source)
    return answers


def _naming(word: str, own: bool) -> re.Pattern:
    """Text that names ``word``: the whole word, or (``own``: the learner's function has that
    name) an attribute ``.word`` or an import of it."""
    word = re.escape(word)
    if own:
        return re.compile(rf"\.[ \t]*{word}\b|^[ \t]*(?:from|import)\b[^\n]*\b{word}\b", re.M)
    return re.compile(rf"\b{word}\b")


def forbidden_warning(data: bytes, questions: dict, learner_names: dict) -> str:
    """The warning for a submission whose answers name forbidden names ("" when none do).

    Args:
        data: the notebook's bytes (as collected: capped in size).
        questions: ``{question: Question}`` (:mod:`.questions`; trusted).
        learner_names: ``{question: names its tests take}`` (trusted).

    Returns:
        e.g. ``"q2's answer names KVCache, causal_mask, which q2 may not call"``.
    """
    try:
        nb = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    answers = answers_by_question(nb, learner_names)
    notes = []
    for name, question in questions.items():
        text = "\n".join(answers.get(name, ()))
        own = set(learner_names.get(name, ()))
        named = [w for w in question.words if _naming(w, w in own).search(text)]
        if named:
            notes.append(f"{name}'s answer names {', '.join(named)}, which {name} may not call")
    return "; ".join(notes)
