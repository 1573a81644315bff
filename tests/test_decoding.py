"""Decoding strategies (d2lmha.decoding) and KVCache.reorder, on tiny models.

One date model trained for 60 steps (about 0.5 s of CPU: under-trained, so its outputs mix
right and wrong dates and beams disagree) is shared by the module; the other tests use
untrained models of a few hundred parameters.
"""

import itertools
import math

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from d2lmha import decoding
from d2lmha.seq2seq import Seq2SeqTransformer, greedy_decode
from d2lmha.tasks import DateTask
from d2lmha.training import train


@pytest.fixture(scope="module")
def dates(device):
    task = DateTask()
    d2lmha.seed_everything(0)
    model = Seq2SeqTransformer(task.vocab_size, num_hiddens=32, num_heads=4).to(device)
    train(model, task, num_steps=60, lr=5e-3, batch_size=64, seed=0, progress=False)
    (src, lens, _), tgt = task.sample(64, 3, device, split="test")
    return task, model.eval(), src, lens, tgt


def small_model(device, vocab=12, blocks=2, seed=0):
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(vocab, num_hiddens=16, num_heads=2, num_dec_blks=blocks)
    src = torch.randint(3, vocab, (5, 6), generator=torch.Generator().manual_seed(seed))
    return model.to(device).eval(), src.to(device), torch.tensor([6, 4, 5, 6, 2]).to(device)


def test_greedy_search_equals_greedy_decode(dates):
    task, model, src, lens, _ = dates
    expected, _ = greedy_decode(model, src, lens, task.tgt_len)
    for use_cache in (True, False):
        assert torch.equal(
            decoding.greedy_search(model, src, lens, 11, use_cache=use_cache), expected
        )


def test_beam_size_one_is_greedy(dates, device):
    task, model, src, lens, _ = dates
    greedy = decoding.greedy_search(model, src, lens, task.tgt_len)
    assert torch.equal(decoding.beam_search(model, src, lens, task.tgt_len, beam_size=1), greedy)
    small, s_src, s_lens = small_model(device)
    assert torch.equal(
        decoding.beam_search(small, s_src, s_lens, 8, beam_size=1),
        decoding.greedy_search(small, s_src, s_lens, 8),
    )


def test_beam_search_with_the_cache_equals_without(dates, device):
    task, model, src, lens, _ = dates
    for m, s, v, n in ((model, src, lens, task.tgt_len), (*small_model(device, blocks=2), 9)):
        cached, c_scores = decoding.beam_search(m, s, v, n, beam_size=3, return_scores=True)
        full, f_scores = decoding.beam_search(
            m, s, v, n, beam_size=3, use_cache=False, return_scores=True
        )
        assert torch.equal(cached, full)
        assert_close(c_scores, f_scores, rtol=1e-5, atol=1e-5)


def test_beam_scores_are_the_normalised_log_probabilities_of_the_output(dates):
    task, model, src, lens, _ = dates
    for alpha in (0.0, 0.75):
        ids, scores = decoding.beam_search(
            model, src, lens, task.tgt_len, beam_size=4, alpha=alpha, return_scores=True
        )
        log_p, length = decoding.sequence_log_probs(model, src, lens, ids)
        assert_close(scores, log_p / length.float() ** alpha, rtol=1e-4, atol=1e-4)
    greedy = decoding.greedy_search(model, src, lens, task.tgt_len)
    assert not torch.equal(ids, greedy), "an under-trained model: beams should differ somewhere"


