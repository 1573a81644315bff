"""Load what a chapter notebook defines "in the open", so a test can hold it to the package.

A chapter builds an idea in plain sight (say ``masked_softmax``) and then switches to the
package's version (``d2lmha.masked_softmax``). The cells that define the open versions carry a
cell tag (``"in-the-open"`` by default); :func:`load_defs` runs the notebook's import
statements and then exactly those cells, and returns the names they define. A test then
compares them with the package on random inputs, so the two cannot drift apart.

Rules for a tagged cell: plain Python (no ``%magic`` / ``!shell`` lines), definitions only
(functions, classes, constants), using names that are imported somewhere in the notebook or
defined by an earlier tagged cell.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

__all__ = ["load_defs", "tagged_cells"]


def _python_source(source: str) -> str:
    """A cell's source with IPython syntax (``%magic``, ``!cmd``) turned into plain Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _defined_names(tree: ast.Module) -> list[str]:
    """Names bound at the top level of a cell: functions, classes and assignments."""
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


def tagged_cells(notebook_path, tag: str = "in-the-open") -> list[tuple[int, str]]:
    """``(cell index, source)`` of every code cell of the notebook tagged ``tag``, in order.

    Raises:
        FileNotFoundError: ``notebook_path`` does not exist.
        ValueError: no code cell carries ``tag``.
    """
    path = Path(notebook_path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook_path={str(path)!r} is not a file")
    notebook = nbformat.read(path, as_version=4)
    tagged = [
        (index, cell.source)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and tag in cell.metadata.get("tags", [])
    ]
    if not tagged:
        raise ValueError(
            f"{path.name} has no code cell tagged {tag!r}; tag the cells that "
            f"define the in-the-open versions (cell metadata 'tags')"
        )
    return tagged


def load_defs(notebook_path, tag: str = "in-the-open") -> dict:
    """Run a notebook's imports and its cells tagged ``tag``; return what those cells define.

    Args:
        notebook_path: path (``str`` or ``Path``) of an ``.ipynb`` file.
        tag: the cell tag that marks the defining cells (``metadata.tags`` of a code cell).

    Returns:
        ``{name: object}`` for every function, class and variable bound at the top level of
        a tagged cell, in cell order (a later definition of a name wins, as in the notebook).
        The objects live in one fresh namespace private to this call: the notebook's other
        cells are not run, so nothing heavy happens and no outputs are needed.

    Raises:
        FileNotFoundError: ``notebook_path`` does not exist.
        ValueError: no code cell carries ``tag``.
        SyntaxError: a tagged cell is not plain Python (the message names the cell).
        Exception: whatever a tagged cell raises when run, unchanged.
    """
    path = Path(notebook_path)
    tagged = tagged_cells(path, tag)
    code_cells = [
        (index, cell.source)
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if cell.cell_type == "code"
    ]
    namespace = {"__name__": f"notebook_defs[{path.stem}]"}
    # 1. Every import statement of the notebook, wherever it stands: tagged cells use names
    #    (torch, nn, math, ...) imported by the notebook's set-up cell.
    for index, source in code_cells:
        tree = ast.parse(_python_source(source), f"{path.name}, cell {index}")
        imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        if imports:
            exec(
                compile(ast.Module(imports, type_ignores=[]), f"{path.name}, cell {index}", "exec"),
                namespace,
            )
    # 2. The tagged cells themselves, in order.
    names: list[str] = []
    for index, source in tagged:
        filename = f"{path.name}, cell {index} (tag {tag!r})"
        tree = ast.parse(source, filename)
        exec(compile(tree, filename, "exec"), namespace)
        names += [n for n in _defined_names(tree) if n not in names]
    return {name: namespace[name] for name in names}
