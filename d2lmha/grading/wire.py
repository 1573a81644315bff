"""Plain data in and out of the grading sandbox: values as JSON nodes plus a safetensors file.

A submission's answers leave the sandbox as one safetensors file: the tensors, and in its
metadata a JSON tree that says how they fit together (tuples, dicts, numbers, strings,
raised exceptions). The trusted grader reads it with :func:`read_container` and
:func:`decode`, which parse only JSON and safetensors (no pickle, no ``eval``, no import) and
check every node before building a value: a hostile file gives a :class:`WireError`, never
code execution or a silent wrong value.

Node kinds (``{"t": kind, ...}``): ``none``, ``bool``, ``int``, ``float`` (``nan``/``inf`` as
strings), ``str``, ``tensor`` (a key into the tensors and a device type), ``ndarray``,
``list``, ``tuple``, ``dict`` (key and value nodes), ``dtype``, ``device`` (its type),
``module`` (class name and its
``state_dict``; encoded for comparing inputs, never decoded), ``callable`` (a name only),
``raise`` (an exception's builtin class name and message) and ``unsupported`` (a type name).
"""

from __future__ import annotations

import builtins
import json
import math
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "WireError",
    "encode",
    "decode",
    "tensor_leaves",
    "write_container",
    "read_container",
    "read_answers",
    "Answers",
    "check_node",
    "DTYPES",
    "same_inputs",
    "exception_node",
    "raise_from_node",
]

MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_STR = 10_000
MAX_HEADER = 8 * 1024 * 1024  # bytes of JSON in a container's metadata
# Exceptions a submission may raise on purpose (tests catch ValueError, TypeError, ...);
# anything else is replayed as the nearest of these in its class hierarchy.
_EXCEPTIONS = {
    name: getattr(builtins, name)
    for name in (
        "ValueError",
        "TypeError",
        "IndexError",
        "KeyError",
        "RuntimeError",
        "AssertionError",
        "ZeroDivisionError",
        "NotImplementedError",
        "AttributeError",
        "ArithmeticError",
        "LookupError",
        "OverflowError",
        "NameError",
        "Exception",
    )
}


class WireError(ValueError):
    """Data from the sandbox that does not follow the format (or breaks a size limit)."""


def exception_node(error: BaseException) -> dict:
    """The node of a raised exception: its nearest builtin class and a short message."""
    kind = next(
        (
            c.__name__
            for c in type(error).__mro__
            if c.__name__ in _EXCEPTIONS and _EXCEPTIONS[c.__name__] is c
        ),
        "Exception",
    )
    return {"t": "raise", "type": kind, "msg": str(error)[:MAX_STR]}


def raise_from_node(node: dict):
    """Raise the exception a ``raise`` node describes (as a builtin class)."""
    raise _EXCEPTIONS.get(node.get("type"), Exception)(str(node.get("msg", ""))[:MAX_STR])


def encode(value, tensors: dict) -> dict:
    """Encode ``value`` as a JSON node; its tensors are added to ``tensors`` (``{key: tensor}``).

    Tensors are detached, made contiguous and moved to the CPU (the node keeps the device
    type). Objects of other types, and objects that misbehave while being encoded (a
    hostile ``__getattr__``, an ``int`` subclass whose ``__int__`` raises), become
    ``unsupported`` nodes rather than errors, so one odd value costs one test, not the
    whole submission. The node holds only JSON types.
    """
    added = len(tensors)
    try:
        node = _encode(value, tensors, 0)
        json.dumps(node)
        return node
    except Exception as error:  # noqa: BLE001 - any failure is the value's, not ours
        for key in list(tensors)[added:]:
            del tensors[key]
        why = f"value that cannot be encoded ({type(error).__name__})"
        return {"t": "unsupported", "type": why}


