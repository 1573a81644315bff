"""What a question may not call: its config, the sandbox's guard, the trusted text check.

Fast unit tests (no sandbox); the graded class checks the whole path in
``test_grading_sets.py`` (each planned delegating answer earns none of its question's function
points and is flagged).
"""

import json

import pytest
import torch

import d2lmha
from d2lmha.grading.guard import forbid, resolve
from d2lmha.grading.questions import Question, question_configs
from d2lmha.grading.source_check import forbidden_warning


def test_a_forbidden_class_raises_wherever_it_is_bound_then_comes_back():
    namespace = {"Cache": d2lmha.KVCache, "other": 1}
    original, cache = d2lmha.KVCache, d2lmha.KVCache()
    with forbid("q2", ["d2lmha.KVCache"], namespace):
        for make in (d2lmha.KVCache, d2lmha.kv_cache.KVCache, namespace["Cache"]):
            with pytest.raises(RuntimeError, match="q2 .* d2lmha.KVCache is off limits here"):
                make()
        # the package's own isinstance checks still work
        assert isinstance(cache, d2lmha.KVCache) and isinstance(cache, d2lmha.multihead.KVCache)
    assert d2lmha.KVCache is original is namespace["Cache"] is d2lmha.multihead.KVCache
    assert namespace["other"] == 1


def test_a_forbidden_function_and_method_raise_and_come_back_after_an_error():
    layer = d2lmha.MultiHeadAttention(8, 2)
    X = torch.ones(1, 3, 8)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    paths = [
        "d2lmha.MultiHeadAttention.forward",
        "torch.nn.functional.scaled_dot_product_attention",
    ]
    with pytest.raises(RuntimeError, match="forward is off limits"):
        with forbid("q4", paths):
            with pytest.raises(RuntimeError, match="scaled_dot_product_attention is off limits"):
                torch.nn.functional.scaled_dot_product_attention(X, X, X)
            sdpa(X, X, X)  # a reference taken before the call escapes: hence the text check
            layer(X, X, X)
    assert torch.nn.functional.scaled_dot_product_attention is sdpa
    assert layer(X, X, X).shape == X.shape


def test_a_path_that_does_not_resolve_is_named():
    with pytest.raises(LookupError, match="d2lmha.NoSuchThing"):
        resolve("d2lmha.NoSuchThing")


def _notebook(*cells):
    """A notebook's bytes: cells given as (source, tagged as an answer cell)."""
    return json.dumps(
        {
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "metadata": {"tags": ["otter_answer_cell"]} if tagged else {},
                    "source": source,
                }
                for source, tagged in cells
            ],
        }
    ).encode()


QUESTIONS = {
    "q2": Question("q2", "implement", ("d2lmha.KVCache", "d2lmha.MultiHeadAttention.forward")),
    "q3": Question("q3", "diagnose", ("d2lmha.merge_heads",)),
}
NAMES = {"q2": ("attend_with_cache",), "q3": ("diagnosis", "merge_heads")}


def test_an_answer_cell_that_names_a_forbidden_name_is_flagged():
    clean = _notebook(
        ("import d2lmha\nlayer = d2lmha.MultiHeadAttention(8, 2)", False),  # not an answer
        ("def attend_with_cache(layer, X, K, V):\n    return X", True),
        ('grader.check("q2")', False),
        ('diagnosis = "C"\ndef merge_heads(context):\n    return context', True),
        ('grader.check("q3")', False),
        ("cache = d2lmha.KVCache()  # a try-it cell", False),
    )
    assert forbidden_warning(clean, QUESTIONS, NAMES) == ""
    tagged = _notebook(("cache = d2lmha.KVCache()", True), ('grader.check("q2")', False))
    assert forbidden_warning(tagged, QUESTIONS, NAMES) == (
        "q2's answer names KVCache, which q2 may not call"
    )
    # a cell added at the end that redefines the function counts too, and so does an import
    # of the package's function that has the learner's function's name
    added = _notebook(
        ("def attend_with_cache(layer, X, K, V):\n    return layer(X, X, X)", False),
        ("from d2lmha import MultiHeadAttention", False),
        ("from d2lmha import merge_heads\nmerge_heads = merge_heads", False),
    )
    warning = forbidden_warning(added, QUESTIONS, NAMES)
    assert "q3's answer names merge_heads" in warning
    assert "q2's" not in warning  # the import cell defines nothing of q2's
    # the learner's own merge_heads after a blank answer's "..." is not the package's
    own = _notebook(("def merge_heads(c):\n    ...", True), ("merge_heads = lambda c: c", False))
    assert forbidden_warning(own, QUESTIONS, NAMES) == ""
    uses = _notebook(("def merge_heads(c):\n    return d2lmha.merge_heads(c)", False))
    assert "q3's answer names merge_heads" in forbidden_warning(uses, QUESTIONS, NAMES)


@pytest.mark.parametrize("data", [b"\xff", b"[]", b'{"cells": 3}', b'{"cells": [{"source": 5}]}'])
def test_a_malformed_notebook_gets_no_warning_and_no_error(data):
    assert forbidden_warning(data, QUESTIONS, NAMES) == ""


def test_question_configs_need_a_kind_and_paths(tmp_path):
    def master(config):
        path = tmp_path / "01_x.ipynb"
        cell = {"cell_type": "raw", "metadata": {}, "source": "# BEGIN QUESTION\n" + config}
        path.write_text(json.dumps({"cells": [cell], "metadata": {}}))
        return path

    assert question_configs(master("name: q1\nkind: predict"))["q1"].forbidden == ()
    found = question_configs(master("name: q1\nkind: implement\nforbidden:\n- a.b\n- a.C.forward"))
    assert found["q1"].words == ("b", "C")
    with pytest.raises(ValueError, match="question q1: kind must be one of"):
        question_configs(master("name: q1"))
    with pytest.raises(ValueError, match="dotted import paths"):
        question_configs(master("name: q1\nkind: implement\nforbidden: [KVCache]"))
