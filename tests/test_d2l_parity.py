"""d2lmha agrees with d2l 1.0.3's own code where d2l is right, and differs where it says so.

d2l's code is executed from the installed ``d2l/torch.py`` (see
``benchmarks/d2l_reference.py``); ``import d2l.torch`` is never needed.
"""

import pytest
import torch
from torch.testing import assert_close

import d2lmha

from benchmarks import d2l_reference

try:
    D2L = d2l_reference.load_d2l(("masked_softmax", "DotProductAttention", "AdditiveAttention"))
except ModuleNotFoundError as err:  # `make install` always installs it; conda users may not
    pytest.skip(str(err), allow_module_level=True)


@pytest.mark.parametrize("valid_lens", [torch.tensor([2, 3]), torch.tensor([[1, 3], [2, 4]])])
def test_masked_softmax_matches_d2l_on_valid_rows(valid_lens):
    X = torch.rand(2, 2, 4)
    assert_close(d2lmha.masked_softmax(X, valid_lens), D2L.masked_softmax(X.clone(), valid_lens))


def test_d2l_writes_into_the_input_and_d2lmha_does_not():
    X = torch.rand(2, 2, 4)
    before = X.clone()
    D2L.masked_softmax(X, torch.tensor([2, 3]))
    assert (X == -1e6).any()  # d2l changed the caller's tensor
    X = before.clone()
    d2lmha.masked_softmax(X, torch.tensor([2, 3]))
    assert torch.equal(X, before)


def test_fully_masked_row_d2l_uniform_or_nan_d2lmha_zero():
    X = torch.rand(1, 2, 4)
    lens = torch.tensor([0])
    assert_close(D2L.masked_softmax(X.clone(), lens), torch.full((1, 2, 4), 0.25))
    half = D2L.masked_softmax(X.clone().half(), lens)
    assert not torch.isfinite(half).all()  # -1e6 overflows float16: NaN
    for dtype in (torch.float32, torch.float16):
        assert torch.equal(
            d2lmha.masked_softmax(X.to(dtype), lens), torch.zeros(1, 2, 4, dtype=dtype)
        )


def test_dot_product_attention_matches_d2l():
    Q, K, V = torch.randn(2, 1, 2), torch.randn(2, 10, 2), torch.randn(2, 10, 4)
    lens = torch.tensor([2, 6])
    ours, theirs = d2lmha.DotProductAttention(), D2L.DotProductAttention(dropout=0.0)
    assert_close(ours(Q, K, V, lens), theirs(Q, K, V, lens))
    assert_close(ours.attention_weights, theirs.attention_weights)


def test_additive_attention_matches_d2l_with_the_same_weights():
    Q, K, V = torch.randn(2, 1, 20), torch.randn(2, 10, 2), torch.randn(2, 10, 4)
    lens = torch.tensor([2, 6])
    theirs = D2L.AdditiveAttention(num_hiddens=8, dropout=0.0)
    expected = theirs(Q, K, V, lens)
    ours = d2lmha.AdditiveAttention(num_hiddens=8, query_size=20, key_size=2)
    ours.load_state_dict(theirs.state_dict())
    assert_close(ours(Q, K, V, lens), expected)
    assert_close(ours.attention_weights, theirs.attention_weights)
