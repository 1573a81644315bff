"""RoPE (d2lmha.rope): the paper's rotation, its properties, and its error messages."""

import math

import pytest
import torch
from torch.testing import assert_close

from d2lmha import RotaryEmbedding, rope_angles, rotary_embedding


def paper_rope(X: torch.Tensor, base: float = 10000.0, offset: int = 0) -> torch.Tensor:
    """Su et al. (2021) eq. (13)-(15) literally: one block-diagonal matrix R_m per position."""
    n, d = X.shape[-2:]
    theta = [base ** (-2 * i / d) for i in range(d // 2)]
    rows = []
    for m in range(offset, offset + n):
        blocks = [
            torch.tensor(
                [[math.cos(m * t), -math.sin(m * t)], [math.sin(m * t), math.cos(m * t)]],
                dtype=torch.float64,
            )
            for t in theta
        ]
        rows.append(torch.block_diag(*blocks))
    R = torch.stack(rows).to(X.device)  # [n, d, d]
    return torch.einsum("nij,...nj->...ni", R, X.double()).to(X.dtype)


@pytest.mark.parametrize("offset", [0, 7])
def test_matches_the_papers_rotation_matrices(device, offset):
    X = torch.randn(2, 3, 6, 8, device=device, dtype=torch.float64)
    assert_close(rotary_embedding(X, offset=offset), paper_rope(X, offset=offset))
    assert_close(rotary_embedding(X, base=100.0), paper_rope(X, base=100.0))


def test_norm_is_preserved(device):
    X = torch.randn(4, 2, 50, 16, device=device)
    for offset in (0, 1000):
        assert_close(rotary_embedding(X, offset=offset).norm(dim=-1), X.norm(dim=-1))


def test_position_zero_is_the_identity(device):
    X = torch.randn(3, 5, 8, device=device)
    Y = rotary_embedding(X)
    assert torch.equal(Y[:, 0], X[:, 0])
    assert not torch.allclose(Y[:, 1:], X[:, 1:])  # every other position does move


def test_offset_means_the_rows_start_later(device):
    X = torch.randn(2, 4, 6, device=device, dtype=torch.float64)
    padded = torch.cat([torch.zeros(2, 5, 6, device=device, dtype=torch.float64), X], dim=1)
    assert_close(rotary_embedding(X, offset=5), rotary_embedding(padded)[:, 5:])


def test_scores_depend_only_on_the_offset(device):
    # The same q and k at every position: scores S[m, n] = rot(q, m) . rot(k, n).
    q, k = torch.randn(2, 32, device=device, dtype=torch.float64)
    n = 40
    Q = rotary_embedding(q.expand(n, -1).contiguous())
    K = rotary_embedding(k.expand(n, -1).contiguous())
    S = Q @ K.T
    for shift in (1, 3, 17):
        assert_close(S[shift:, shift:], S[:-shift, :-shift])
    # Moving every position by the same amount (a key/value cache offset) changes nothing.
    S_far = (
        rotary_embedding(q.expand(n, -1).contiguous(), offset=500)
        @ rotary_embedding(k.expand(n, -1).contiguous(), offset=500).T
    )
    assert_close(S_far, S)
    # ... while the score does change with the offset m - n (it is not a constant).
    assert S[0].std() > 0.1 * S[0].abs().mean()


def test_equals_half_split_llama_convention_after_permuting_features(device):
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    batch, heads, n, d = 2, 3, 7, 16
    q, k = torch.randn(2, batch, heads, n, d, device=device, dtype=torch.float64)
    inv_freq = 1.0 / 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
    freqs = torch.outer(torch.arange(n, dtype=torch.float64, device=device), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)[None]  # [1, n, d], Hugging Face's layout
    # Interleaved pair (2i, 2i+1) <-> half-split pair (i, i + d/2).
    perm = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)]).to(device)
    q_hf, k_hf = llama.apply_rotary_pos_emb(q[..., perm], k[..., perm], emb.cos(), emb.sin())
    assert_close(rotary_embedding(q)[..., perm], q_hf)
    assert_close(rotary_embedding(k)[..., perm], k_hf)
    # Scores are unchanged by the permutation, so the two conventions give one attention.
    assert_close(
        rotary_embedding(q) @ rotary_embedding(k).transpose(-2, -1), q_hf @ k_hf.transpose(-2, -1)
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_keeps_dtype_and_device_and_input(device, dtype):
    X = torch.randn(2, 9, 8, device=device).to(dtype)
    before = X.clone()
    Y = rotary_embedding(X, offset=3)
    assert Y.dtype == dtype and Y.device == X.device and Y.shape == X.shape
    assert torch.equal(X, before)
    reference = rotary_embedding(X.double(), offset=3)
    tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2}.get(dtype, 1e-6)
    assert_close(Y.double(), reference, rtol=tol, atol=tol)


def test_gradients_flow_through_the_rotation():
    X = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: rotary_embedding(x, offset=2), (X,))


def test_module_wraps_the_function(device):
    rope = RotaryEmbedding(8, base=500.0)
    X = torch.randn(2, 4, 6, 8, device=device)
    assert_close(rope(X, offset=4), rotary_embedding(X, base=500.0, offset=4))
    assert list(rope.parameters()) == []
    assert "head_size=8" in repr(rope)


def test_angles():
    angles = rope_angles(3, 4, base=100.0, offset=2)
    assert angles.dtype == torch.float64
    assert_close(angles, torch.tensor([[2.0, 0.2], [3.0, 0.3], [4.0, 0.4]], dtype=torch.float64))


def test_empty_sequence_is_returned_unchanged():
    X = torch.randn(2, 0, 4)
    assert rotary_embedding(X).shape == (2, 0, 4)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: rotary_embedding(torch.randn(4, 7)), ValueError, "even d"),
        (lambda: rotary_embedding(torch.randn(8)), ValueError, "at least 2 dimensions"),
        (lambda: rotary_embedding([[1.0, 2.0]]), TypeError, "torch.Tensor"),
        (lambda: rotary_embedding(torch.ones(3, 4, dtype=torch.long)), TypeError, "floating"),
        (lambda: rotary_embedding(torch.randn(3, 4), offset=-1), ValueError, "offset=-1"),
        (lambda: rotary_embedding(torch.randn(3, 4), offset=1.5), TypeError, "offset"),
        (lambda: rotary_embedding(torch.randn(3, 4), base=1.0), ValueError, "base=1.0"),
        (lambda: rotary_embedding(torch.randn(3, 4), base="10000"), TypeError, "base"),
        (lambda: rotary_embedding(torch.randn(3, 4), base=float("inf")), ValueError, "finite"),
        (lambda: rotary_embedding(torch.randn(0, 4), offset=-2), ValueError, "offset"),
        (lambda: RotaryEmbedding(7), ValueError, "head_size=7 must be even"),
        (lambda: RotaryEmbedding(8)(torch.randn(2, 3, 6)), ValueError, "head_size=8"),
        (lambda: rope_angles(0, 4), ValueError, "num_positions=0"),
    ],
)
def test_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
