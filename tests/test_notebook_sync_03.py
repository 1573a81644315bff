"""Chapter 03 builds the sinusoidal matrix, the offset rotation M_delta, RoPE and the
permutation check in the open; these tests hold them to the package (d2lmha.positional,
d2lmha.rope) and to the properties the chapter claims, on inputs the chapter does not use."""

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from notebook_defs import load_defs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_self_attention_positions.ipynb"


@pytest.fixture(scope="module")
def nb():
    return load_defs(NOTEBOOK)


def test_the_chapter_defines_what_it_builds(nb):
    assert {"equivariance_error", "sinusoidal_positions", "offset_rotation", "rope"} <= set(nb)


@pytest.mark.parametrize(
    "max_len, num_hiddens, base", [(1, 2, 10000.0), (37, 10, 10000.0), (300, 64, 500.0)]
)
def test_sinusoidal_matches_the_package(nb, max_len, num_hiddens, base):
    expected = d2lmha.sinusoidal_encoding(max_len, num_hiddens, base, dtype=torch.float64)
    assert_close(nb["sinusoidal_positions"](max_len, num_hiddens, base), expected)


@pytest.mark.parametrize("delta, num_hiddens", [(1, 8), (3, 20), (120, 64)])
def test_offset_rotation_moves_the_package_table(nb, delta, num_hiddens):
    P = d2lmha.sinusoidal_encoding(400, num_hiddens, dtype=torch.float64)
    M = nb["offset_rotation"](delta, num_hiddens)
    assert_close(P[:-delta] @ M.T, P[delta:], rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "shape, base, offset",
    [((5, 4), 10000.0, 0), ((2, 3, 9, 16), 10000.0, 11), ((2, 7, 6), 50.0, 3)],
)
def test_rope_matches_the_package(nb, device, shape, base, offset):
    X = torch.randn(shape, dtype=torch.float64).to(device)
    expected = d2lmha.rotary_embedding(X, base=base, offset=offset)
    assert_close(nb["rope"](X, base=base, offset=offset), expected)
    X32 = X.float()
    assert_close(
        nb["rope"](X32, base=base, offset=offset),
        d2lmha.rotary_embedding(X32, base=base, offset=offset),
        rtol=1e-5,
        atol=1e-5,
    )


def test_equivariance_error_tells_the_two_cases_apart(nb, device):
    X = torch.randn(2, 6, 8).to(device)
    perm = torch.tensor([5, 0, 3, 1, 4, 2])
    layer = d2lmha.MultiHeadAttention(8, 2).to(device).eval()
    assert nb["equivariance_error"](lambda Y: layer(Y, Y, Y), X, perm) < 1e-5
    encoding = d2lmha.PositionalEncoding(8).to(device)
    assert (
        nb["equivariance_error"](lambda Y: layer(encoding(Y), encoding(Y), encoding(Y)), X, perm)
        > 1e-3
    )
