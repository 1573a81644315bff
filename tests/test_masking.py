"""masked_softmax: the contract in its docstring, held to account."""

import pytest
import torch
from torch.testing import assert_close

from d2lmha import causal_mask, masked_softmax, valid_lens_mask


def test_plain_softmax_without_masks(device):
    X = torch.randn(2, 3, 5, device=device)
    assert_close(masked_softmax(X), torch.softmax(X, -1))


def test_valid_lens_per_sequence(device):
    X = torch.randn(2, 3, 5, device=device)
    W = masked_softmax(X, torch.tensor([2, 5], device=device))
    assert torch.equal(W[0, :, 2:], torch.zeros(3, 3, device=device))  # exactly 0
    assert_close(W[0, :, :2], torch.softmax(X[0, :, :2], -1))
    assert_close(W[1], torch.softmax(X[1], -1))
    assert_close(W.sum(-1), torch.ones(2, 3, device=device))


def test_valid_lens_per_query(device):
    X = torch.randn(2, 3, 4, device=device)
    lens = torch.tensor([[1, 2, 3], [4, 4, 1]], device=device)
    W = masked_softmax(X, lens)
    for b in range(2):
        for q in range(3):
            n = int(lens[b, q])
            assert_close(W[b, q, :n], torch.softmax(X[b, q, :n], -1))
            assert torch.all(W[b, q, n:] == 0)


def test_fully_masked_row_is_all_zeros_not_uniform_or_nan(device):
    X = torch.randn(2, 2, 4, device=device)
    W = masked_softmax(X, torch.tensor([0, 3], device=device))
    assert torch.equal(W[0], torch.zeros(2, 4, device=device))
    assert torch.isfinite(W).all()


def test_input_is_not_modified(device):
    X = torch.randn(2, 3, 4, device=device)
    before = X.clone()
    masked_softmax(X, torch.tensor([1, 2], device=device))
    assert torch.equal(X, before)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_no_overflow_no_nan(device, dtype):
    X = (torch.randn(2, 3, 6, device=device) * 300).to(dtype)  # large scores
    W = masked_softmax(X, torch.tensor([0, 4], device=device))
    assert W.dtype == dtype
    assert torch.isfinite(W).all()
    assert torch.all(W[0] == 0)
    assert_close(W[1].float().sum(-1), torch.ones(3, device=device), atol=1e-2, rtol=0)


def test_gradients_finite_with_empty_rows(device):
    X = torch.randn(2, 3, 4, device=device, requires_grad=True)
    W = masked_softmax(X, torch.tensor([0, 2], device=device))
    (W * torch.randn_like(W)).sum().backward()
    assert torch.isfinite(X.grad).all()
    assert torch.all(X.grad[0] == 0)  # no key, no gradient
    assert torch.all(X.grad[1, :, 2:] == 0)  # masked keys get no gradient


def test_broadcast_over_heads(device):
    X = torch.randn(2, 4, 3, 5, device=device)  # [batch, heads, q, k]
    lens = torch.tensor([2, 4], device=device)
    W = masked_softmax(X, lens)
    folded = masked_softmax(X.reshape(8, 3, 5), lens.repeat_interleave(4))  # d2l layout
    assert_close(W.reshape(8, 3, 5), folded)


def test_boolean_and_causal_masks(device):
    X = torch.randn(2, 4, 4, device=device)
    W = masked_softmax(X, mask=causal_mask(4, device=device))
    assert torch.equal(W.triu(1), torch.zeros_like(W))
    assert_close(W[:, 0, 0], torch.ones(2, device=device))
    both = masked_softmax(
        X, torch.tensor([2, 4], device=device), mask=causal_mask(4, device=device)
    )
    assert torch.all(both[0, :, 2:] == 0) and torch.all(both.triu(1) == 0)


def test_causal_mask_with_more_keys_than_queries():
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_valid_lens_mask_shapes():
    assert valid_lens_mask(torch.tensor([1, 3]), 2, 4).shape == (2, 1, 4)
    assert valid_lens_mask(torch.tensor([[1, 3], [0, 4]]), 2, 4).shape == (2, 2, 4)


@pytest.mark.parametrize(
    "valid_lens, error, text",
    [
        (torch.tensor([1.0, 2.0]), TypeError, "integer dtype"),
        ([1, 2], TypeError, "torch.Tensor"),
        (torch.tensor([1, 2, 3]), ValueError, r"expected \[2\]"),
        (torch.tensor([[1, 2], [1, 2]]), ValueError, r"\[2, 3\]"),
        (torch.tensor([-1, 2]), ValueError, ">= 0"),
        (torch.tensor([1, 5]), ValueError, "number of keys"),
    ],
)
def test_bad_valid_lens_errors(valid_lens, error, text):
    with pytest.raises(error, match=text):
        masked_softmax(torch.randn(2, 3, 4), valid_lens)


def test_bad_X_and_mask_errors():
    with pytest.raises(TypeError, match="floating-point"):
        masked_softmax(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2"):
        masked_softmax(torch.randn(3))
    with pytest.raises(TypeError, match="torch.bool"):
        masked_softmax(torch.randn(2, 3, 4), mask=torch.ones(3, 4))
    with pytest.raises(ValueError, match="broadcast"):
        masked_softmax(torch.randn(2, 3, 4), mask=torch.ones(3, 3, dtype=torch.bool))