def _encode(value, tensors: dict, _depth: int) -> dict:
    if _depth > MAX_DEPTH:
        return {"t": "unsupported", "type": "nesting too deep"}
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return {"t": "float", "v": value if math.isfinite(value) else repr(value)}
    if isinstance(value, str):
        return {"t": "str", "v": str.__str__(value)[:MAX_STR]}
    if isinstance(value, torch.dtype):
        return {"t": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"t": "device", "v": value.type}
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.layout != torch.strided or value.is_quantized:
            return {"t": "unsupported", "type": f"tensor of {value.dtype}, {value.layout}"}
        key = str(len(tensors))
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        return {"t": "tensor", "k": key, "device": value.device.type}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return {"t": "unsupported", "type": f"numpy array of {value.dtype}"}
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value).copy())
        return {"t": "ndarray", "k": key}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {"t": kind, "items": [_encode(v, tensors, _depth + 1) for v in value]}
    if isinstance(value, dict):
        return {
            "t": "dict",
            "items": [
                [_encode(k, tensors, _depth + 1), _encode(v, tensors, _depth + 1)]
                for k, v in value.items()
            ],
        }
    if isinstance(value, torch.nn.Module):
        return {
            "t": "module",
            "class": str(type(value).__qualname__),
            "state": _encode(dict(value.state_dict()), tensors, _depth + 1),
        }
    if callable(value):
        name = (
            getattr(value, "__qualname__", None) if isinstance(value, types.FunctionType) else None
        )
        return {"t": "callable", "name": str(name or type(value).__qualname__)[:200]}
    return {"t": "unsupported", "type": str(type(value).__qualname__)[:200]}


