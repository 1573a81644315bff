"""No cell of a blank student notebook prints a graded answer.

Every student notebook of both editions (``exercises/``, ``exercises/zh/``) is run top to bottom
as a learner starts it, every answer still ``...``, in its own folder. Its outputs must not
contain any value answer of its set: the solution's values of its value questions (the lines of
the master's answer cells that end in ``# SOLUTION``), rendered the ways a notebook prints them.
The measurement that settles a predict or diagnose question lives in the solution notebook (a
cell inside the question's solution block, which otter assign leaves out of the student
notebook). Each notebook runs once per module; the assertions share that run.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    p for where in ("exercises", "exercises/zh") for p in sorted((ROOT / where).glob("*.ipynb"))
]
ANSWER = re.compile(r"^(\w+) = (.+?)\s*# SOLUTION\s*$")
NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|\.\d)")
_ALLOWED = (
    ast.Expression,
    ast.Constant,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.BinOp,
    ast.UnaryOp,
    ast.operator,
    ast.unaryop,
    ast.Load,
)


def _literal(text: str):
    """The value of an answer written as a literal or plain arithmetic (``4 * 96 + 2``), or
    ``None`` for an answer computed from the notebook (``int(change.argmin())``)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    if not all(isinstance(node, _ALLOWED) for node in ast.walk(tree)):
        return None
    return eval(compile(tree, "<answer>", "eval"), {"__builtins__": {}})  # constants only


def graded_answers(student: Path) -> dict:
    """``{name: value}`` of the set's value answers, from its English solution master."""
    master = ROOT / "solutions" / student.name
    answers = {}
    for cell in nbformat.read(master, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            match = ANSWER.match(line)
            if match and (value := _literal(match.group(2))) is not None:
                answers[match.group(1)] = value
    return answers


def _numbers(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(line)]


def _near(x: float, value: float) -> bool:
    return abs(x - value) <= 0.1 * abs(value) + 1e-9


def _renderings(value) -> list[str]:
    """How a notebook prints a sequence, a dict or a string of letters."""
    if isinstance(value, str):
        return [value, repr(value), f'"{value}"']
    if isinstance(value, (list, tuple)):
        items = ", ".join(map(repr, value))
        return [repr(value), f"[{items}]", f"({items})", str(list(value)), str(tuple(value))]
    if isinstance(value, dict):
        return [repr(value), str(value)]
    return []


def _named(line: str, name: str) -> bool:
    """The line names the answer: its variable (or dict key) as a word."""
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", line) is not None


def _shows(line: str, name: str, value) -> bool:
    """Does ``line`` show ``value`` as the answer called ``name``?"""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        if _named(line, name) and any(_near(x, value) for x in _numbers(line)):
            return True
        # a distinctive whole number (a count of parameters, of bytes, of weights) anywhere
        return float(value).is_integer() and abs(value) >= 10 and value in _numbers(line)
    if isinstance(value, str):
        if len(value) >= 3 and re.search(rf"(?<![\w]){re.escape(value)}(?![\w])", line):
            return True
        # a letter: only right after its name ("diagnosis: C", "P -> 'B'")
        return (
            re.search(
                rf"(?<![\w]){re.escape(name)}\W{{0,4}}['\"]?{re.escape(value)}['\"]?(?![\w])", line
            )
            is not None
        )
    if isinstance(value, (list, tuple)):
        if any(r in line for r in _renderings(value)) and (len(value) >= 2 or _named(line, name)):
            return True
        # one large count of a tuple of counts ("37,248 parameters")
        numbers = _numbers(line)
        return any(isinstance(item, int) and abs(item) >= 100 and item in numbers for item in value)
    if isinstance(value, dict):
        if any(r in line for r in _renderings(value)):
            return True
        return any(_shows(line, str(key), item) for key, item in value.items())
    return False


def leaks(text: str, answers: dict) -> list[str]:
    """``name: line`` for each output line that shows a graded answer."""
    found = []
    for line in text.splitlines():
        for name, value in answers.items():
            if _shows(line, name, value):
                found.append(f"{name} = {value!r} shown in: {line.strip()[:160]}")
    return found


_RUNS: dict[Path, nbformat.NotebookNode] = {}


@pytest.fixture(scope="module")
def executed():
    """Runs a notebook the first time a test asks for it; later tests reuse the run."""

    def run(path: Path) -> nbformat.NotebookNode:
        if path not in _RUNS:
            from nbclient import NotebookClient

            nb = nbformat.read(path, as_version=4)
            before = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MPLBACKEND")}
            os.environ.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg")  # the kernel inherits these
            try:
                NotebookClient(
                    nb,
                    timeout=300,
                    kernel_name="python3",
                    allow_errors=True,
                    resources={"metadata": {"path": str(path.parent)}},
                ).execute()
            finally:
                for key, value in before.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            _RUNS[path] = nb
        return _RUNS[path]

    return run


def _outputs(nb) -> list[tuple[int, str, str]]:
    """``(cell index, output type, text)`` of every output of every code cell."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                found.append((index, "stream", output.text))
            elif output.output_type == "error":
                found.append((index, "error", f"{output.ename}: {output.evalue}"))
            else:
                data = output.get("data", {})
                found.append((index, output.output_type, data.get("text/plain", "")))
    return found


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_blank_notebook_runs_without_an_error(executed, path):
    errors = [(i, text) for i, kind, text in _outputs(executed(path)) if kind == "error"]
    assert errors == [], f"{_id(path)}: cells raised with every answer blank: {errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_no_graded_answer_is_printed(executed, path):
    answers = graded_answers(path)
    assert answers, f"no value answers found in solutions/{path.name}"
    shown = [
        f"cell {index}: {leak}"
        for index, _, text in _outputs(executed(path))
        for leak in leaks(text, answers)
    ]
    assert shown == [], f"{_id(path)} prints graded answers:\n" + "\n".join(shown)


def test_the_detector_sees_the_ways_an_answer_is_printed():
    answers = {
        "variance_unscaled": 64.0,
        "folded_valid_lens": [2, 2, 7, 7],
        "cache_bytes": {"MHA": 1638400, "GQA": 409600},
        "diagnosis": {"P": "B", "Q": "A"},
        "equivariant": "ADEH",
        "head_row": 6,
        "after_padding_change": [],
        "predicted_parameters": (37248, 37248, 28032),
    }
    shown = [
        "variance_unscaled  measured 63.87   you predicted (not answered yet)",
        "folded_valid_lens: [2, 2, 7, 7]  (no prediction yet)",
        "MHA: keys [4, 8, 100, 32] per block, cache 1,638,400 bytes",
        "diagnosis: {'P': 'B', 'Q': 'A'}",
        "P -> B",
        "the equivariant ones: ADEH",
        "head_row: 6",
        "(a) 96 wide, 8 heads: 37,248 parameters (no prediction yet)",
    ]
    quiet = [
        "layer P, sequence 0 (rows: queries, columns: keys)",
        "0 1.000 0.000 0.000 0.000 0.000",
        "real_weights: [6, 12, 12, 21, 21] = [layers, batch, heads, tokens, tokens]",
        "variance_unscaled should be a number, not Ellipsis",
        "rows of the output that change: []",
    ]
    for line in shown:
        assert leaks(line, answers), line
    for line in quiet:
        assert not leaks(line, answers), (line, leaks(line, answers))
