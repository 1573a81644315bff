"""d2l 1.0.3's own attention code, loaded without ``import d2l.torch``.

``d2l/torch.py`` imports torchvision (and more) at the top, which fails on a CPU-only
torch. The classes the course compares against need none of that, so this module reads
the file, picks the definitions it needs with :mod:`ast`, and executes only those in a
small namespace where ``d2l.Module`` is ``torch.nn.Module``. The source file is the one
pip installed (``pip install --no-deps d2l==1.0.3``); nothing is copied into this repo.

Used by the benchmarks (d2l's ``MultiHeadAttention`` is the reference the course improves
on) and by ``tests/test_multihead_parity.py``.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

__all__ = ["NAMES", "d2l_available", "d2l_source_path", "load_d2l", "d2l_multihead_from"]

#: The top-level definitions of ``d2l/torch.py`` this module loads, in dependency order.
NAMES = ("masked_softmax", "DotProductAttention", "MultiHeadAttention")


def d2l_source_path() -> Path:
    """Path of the installed ``d2l/torch.py``, found without importing ``d2l``.

    Raises:
        ModuleNotFoundError: d2l is not installed (``pip install --no-deps d2l==1.0.3``).
    """
    spec = importlib.util.find_spec("d2l")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "d2l is not installed; the reference needs its source: pip install --no-deps d2l==1.0.3"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "torch.py"


def d2l_available() -> bool:
    """Whether d2l's source is installed (``make install`` does; conda users may not have it)."""
    return importlib.util.find_spec("d2l") is not None


@functools.lru_cache(maxsize=None)
def load_d2l(names: tuple[str, ...] = NAMES) -> SimpleNamespace:
    """Execute the named top-level functions/classes of ``d2l/torch.py``; return them.

    Args:
        names: top-level ``def``/``class`` names of ``d2l/torch.py``, in an order where
            each one only needs names loaded before it (or torch, ``nn``, ``math``).

    Returns:
        A namespace with one attribute per name (e.g. ``.MultiHeadAttention``). The code
        refers to ``d2l.X``; ``d2l`` resolves to this same namespace, with
        ``d2l.Module = torch.nn.Module`` (d2l's ``Module`` only adds plotting/training).

    Raises:
        ModuleNotFoundError: d2l's source is not installed.
        KeyError: a name is not a top-level definition of ``d2l/torch.py``.
    """
    path = d2l_source_path()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    defs = {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }
    missing = [name for name in names if name not in defs]
    if missing:
        raise KeyError(f"{missing} are not top-level definitions of {path}")
    # d2l.Module only adds plotting/training; zeros/arange are aliases d2l/torch.py binds
    # at its end (PositionalEncoding uses them).
    d2l = SimpleNamespace(Module=nn.Module, zeros=torch.zeros, arange=torch.arange)
    scope = {"torch": torch, "nn": nn, "math": math, "d2l": d2l, "__name__": "d2l_reference"}
    for name in names:
        module = ast.Module(body=[defs[name]], type_ignores=[])
        exec(compile(module, str(path), "exec"), scope)  # noqa: S102 - d2l's own source
        setattr(d2l, name, scope[name])
    return d2l


def d2l_multihead_from(layer) -> nn.Module:
    """d2l 1.0.3's ``MultiHeadAttention`` holding the weights of a d2lmha layer.

    d2l builds ``W_q``, ``W_k``, ``W_v``, ``W_o`` as ``nn.LazyLinear``; one dummy forward
    on ``layer``'s device and dtype materialises them, then ``layer``'s weights (and biases)
    are copied in. The result is in ``layer``'s training mode.

    Args:
        layer: a :class:`d2lmha.MultiHeadAttention` (query, key and value widths may differ).

    Returns:
        The d2l layer; ``forward(queries, keys, values, valid_lens)`` with ``valid_lens``
        ``[batch]`` or ``[batch, queries]`` (or None), weights in
        ``.attention.attention_weights`` as ``(batch·heads, queries, keys)``.

    Raises:
        TypeError: ``layer`` has no ``W_q``/``W_k``/``W_v``/``W_o`` linear layers.
    """
    projections = ("W_q", "W_k", "W_v", "W_o")
    if not all(isinstance(getattr(layer, name, None), nn.Linear) for name in projections):
        raise TypeError(f"layer must be a d2lmha.MultiHeadAttention, got {type(layer).__name__}")
    d2l = load_d2l()
    bias = layer.W_q.bias is not None
    ref = d2l.MultiHeadAttention(layer.num_hiddens, layer.num_heads, layer.dropout_p, bias=bias)
    weight = layer.W_q.weight
    ref.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        dummy = [
            torch.zeros(
                1, 1, getattr(layer, name).in_features, device=weight.device, dtype=weight.dtype
            )
            for name in projections[:3]
        ]
        ref(*dummy, None)
        for name in projections:
            getattr(ref, name).weight.copy_(getattr(layer, name).weight)
            if bias:
                getattr(ref, name).bias.copy_(getattr(layer, name).bias)
    return ref.train(layer.training)