def tensor_leaves(value) -> list:
    """The tensors inside ``value``, in :func:`encode`'s order (module state included)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensor_leaves(v)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in tensor_leaves(k) + tensor_leaves(v)]
    if isinstance(value, torch.nn.Module):
        return tensor_leaves(dict(value.state_dict()))
    return []


# The dtypes a tensor or a ``dtype`` node may have: a fixed table, never ``getattr(torch, s)``.
DTYPES = {
    name: getattr(torch, name)
    for name in (
        "bool",
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
    )
}


def decode(node, tensors: dict, device: torch.device | None = None, used: set | None = None):
    """Build the value a node describes, checking it on the way.

    Args:
        node: a JSON node (from :func:`read_answers`, or a build's own plan).
        tensors: ``{key: tensor}`` read from the same container.
        device: where ``cuda`` tensors go (``d2lmha.try_gpu()``); CPU tensors stay on the CPU.
        used: the tensor keys already decoded from this container (updated). A key may be
            decoded once only, so a small header cannot make the grader copy one large
            tensor many times: what is decoded never exceeds the file's size.

    Returns:
        ``None``, ``bool``, ``int``, ``float``, ``str``, tensors, NumPy arrays, lists,
        tuples and dicts of these; an :class:`Unsupported` marker for values that cannot
        cross (callables, modules, other types).

    Raises:
        WireError: a malformed node, an unknown or reused tensor key, too deep or too many
            nodes, a number out of range.
    """
    return _walk(node, tensors, _State(used), device, build=True)


def check_node(node, tensors: dict, used: set | None = None) -> int:
    """Check a node without building anything; return its size.

    The size is the number of nodes plus the number of tensor elements: a bound on the work
    any test can do with the value, compared by :mod:`~d2lmha.grading.replay` with the size
    of the solution's answer before a test sees it.

    Raises:
        WireError: as :func:`decode`.
    """
    return _walk(node, tensors, _State(used), None, build=False)


class _State:
    def __init__(self, used: set | None):
        self.nodes, self.depth = 0, 0
        self.used = set() if used is None else used


def _walk(node, tensors: dict, state: _State, device, build: bool):
    """Check one node and, with ``build``, make its value; without, return its size."""
    try:
        return _walk_node(node, tensors, state, device, build)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        raise WireError(f"malformed value ({type(error).__name__})") from None


def _walk_node(node, tensors: dict, state: _State, device, build: bool):
    state.nodes += 1
    if state.nodes > MAX_NODES:
        raise WireError("too many values")
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        raise WireError(f"malformed value {str(node)[:80]!r}")
    kind = node["t"]
    if kind in _SCALARS:
        value = _SCALARS[kind](node)
        return value if build else 1
    if kind == "device":
        if node.get("v") not in ("cpu", "cuda"):
            raise WireError("malformed device")
        if not build:
            return 1
        return device if node["v"] == "cuda" and device is not None else torch.device("cpu")
    if kind in ("tensor", "ndarray"):
        tensor = _tensor(node, tensors, state)
        if not build:
            return 1 + tensor.numel()
        if kind == "ndarray":
            return tensor.numpy().copy()
        want_cuda = node.get("device") == "cuda" and device is not None and device.type == "cuda"
        return tensor.to(device) if want_cuda else tensor.clone()
    if kind in ("list", "tuple", "dict"):
        return _container(node, kind, tensors, state, device, build)
    if kind in ("module", "callable", "unsupported"):
        if not build:
            return 1
        return Unsupported(str(node.get("type") or node.get("class") or kind)[:200])
    raise WireError(f"unknown kind of value {kind[:20]!r}")


def _scalar(kind: str, expected: type):
    def read(node):
        value = node.get("v")
        if type(value) is not expected or (kind == "str" and len(value) > MAX_STR):
            raise WireError(f"malformed {kind}")
        return value

    return read


def _float(node):
    value = node.get("v")
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if type(value) not in (int, float):
        raise WireError("malformed float")
    return float(value)


def _dtype(node):
    value = DTYPES.get(node.get("v")) if isinstance(node.get("v"), str) else None
    if value is None:
        raise WireError("malformed dtype")
    return value


_SCALARS = {
    "none": lambda node: None,
    "bool": _scalar("bool", bool),
    "int": _scalar("int", int),
    "str": _scalar("str", str),
    "float": _float,
    "dtype": _dtype,
}


def _tensor(node, tensors: dict, state: _State) -> torch.Tensor:
    key = node.get("k")
    tensor = tensors.get(key) if isinstance(key, str) else None
    if tensor is None:
        raise WireError(f"unknown tensor {str(key)[:20]!r}")
    if key in state.used:
        raise WireError("a tensor is referenced twice")
    if tensor.dtype not in DTYPES.values():
        raise WireError(f"a tensor of an unexpected dtype {str(tensor.dtype)[:20]}")
    state.used.add(key)
    return tensor


def _container(node, kind, tensors, state: _State, device, build: bool):
    items = node.get("items")
    if not isinstance(items, list):
        raise WireError(f"malformed {kind}")
    state.depth += 1
    if state.depth > MAX_DEPTH:
        raise WireError("nesting too deep")
    try:
        if kind == "dict":
            if not all(isinstance(i, list) and len(i) == 2 for i in items):
                raise WireError("malformed dict")
            pairs = [
                (
                    _walk_node(k, tensors, state, device, build),
                    _walk_node(v, tensors, state, device, build),
                )
                for k, v in items
            ]
            if not build:
                return 1 + sum(a + b for a, b in pairs)
            try:
                return dict(pairs)
            except TypeError:
                raise WireError("a dict key that is not hashable") from None
        values = [_walk_node(i, tensors, state, device, build) for i in items]
        if not build:
            return 1 + sum(values)
        return values if kind == "list" else tuple(values)
    finally:
        state.depth -= 1


class Unsupported:
    """Stands for a value that cannot leave the sandbox as data; any use of it fails a test."""

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self):
        return f"<a {self.kind}, which the grader cannot check>"


def same_inputs(a: tuple, b: tuple, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Do two encodings ``(node, tensors)`` describe the same data (tensors within tolerance)?"""
    (node_a, tensors_a), (node_b, tensors_b) = a, b

    def walk(x, y):
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            if x.get("t") in ("tensor", "ndarray"):
                ta, tb = tensors_a[x["k"]], tensors_b[y["k"]]
                return (
                    x.get("device") == y.get("device")
                    and ta.shape == tb.shape
                    and ta.dtype == tb.dtype
                    and (
                        ta.numel() == 0
                        or torch.allclose(
                            ta.double() if ta.is_floating_point() else ta,
                            tb.double() if tb.is_floating_point() else tb,
                            rtol=rtol,
                            atol=atol,
                            equal_nan=True,
                        )
                    )
                )
            return all(walk(x[k], y[k]) for k in x)
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(map(walk, x, y))
        return x == y

    return walk(node_a, node_b)


def write_container(path: Path, tree, tensors: dict) -> None:
    """Write ``tensors`` and a JSON ``tree`` (in the metadata) as one safetensors file."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata={"tree": json.dumps(tree)})


def read_container(path: Path, max_bytes: int):
    """Read a container written by :func:`write_container`: ``(tree, {key: tensor})``.

    At most ``max_bytes`` and one more chunk are read, whatever the file's size says: a file
    that grows while it is read, or a sparse file of gigabytes, costs no more than that.

    Raises:
        WireError: missing, empty, larger than ``max_bytes``, or not a valid container.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from .collect import read_capped

    try:
        with open(path, "rb") as file:
            data = read_capped(file, max_bytes)
    except OSError:
        raise WireError("no answers were written") from None
    if data is None:
        raise WireError(f"the answers file is larger than {max_bytes} bytes")
    if not data:
        raise WireError("no answers were written")
    try:
        header_len = int.from_bytes(data[:8], "little")
        if header_len > MAX_HEADER or header_len + 8 > len(data):
            raise WireError("the answers file has a malformed header")
        header = json.loads(data[8 : 8 + header_len])
        tree = json.loads(header["__metadata__"]["tree"])
        tensors = load(data)
    except WireError:
        raise
    except (SafetensorError, ValueError, KeyError, TypeError, RecursionError) as error:
        raise WireError(f"the answers file is not valid: {type(error).__name__}") from None
    return tree, tensors


@dataclass(frozen=True)
class Answers:
    """A submission's answers, checked once by :func:`read_answers`: the only form in which
    the trusted grader uses what a sandbox wrote.

    Attributes:
        functions: learner name -> ``"function"``, ``"missing"`` or ``"not a function"``.
        calls: one entry per call of the plan, in order: ``None`` (the function was not
            there) or ``{"result": node, "mutated": bool}`` where ``node`` is a value node or
            a ``raise`` node and ``mutated`` says the call changed one of its inputs in place.
        values: learner name -> value node (answers that are values, not functions).
        sizes: the size (:func:`check_node`) of each call's result and of each value.
        errors: what the sandbox reported (cells that raised or were skipped); untrusted text.
        device: ``"cpu"`` or ``"cuda"``: where the sandbox ran the calls.
        stalled: the run stopped a cell or a call for time (it may deserve a run alone).
        unfinished: the notebook did not get as far as answering.
        tensors: ``{key: tensor}``; every key is used by exactly one node at most.
    """

    functions: dict
    calls: list
    values: dict
    sizes: dict
    errors: list
    device: str
    stalled: bool
    unfinished: bool
    tensors: dict


MAX_ERRORS = 100


def read_answers(path: Path, max_bytes: int, num_calls: int | None = None) -> Answers:
    """Read and check a sandbox's answers file, everything at once, before any test runs.

    Args:
        path: the answers file (untrusted).
        max_bytes: its size limit; nothing beyond it is read.
        num_calls: how many calls the plan has; a ``calls`` list of another length is
            refused.

    Returns:
        An :class:`Answers` whose every node has been checked (kinds, types, sizes, dtypes
        from :data:`DTYPES`, each tensor referenced at most once).

    Raises:
        WireError: anything that does not follow the format.
    """
    tree, tensors = read_container(path, max_bytes)
    if not isinstance(tree, dict):
        raise WireError("the answers are not a JSON object")
    errors = tree.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise WireError("malformed report")
    errors = [e[:MAX_STR] for e in errors[:MAX_ERRORS]] + (
        [f"... {len(errors) - MAX_ERRORS} more"] if len(errors) > MAX_ERRORS else []
    )
    stalled, unfinished = tree.get("stalled", False), tree.get("unfinished", False)
    if type(stalled) is not bool or type(unfinished) is not bool:
        raise WireError("malformed run status")
    if unfinished:
        return Answers({}, [], {}, {}, errors, "cpu", stalled, True, {})
    functions, calls, values = tree.get("functions"), tree.get("calls"), tree.get("values")
    if not (isinstance(functions, dict) and isinstance(calls, list) and isinstance(values, dict)):
        raise WireError("the answers are malformed")
    if any(v not in ("function", "missing", "not a function") for v in functions.values()):
        raise WireError("malformed list of functions")
    if num_calls is not None and len(calls) != num_calls:
        raise WireError(f"{len(calls)} answers for {num_calls} calls")
    if tree.get("device") not in ("cpu", "cuda"):
        raise WireError("malformed device")
    used, sizes = set(), {}
    for index, call in enumerate(calls):
        if call is None:
            continue
        if not isinstance(call, dict) or type(call.get("mutated")) is not bool:
            raise WireError("malformed answer to a call")
        sizes[index] = _check_result(call.get("result"), tensors, used)
    for name, node in values.items():
        sizes[name] = check_node(node, tensors, used)
    return Answers(functions, calls, values, sizes, errors, tree["device"], stalled, False, tensors)


def _check_result(node, tensors: dict, used: set) -> int:
    if isinstance(node, dict) and node.get("t") == "raise":
        if node.get("type") not in _EXCEPTIONS or not isinstance(node.get("msg"), str):
            raise WireError("malformed exception")
        return 1
    return check_node(node, tensors, used)
