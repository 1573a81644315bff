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


def decode(node, tensors: dict, device: torch.device | None = None, used: set | None = None):
    """Build the value a node describes, checking it on the way.

    Args:
        node: a JSON node from the sandbox (untrusted).
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
    state = {"nodes": 0, "depth": 0, "used": set() if used is None else used}
    try:
        return _decode(node, tensors, device, state)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        raise WireError(f"malformed value ({type(error).__name__})") from None


def _decode(node, tensors: dict, device, state):
    state["nodes"] += 1
    if state["nodes"] > MAX_NODES:
        raise WireError("too many values")
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        raise WireError(f"malformed value {str(node)[:80]!r}")
    kind = node["t"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        value = node.get("v")
        expected = {"bool": bool, "int": int, "str": str}[kind]
        if type(value) is not expected or (kind == "str" and len(value) > MAX_STR):
            raise WireError(f"malformed {kind}")
        return value
    if kind == "dtype":
        value = getattr(torch, str(node.get("v")), None)
        if not isinstance(value, torch.dtype):
            raise WireError("malformed dtype")
        return value
    if kind == "device":
        return device if node.get("v") == "cuda" and device is not None else torch.device("cpu")
    if kind == "float":
        value = node.get("v")
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):
            return float(value)
        if type(value) not in (int, float):
            raise WireError("malformed float")
        return float(value)
    if kind in ("tensor", "ndarray"):
        key = node.get("k")
        tensor = tensors.get(key) if isinstance(key, str) else None
        if tensor is None:
            raise WireError(f"unknown tensor {str(key)[:20]!r}")
        if key in state["used"]:
            raise WireError("a tensor is referenced twice")
        state["used"].add(key)
        if kind == "ndarray":
            return tensor.numpy().copy()
        want_cuda = node.get("device") == "cuda" and device is not None and device.type == "cuda"
        return tensor.to(device) if want_cuda else tensor.clone()
    if kind in ("list", "tuple", "dict"):
        items = node.get("items")
        if not isinstance(items, list):
            raise WireError(f"malformed {kind}")
        state["depth"] += 1
        if state["depth"] > MAX_DEPTH:
            raise WireError("nesting too deep")
        try:
            if kind == "dict":
                if not all(isinstance(i, list) and len(i) == 2 for i in items):
                    raise WireError("malformed dict")
                pairs = [
                    (_decode(k, tensors, device, state), _decode(v, tensors, device, state))
                    for k, v in items
                ]
                try:
                    return dict(pairs)
                except TypeError:
                    raise WireError("a dict key that is not hashable") from None
            values = [_decode(i, tensors, device, state) for i in items]
            return values if kind == "list" else tuple(values)
        finally:
            state["depth"] -= 1
    if kind in ("module", "callable", "unsupported"):
        return Unsupported(str(node.get("type") or node.get("class") or kind)[:200])
    raise WireError(f"unknown kind of value {kind[:20]!r}")


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

    Raises:
        WireError: missing, larger than ``max_bytes``, or not a valid container.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise WireError("no answers were written")
    if path.stat().st_size > max_bytes:
        raise WireError(f"the answers file is larger than {max_bytes} bytes")
    data = path.read_bytes()
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
