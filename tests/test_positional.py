"""Positional encodings (d2lmha.positional): parity with d2l 1.0.3, the properties chapter 03
shows, and the errors."""

import math

import pytest
import scipy.linalg
import torch
from torch.testing import assert_close

from d2lmha import LearnedPositionalEncoding, PositionalEncoding, sinusoidal_encoding

from benchmarks import d2l_reference


@pytest.fixture(scope="module")
def d2l_positional_encoding():
    """d2l 1.0.3's ``PositionalEncoding``, executed from the installed ``d2l/torch.py``."""
    try:
        d2l = d2l_reference.load_d2l(("PositionalEncoding",))
    except ModuleNotFoundError as err:
        pytest.skip(str(err))
    return d2l.PositionalEncoding


@pytest.mark.parametrize("num_hiddens, max_len", [(2, 5), (32, 60), (384, 512), (64, 1000)])
def test_sinusoidal_matches_d2l(d2l_positional_encoding, num_hiddens, max_len):
    D2LPositionalEncoding = d2l_positional_encoding
    reference = D2LPositionalEncoding(num_hiddens, 0.0, max_len).P  # float32 maths
    ours = PositionalEncoding(num_hiddens, 0.0, max_len)
    # d2l computes the angles in float32; ours are float64, rounded once at the end.
    assert_close(ours.P, reference, rtol=0, atol=1e-4)
    X = torch.randn(2, max_len, num_hiddens)
    assert_close(ours(X), D2LPositionalEncoding(num_hiddens, 0.0, max_len)(X), rtol=0, atol=1e-4)


def test_float64_matrix_is_the_formula():
    P = sinusoidal_encoding(50, 8, dtype=torch.float64)
    for pos in (0, 1, 49):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert P[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-15)
            assert P[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-15)


@pytest.mark.parametrize("delta", [1, 5, 50])
def test_fixed_rotation_maps_pos_to_pos_plus_delta(delta):
    # Pair i read as the complex number cos + i*sin = exp(i*pos*w_i): moving delta positions on
    # multiplies it by exp(i*delta*w_i), the same unit factor (a rotation) for every pos.
    d, n = 16, 300
    P = sinusoidal_encoding(n, d, dtype=torch.float64)
    Z = torch.complex(P[:, 1::2], P[:, 0::2])
    w = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    turn = torch.polar(torch.ones_like(w), delta * w)
    assert_close(Z[:-delta] * turn, Z[delta:], rtol=0, atol=1e-10)
    # The same factor fails for another offset: the property is specific, not trivial.
    assert (Z[: -delta - 1] * turn - Z[delta + 1 :]).abs().max() > 1e-2


def test_gram_matrix_depends_only_on_distance():
    P = sinusoidal_encoding(120, 32, dtype=torch.float64)
    G = P @ P.T
    assert_close(G, torch.from_numpy(scipy.linalg.toeplitz(G[0].numpy())))
    assert_close(torch.diagonal(G), torch.full((120,), 16.0, dtype=torch.float64))


def test_sinusoidal_extends_past_any_length():
    short, long = sinusoidal_encoding(1000, 32), sinusoidal_encoding(5000, 32)
    assert torch.equal(long[:1000], short)
    assert_close(long.norm(dim=-1), torch.full((5000,), 4.0))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sinusoidal_encoding(10, 7), "num_hiddens=7 must be even"),
        (lambda: PositionalEncoding(5), "num_hiddens=5 must be even"),
        (lambda: sinusoidal_encoding(0, 8), "max_len=0"),
        (lambda: PositionalEncoding(8, max_len=10)(torch.randn(1, 11, 8)), "max_len=10"),
        (lambda: PositionalEncoding(8)(torch.randn(1, 4, 6)), "num_hiddens=8"),
        (lambda: PositionalEncoding(8)(torch.randn(4, 8)), "at least 3 dimensions"),
    ],
)
def test_sinusoidal_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_learned_encoding_is_trainable_and_bounded():
    enc = LearnedPositionalEncoding(6, max_len=10)
    assert enc.embedding.weight.shape == (10, 6) and enc.embedding.weight.requires_grad
    X = torch.randn(2, 4, 6)
    assert_close(enc(X), X + enc.embedding.weight[:4])
    enc(X).sum().backward()
    grad = enc.embedding.weight.grad
    assert grad[:4].abs().min() > 0 and torch.equal(grad[4:], torch.zeros(6, 6))
    with pytest.raises(ValueError, match="sequence length 11 but max_len=10"):
        enc(torch.randn(1, 11, 6))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: LearnedPositionalEncoding(0), ValueError, "num_hiddens=0"),
        (lambda: LearnedPositionalEncoding(4, max_len=2.5), TypeError, "max_len must be an int"),
        (lambda: LearnedPositionalEncoding(4)(torch.randn(1, 3, 5)), ValueError, "num_hiddens=4"),
        (
            lambda: LearnedPositionalEncoding(4)(torch.ones(1, 3, 4, dtype=torch.long)),
            TypeError,
            "floating",
        ),
    ],
)
def test_learned_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("cls", [PositionalEncoding, LearnedPositionalEncoding])
def test_device_and_dtype_follow_the_input(device, dtype, cls):
    enc = cls(8, max_len=20).to(device)
    X = torch.zeros(2, 5, 8, device=device, dtype=dtype)
    Y = enc(X)
    assert Y.dtype == dtype and Y.device == X.device
    table = enc.P[0] if cls is PositionalEncoding else enc.embedding.weight
    assert_close(Y[0].float(), table[:5].float(), rtol=0, atol=1e-3)
    assert torch.isfinite(Y).all()