def test_a_beam_as_wide_as_every_sequence_is_exhaustive_search(device):
    """d2l 10.8.2: with k >= vocab**steps nothing is pruned; compare with brute force."""
    vocab, steps, alpha = 4, 3, 0.75  # ids 0 pad, 1 bos, 2 eos, 3 a token
    for seed in range(3):
        model, src, lens = small_model(device, vocab=vocab, seed=seed)
        ids, scores = decoding.beam_search(
            model, src, lens, steps, beam_size=vocab**steps, alpha=alpha, return_scores=True
        )
        seqs = torch.tensor(list(itertools.product(range(vocab), repeat=steps)), device=device)
        for row in range(src.shape[0]):
            rows = src[row : row + 1].expand(len(seqs), -1)
            log_p, length = decoding.sequence_log_probs(
                model, rows, lens[row].expand(len(seqs)), seqs
            )
            best = (log_p / length.float() ** alpha).max()
            assert_close(scores[row], best, rtol=1e-5, atol=1e-5)


def test_sampling_limits_are_greedy(dates):
    task, model, src, lens, _ = dates
    greedy = decoding.greedy_search(model, src, lens, task.tgt_len)
    n = task.tgt_len
    assert torch.equal(decoding.sample(model, src, lens, n, top_k=1, generator=0), greedy)
    assert torch.equal(decoding.sample(model, src, lens, n, top_p=1e-6, generator=1), greedy)
    assert torch.equal(decoding.sample(model, src, lens, n, temperature=1e-3, generator=2), greedy)
    agree = [
        (decoding.sample(model, src, lens, n, temperature=t, generator=3) == greedy)
        .all(1)
        .float()
        .mean()
        for t in (2.0, 1.0, 0.3)
    ]
    assert agree[0] < agree[1] < agree[2] <= 1  # colder, closer to greedy


def test_sampling_is_reproducible_with_a_seed(dates):
    task, model, src, lens, _ = dates
    n = task.tgt_len
    first = decoding.sample(model, src, lens, n, generator=7)
    assert torch.equal(first, decoding.sample(model, src, lens, n, generator=7))
    assert torch.equal(first, decoding.sample(model, src, lens, n, generator=7, use_cache=False))
    assert not torch.equal(first, decoding.sample(model, src, lens, n, generator=8))
    generator = torch.Generator().manual_seed(7)
    assert torch.equal(first, decoding.sample(model, src, lens, n, generator=generator))
    assert not torch.equal(first, decoding.sample(model, src, lens, n, generator=generator))
    torch.manual_seed(5)
    a = decoding.sample(model, src, lens, n, top_k=5, top_p=0.9)
    torch.manual_seed(5)
    assert torch.equal(a, decoding.sample(model, src, lens, n, top_k=5, top_p=0.9))


def test_filter_logits_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda **kw: torch.isfinite(decoding.filter_logits(logits, **kw))[0].tolist()  # noqa: E731
    assert kept(top_k=2) == [True, True, False, False]
    assert kept(top_k=9) == [True] * 4
    assert kept(top_p=0.8) == [True, True, False, False]  # 0.5 + 0.3 reaches 0.8
    assert kept(top_p=0.81) == [True, True, True, False]
    assert kept(top_p=1e-9) == [True, False, False, False]
    assert kept(top_k=3, top_p=0.9) == [True, True, True, False]
    shuffled = logits[:, [2, 0, 3, 1]]  # the order of the vocabulary does not matter
    assert torch.isfinite(decoding.filter_logits(shuffled, top_p=0.8))[0].tolist() == [
        False, True, False, True,
    ]  # fmt: skip
    probs = decoding.filter_logits(logits, temperature=2.0).softmax(-1)
    root = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).sqrt()  # T = 2: p ** (1/2), renormalised
    assert_close(probs, root / root.sum(), atol=1e-6, rtol=0)
    assert torch.equal(logits, torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])))  # unchanged


