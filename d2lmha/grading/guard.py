"""Forbidden names, guarded: during a question's call, what the question may not call raises.

An implement question names the ready-made equivalents its functions may not call
(:mod:`.questions`). For the duration of one call of the question, :func:`forbid` replaces
each of them by a stand-in that raises ``RuntimeError("q2 asks you to write this yourself:
d2lmha.KVCache is off limits here")``, wherever it is bound: at its import path, in every
loaded module that holds the same object (``d2lmha.KVCache`` is also ``d2lmha.kv_cache.KVCache``
and ``d2lmha.multihead.KVCache``) and in the notebook's namespace (``from d2lmha import
KVCache``); everything is put back after the call. A forbidden class is replaced by a class
that cannot be instantiated or subclassed into one that can, but that ``isinstance`` still
answers for (the package's own checks keep working). A forbidden method
(``d2lmha.MultiHeadAttention.forward``) is replaced on its class.

The sandbox (:mod:`.runner`) guards each call of a submission, so the straightforward
delegation fails its tests with that message; the build (:mod:`.capture`) guards the
solution's calls the same way, so a solution that needs a forbidden name fails the build.
Code in the sandbox can undo a guard (it can keep a reference from before the call): the
trusted grader also reads each answer cell as text (:mod:`.source_check`).
"""

from __future__ import annotations

import contextlib
import importlib
import sys

__all__ = ["forbid", "off_limits", "resolve"]

_MODULE_BINDINGS: dict[str, list] = {}  # path -> [(module dict, key)], found once per process


def off_limits(question: str, path: str) -> str:
    """The message a forbidden name raises with (in English: the sandbox is never told a
    language; :func:`.messages.localize` translates it for the learner)."""
    from .messages import say

    return say("off_limits", question=question, path=path)


def resolve(path: str):
    """``(owner, attribute name)`` of a dotted import path, the owner a module or a class.

    Raises:
        LookupError: no prefix of ``path`` imports, or an attribute is missing.
    """
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:-1]:
                owner = getattr(owner, part)
            getattr(owner, parts[-1])
        except AttributeError as error:
            raise LookupError(f"forbidden name {path!r} does not exist: {error}") from None
        return owner, parts[-1]
    raise LookupError(f"forbidden name {path!r}: no part of it can be imported")


class _Forbidden(type):
    """The metaclass of a forbidden class's stand-in: calling it raises, ``isinstance`` and
    ``issubclass`` answer for the original."""

    def __call__(cls, *args, **kwargs):
        raise RuntimeError(cls._off_limits)

    def __instancecheck__(cls, instance):
        return isinstance(instance, cls._original)

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, cls._original)


def _stand_in(original, message: str):
    if isinstance(original, type):
        return _Forbidden(
            original.__name__,
            (),
            {"_off_limits": message, "_original": original, "__module__": original.__module__},
        )

    def stand_in(*args, **kwargs):
        raise RuntimeError(message)

    stand_in.__name__ = getattr(original, "__name__", "forbidden")
    return stand_in


def _module_bindings(path: str, original) -> list:
    """Every ``(module dict, key)`` of a loaded module that holds ``original`` (found once)."""
    if path not in _MODULE_BINDINGS:
        found = []
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            found += [
                (namespace, key) for key, value in list(namespace.items()) if value is original
            ]
        _MODULE_BINDINGS[path] = found
    return _MODULE_BINDINGS[path]


@contextlib.contextmanager
def forbid(question: str, paths, namespace: dict | None = None):
    """Within the block, each of ``paths`` raises :func:`off_limits` (see the top).

    Args:
        question: the question the call belongs to (``"q2"``), for the message.
        paths: dotted import paths (from the trusted plan).
        namespace: the notebook's namespace, whose bindings of the same objects are
            replaced too.

    Raises:
        LookupError: a path that does not resolve (see :func:`resolve`).
    """
    saved = {}  # (id(container), key) -> (container, key, had it, old value)

    def replace(container, key, value, is_class):
        slot = (id(container), key)
        if slot not in saved:
            here = vars(container) if is_class else container
            saved[slot] = (container, key, key in here, here.get(key), is_class)
        if is_class:
            setattr(container, key, value)
        else:
            container[key] = value

    try:
        for path in paths:
            owner, name = resolve(path)
            original = getattr(owner, name)
            stand_in = _stand_in(original, off_limits(question, path))
            if isinstance(owner, type):
                replace(owner, name, stand_in, True)
                continue
            for container, key in _module_bindings(path, original) + [(vars(owner), name)]:
                replace(container, key, stand_in, False)
            for key, value in list((namespace or {}).items()):
                if value is original:
                    replace(namespace, key, stand_in, False)
        yield
    finally:
        for container, key, had, old, is_class in reversed(list(saved.values())):
            if is_class:
                if had:
                    setattr(container, key, old)
                else:
                    delattr(container, key)
            elif had:
                container[key] = old
            else:
                container.pop(key, None)
