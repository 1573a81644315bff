"""The nbval run's train cache (tests/train_cache.py): a hit gives exactly what training
would have given; anything that changes the result misses."""

import torch

import train_cache
from d2lmha.tasks import LookupTask
from d2lmha.training import tiny_model, train

TASK = LookupTask(vocab_size=8, seq_len=6, offsets=(-1,))


def _model(seed=0, rng=5, num_heads=2):
    """A tiny model (its seed sets its weights), then the global RNG set to ``rng``."""
    model = tiny_model(TASK, num_heads=num_heads, num_hiddens=8, num_blks=1, seed=seed)
    torch.manual_seed(rng)
    return model


def _counting(calls):
    def counted(model, task, num_steps=400, lr=3e-3, batch_size=64, seed=0, progress=True, desc=""):
        calls.append(seed)
        return train(model, task, num_steps, lr, batch_size, seed, progress, desc)

    return counted


def test_a_hit_restores_weights_history_and_rng(tmp_path):
    calls = []
    cached = train_cache.cached(_counting(calls), tmp_path)
    first = _model()
    history = cached(first, TASK, num_steps=5, progress=False)
    rng_after = torch.get_rng_state()
    second = _model()
    again = cached(second, TASK, num_steps=5, progress=True, desc="shown, not computed")
    assert calls == [0]  # trained once
    assert again == history
    assert torch.equal(torch.get_rng_state(), rng_after)
    assert second.training is first.training is False
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_what_changes_the_result_misses(tmp_path):
    calls = []
    cached = train_cache.cached(_counting(calls), tmp_path)
    cached(_model(), TASK, num_steps=3, progress=False)
    cached(_model(rng=6), TASK, num_steps=3, progress=False)  # dropout draws from the RNG
    cached(_model(seed=1), TASK, num_steps=3, progress=False)  # other weights
    cached(_model(num_heads=1), TASK, num_steps=3, progress=False)  # same weights, 1 head
    frozen = _model()
    next(frozen.parameters()).requires_grad_(False)
    cached(frozen, TASK, num_steps=3, progress=False)  # same weights, one frozen
    cached(_model(), TASK, num_steps=3, seed=2, progress=False)  # other data
    cached(_model(), TASK, num_steps=4, progress=False)
    cached(_model(), TASK, num_steps=3, progress=False)  # the first again: a hit
    assert calls == [0, 0, 0, 0, 0, 2, 0]
