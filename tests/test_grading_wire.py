"""The plain-data format answers leave the sandbox in: faithful for good data, a clear
``WireError`` (never code execution) for bad data."""

import json
import math
import pickle

import numpy as np
import pytest
import torch

from d2lmha.grading import wire
from d2lmha.grading.wire import WireError, decode, encode


def round_trip(value, tmp_path):
    tensors = {}
    node = encode(value, tensors)
    wire.write_container(tmp_path / "a", {"v": node}, tensors)
    tree, read = wire.read_container(tmp_path / "a", 1 << 20)
    return decode(tree["v"], read)


def test_values_come_back_as_they_were(tmp_path):
    value = {
        "scores": torch.randn(2, 3, dtype=torch.float64),
        "mask": torch.ones(2, dtype=torch.bool),
        3: (1, 2.5, math.inf, None, "text", True),
        "array": np.arange(4, dtype=np.int32),
        "empty": torch.zeros(0, 5),
        "kinds": [torch.float16, torch.device("cpu")],
    }
    back = round_trip(value, tmp_path)
    assert back.keys() == value.keys() and back[3] == value[3]
    torch.testing.assert_close(back["scores"], value["scores"], rtol=0, atol=0)
    assert back["mask"].dtype == torch.bool and back["empty"].shape == (0, 5)
    assert isinstance(back["array"], np.ndarray) and back["array"].tolist() == [0, 1, 2, 3]
    assert back["kinds"] == [torch.float16, torch.device("cpu")]
    assert math.isnan(round_trip(float("nan"), tmp_path))


def test_tuples_stay_tuples_and_lists_lists(tmp_path):
    assert round_trip(([1], (2,)), tmp_path) == ([1], (2,))


def test_what_cannot_cross_becomes_a_marker(tmp_path):
    for value in (lambda x: x, torch.nn.Linear(2, 2), object(), torch.randn(2, dtype=torch.cfloat)):
        assert isinstance(round_trip(value, tmp_path), wire.Unsupported)


def test_hostile_objects_do_not_break_the_encoding():
    class Anything:
        def __getattr__(self, name):
            return self

        def __call__(self, *args):
            return self

    class BadInt(int):
        def __int__(self):
            raise ValueError("no")

    tensors = {}
    for value in (Anything(), BadInt(3), [BadInt(1), torch.ones(2)]):
        node = encode(value, tensors)
        json.dumps(node)
        assert node["t"] in ("callable", "unsupported")
    assert tensors == {}  # a failed encoding leaves no stray tensors


def test_exceptions_replay_as_builtin_classes():
    class Custom(ValueError):
        pass

    cases = (
        (Custom("x"), ValueError),
        (torch.cuda.OutOfMemoryError("y"), RuntimeError),
        (SystemExit(0), Exception),
        (KeyError("k"), KeyError),
    )
    for error, expected in cases:
        node = wire.exception_node(error)
        with pytest.raises(expected):
            wire.raise_from_node(node)


@pytest.mark.parametrize(
    "node",
    [
        None,
        [],
        {"t": 5},
        {"t": "tensor", "k": "99"},
        {"t": "int", "v": "1"},
        {"t": "bool", "v": 1},
        {"t": "list", "items": "abc"},
        {"t": "dict", "items": [[{"t": "list", "items": []}, {"t": "none"}]]},
        {"t": "float", "v": "1e400x"},
        {"t": "dtype", "v": "Tensor"},
        {"t": "exec", "v": "1"},
    ],
)
def test_malformed_nodes_are_refused(node):
    with pytest.raises(WireError):
        decode(node, {})


def test_deep_or_huge_trees_are_refused():
    deep = {"t": "none"}
    for _ in range(wire.MAX_DEPTH + 2):
        deep = {"t": "list", "items": [deep]}
    with pytest.raises(WireError, match="deep"):
        decode(deep, {})
    with pytest.raises(WireError, match="too many"):
        decode({"t": "list", "items": [{"t": "none"}] * (wire.MAX_NODES + 1)}, {})


def test_files_that_are_not_containers_are_refused(tmp_path):
    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "unpickled"), "w"))

    cases = {
        "pickle": pickle.dumps(Boom()),
        "empty": b"",
        "garbage": b"\xff" * 64,
        "huge header": (10**9).to_bytes(8, "little") + b"{}",
        "no metadata": (2).to_bytes(8, "little") + b"{}",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(WireError):
            wire.read_container(tmp_path / name, 1 << 20)
    (tmp_path / "big").write_bytes(b"\0" * 2048)
    with pytest.raises(WireError, match="larger than"):
        wire.read_container(tmp_path / "big", 1024)
    assert not (tmp_path / "unpickled").exists()


def test_same_inputs_compares_values_within_tolerance():
    def enc(value):
        tensors = {}
        return encode(value, tensors), tensors

    x = torch.randn(3, 4)
    assert wire.same_inputs(enc(([x, 2], {})), enc(([x + 1e-9, 2], {})))
    assert not wire.same_inputs(enc(([x, 2], {})), enc(([x, 3], {})))
    assert not wire.same_inputs(enc(([x], {})), enc(([x.flip(0)], {})))
    assert not wire.same_inputs(enc(([x], {})), enc(([x.double()], {})))