def test_kv_cache_reorder_continues_the_chosen_rows(device):
    torch.manual_seed(0)
    decoder = d2lmha.TransformerDecoder(10, 16, 32, num_heads=2, num_blks=2).to(device).eval()
    memory = torch.randn(4, 5, 16).to(device)[[0, 0, 1, 1]]  # two sources, each twice
    ids = torch.randint(10, (4, 6), device=device)
    rows = torch.tensor([1, 1, 3, 2], device=device)  # within each source's rows
    with torch.no_grad():
        caches = decoder.new_caches()
        decoder(ids[:, :4], memory, caches=caches)
        for cache in caches:
            cache.reorder(rows)
        stepped = decoder(ids[rows, 4:], memory, caches=caches)
        full = decoder(torch.cat([ids[rows, :4], ids[rows, 4:]], 1), memory)[:, 4:]
    assert [c.cached_len for c in caches] == [6, 6]
    assert_close(stepped, full, rtol=1e-5, atol=1e-5)


def test_kv_cache_reorder_errors():
    cache = d2lmha.KVCache()
    with pytest.raises(RuntimeError, match="empty"):
        cache.reorder(torch.tensor([0]))
    cache.update(torch.randn(3, 2, 4, 8), torch.randn(3, 2, 4, 8))
    keys = cache.keys
    for bad, error, match in (
        ([0, 1, 2], TypeError, "indices must be an integer torch.Tensor, got list"),
        (torch.tensor([0.0, 1.0, 2.0]), TypeError, "indices must have an integer dtype"),
        (torch.tensor([0, 1]), ValueError, r"indices must have shape \[3\], got \[2\]"),
        (torch.tensor([0, 1, 3]), ValueError, "0..2"),
        (torch.tensor([-1, 1, 2]), ValueError, "0..2"),
    ):
        with pytest.raises(error, match=match):
            cache.reorder(bad)
    assert cache.keys is keys  # nothing changed by a refused call
    cache.reorder(torch.tensor([2, 2, 0]))
    assert torch.equal(cache.keys, keys[[2, 2, 0]])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_steps": 0}, ValueError, "num_steps"),
        ({"eos_id": 99}, ValueError, "eos_id=99 must be < the vocabulary size"),
        ({"bos_id": -1}, ValueError, "bos_id"),
        ({"beam_size": 0}, ValueError, "beam_size"),
        ({"beam_size": True}, TypeError, "beam_size"),
        ({"alpha": -0.5}, ValueError, "alpha"),
        ({"alpha": math.nan}, ValueError, "alpha"),
        ({"alpha": "0.75"}, TypeError, "alpha must be a number"),
    ],
)
def test_beam_search_bad_arguments(device, kwargs, error, match):
    model, src, lens = small_model(device)
    args = {"num_steps": 4, **kwargs}
    with pytest.raises(error, match=match):
        decoding.beam_search(model, src, lens, **args)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"temperature": 0}, ValueError, "temperature=0.0: expected a finite number with 0.0 <"),
        ({"temperature": math.inf}, ValueError, "temperature"),
        ({"temperature": "hot"}, TypeError, "temperature must be a number"),
        ({"top_k": 0}, ValueError, "top_k"),
        ({"top_k": 2.0}, TypeError, "top_k must be an int"),
        ({"top_p": 0.0}, ValueError, "top_p"),
        ({"top_p": 1.5}, ValueError, "top_p=1.5"),
        ({"generator": "seed"}, TypeError, "generator"),
    ],
)
def test_sample_bad_arguments(device, kwargs, error, match):
    model, src, lens = small_model(device)
    with pytest.raises(error, match=match):
        decoding.sample(model, src, lens, 4, **kwargs)


def test_other_bad_arguments(device):
    model, src, lens = small_model(device)
    with pytest.raises(TypeError, match="Seq2SeqTransformer"):
        decoding.greedy_search(model.decoder, src, lens, 4)
    with pytest.raises(TypeError, match="logits must have a floating-point dtype"):
        decoding.filter_logits(torch.tensor([1, 2]), top_k=1)
    with pytest.raises(ValueError, match=r"ids must have shape \[5, n\], got \[4, 3\]"):
        decoding.sequence_log_probs(model, src, lens, torch.zeros(4, 3, dtype=torch.long))
    model.train()
    decoding.beam_search(model, src, lens, 3, beam_size=2)
    assert model.training  # the mode is restored
