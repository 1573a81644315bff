"""Chapter 08 builds greedy search and beam search in the open (a loop over steps through the
KV caches; beam search for one source, its beams a batch, the caches reordered); these tests
hold them to ``d2lmha.decoding`` on models and sizes the chapter does not use."""

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from d2lmha import decoding
from d2lmha.seq2seq import Seq2SeqTransformer
from notebook_defs import load_defs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08_decoding.ipynb"


@pytest.fixture(scope="module")
def nb():
    return load_defs(NOTEBOOK)


def model_and_sources(device, seed, blocks=2, vocab=9):
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(vocab, num_hiddens=16, num_heads=2, num_dec_blks=blocks)
    src = torch.randint(3, vocab, (6, 5), generator=torch.Generator().manual_seed(seed))
    return model.to(device).eval(), src.to(device), torch.tensor([5, 3, 4, 5, 1, 2]).to(device)


def test_the_chapter_defines_what_it_builds(nb):
    assert {"greedy_search_in_the_open", "beam_search_in_the_open", "best_beam"} <= set(nb)


@pytest.mark.parametrize("seed, blocks", [(0, 1), (1, 2), (2, 3)])
def test_greedy_matches_the_package(nb, device, seed, blocks):
    model, src, lens = model_and_sources(device, seed, blocks)
    ours = nb["greedy_search_in_the_open"](model, src, lens, 7)
    assert torch.equal(ours, decoding.greedy_search(model, src, lens, 7))


@pytest.mark.parametrize(
    "seed, blocks, k, alpha", [(0, 1, 2, 0.75), (1, 2, 3, 0.0), (2, 2, 5, 1.0)]
)
def test_beam_search_matches_the_package(nb, device, seed, blocks, k, alpha):
    model, src, lens = model_and_sources(device, seed, blocks)
    package, scores = decoding.beam_search(
        model, src, lens, 6, beam_size=k, alpha=alpha, return_scores=True
    )
    for row in range(src.shape[0]):
        beams, log_p, lengths = nb["beam_search_in_the_open"](
            model, src[row : row + 1], lens[row : row + 1], 6, k, alpha
        )
        assert list(beams.shape) == [k, 6]
        assert torch.equal(nb["best_beam"](beams, log_p, lengths, alpha), package[row])
        assert_close((log_p / lengths.float() ** alpha).max(), scores[row], rtol=1e-5, atol=1e-5)


def test_a_beam_search_that_forgot_to_reorder_the_caches_differs(nb, device, monkeypatch):
    """The check can fail: without the reorder each beam reads another beam's keys."""
    from d2lmha import KVCache

    model, src, lens = model_and_sources(device, 3, 2)
    expected = decoding.beam_search(model, src, lens, 6, beam_size=3)
    monkeypatch.setattr(KVCache, "reorder", lambda self, indices: None)
    ours = torch.stack(
        [
            nb["best_beam"](
                *nb["beam_search_in_the_open"](model, src[r : r + 1], lens[r : r + 1], 6, 3)
            )
            for r in range(src.shape[0])
        ]
    )
    assert not torch.equal(ours, expected)
