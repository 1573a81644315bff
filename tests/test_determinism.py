"""Same seed, same numbers: every training study of chapters 04-07 at 1 and at 2 threads.

Each study is run with its chapter's real configuration (task, model sizes, learning rate,
batch size, seeds) but a few steps, through the same functions the chapter calls
(:func:`~d2lmha.training.train`, :func:`~d2lmha.training.evaluate`,
:func:`~d2lmha.seq2seq.exact_match`), once with torch on one CPU thread and once on two;
the results must be equal to the last bit. Without :func:`d2lmha.fixed_threads` inside
those functions the chapter-06 model's losses part at the 27th step. About 4 s of CPU.
"""

import pytest
import torch

import d2lmha
from d2lmha.seq2seq import Seq2SeqTransformer, exact_match
from d2lmha.tasks import DateTask, LookupTask
from d2lmha.training import evaluate, head_count_study, tiny_model, train

STEPS = 8


def at_threads(num_threads, study):
    """``study()`` with torch's thread count set to ``num_threads`` outside it."""
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return study()
    finally:
        torch.set_num_threads(before)


def weights(model):
    """Every trained weight as a list of floats: equal only if equal to the last bit."""
    return {name: p.flatten().tolist() for name, p in model.state_dict().items()}


def chapter_04():
    task = LookupTask(vocab_size=32, seq_len=12, offsets=(-1, 2))
    return head_count_study(task, [(1, 24), (4, 48)], [0], num_steps=STEPS)


def chapter_05():
    task = LookupTask(vocab_size=8, seq_len=12, offsets=(-1, 2))
    model = tiny_model(task, num_heads=4, num_hiddens=32, num_blks=2, seed=0)
    history = train(model, task, num_steps=STEPS, progress=False)
    return history, evaluate(model, task), weights(model)


def date_study(**sizes):
    task = DateTask()
    d2lmha.seed_everything(1)
    model = Seq2SeqTransformer(task.vocab_size, num_hiddens=32, **sizes)
    history = train(model, task, num_steps=STEPS, lr=5e-3, batch_size=64, seed=1, progress=False)
    return history, exact_match(model, task, num_samples=200), weights(model)


STUDIES = {
    "04 head-count study": chapter_04,
    "05 tiny model": chapter_05,
    "06 seed study (1 head)": lambda: date_study(num_heads=1),
    "07 GQA study (1 K/V head)": lambda: date_study(num_heads=4, num_kv_heads=1),
}


@pytest.mark.parametrize("name", STUDIES)
def test_study_gives_the_same_numbers_at_one_and_two_threads(name):
    one = at_threads(1, STUDIES[name])
    two = at_threads(2, STUDIES[name])
    assert one == two  # floats compared exactly


def test_fixed_threads_restores_the_count_and_checks_its_argument():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), d2lmha.fixed_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before
    for bad, error in ((0, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="num_threads"), d2lmha.fixed_threads(bad):
            pass
