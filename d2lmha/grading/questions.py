"""What each question of a set is, from the set's source: its kind and what it may not call.

The one trusted source is the master notebook's question config (the raw cell that opens a
question), where ``otter assign`` ignores the keys it does not know::

    # BEGIN QUESTION
    name: q2
    kind: implement
    forbidden:
      - d2lmha.KVCache
      - torch.nn.functional.scaled_dot_product_attention

``kind`` is one of :data:`KINDS`. ``forbidden`` lists, by import path, the package's or
PyTorch's ready-made equivalents that the question's functions may not call (an attribute of
a class, ``d2lmha.MultiHeadAttention.forward``, forbids calling that method). The build
records them in the plans: the sandbox replaces each of them by a stand-in that raises
during the question's calls (:mod:`.guard`), and the grader warns when an answer cell names
one (:mod:`.source_check`). The tests read the same dictionary (no second copy).

Source: otter-grader 7, ``otter.assign.question_config.QuestionConfig`` (unknown keys are
ignored); PyYAML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KINDS", "UNDERSTANDING", "Question", "question_configs"]

KINDS = ("predict", "diagnose", "design", "implement")
UNDERSTANDING = ("predict", "diagnose", "design")  # the kinds that test understanding
_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_GENERIC = {"forward", "__call__", "__init__", "__new__"}  # a method the text cannot show


@dataclass(frozen=True)
class Question:
    """One question's config.

    Attributes:
        name: ``"q2"``.
        kind: one of :data:`KINDS`.
        forbidden: import paths of what the question's functions may not call.
    """

    name: str
    kind: str
    forbidden: tuple[str, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        """The names an answer cell would write to call a forbidden thing: each path's last
        part, or the class's name for a method such as ``forward`` (``layer(...)`` calls it)."""
        words = []
        for path in self.forbidden:
            parts = path.split(".")
            words.append(parts[-2] if parts[-1] in _GENERIC else parts[-1])
        return tuple(dict.fromkeys(words))


def question_configs(master: Path) -> dict[str, Question]:
    """Each question's :class:`Question`, from the ``# BEGIN QUESTION`` cells of ``master``.

    Args:
        master: an Otter Assign master notebook (trusted: the instructor's source).

    Raises:
        ValueError: a question config without a known ``kind``, or with a ``forbidden``
            entry that is not a dotted import path (the message names the question).
    """
    import yaml

    nb = json.loads(Path(master).read_text(encoding="utf-8"))
    questions = {}
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] != "raw" or not source.lstrip().startswith("# BEGIN QUESTION"):
            continue
        config = yaml.safe_load(source.split("\n", 1)[1] if "\n" in source else "") or {}
        name = str(config.get("name"))
        where = f"{Path(master).name}, question {name}"
        kind = config.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {list(KINDS)}, got {kind!r}")
        forbidden = config.get("forbidden") or []
        if not isinstance(forbidden, list) or not all(
            isinstance(path, str) and _PATH.fullmatch(path) for path in forbidden
        ):
            raise ValueError(
                f"{where}: forbidden must be a list of dotted import paths "
                f"(d2lmha.KVCache), got {forbidden!r}"
            )
        questions[name] = Question(name, kind, tuple(forbidden))
    return questions
