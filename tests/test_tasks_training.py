"""Synthetic lookup task, tiny model and training loop (chapters 04 and 05)."""

import pandas as pd
import pytest
import torch
from torch.testing import assert_close

from d2lmha.tasks import IGNORE_INDEX, LookupTask
from d2lmha.training import TokenClassifier, evaluate, loss_and_accuracy, tiny_model, train


def test_same_seed_same_batch_other_seed_other_batch():
    task = LookupTask(vocab_size=8, seq_len=12, offsets=(-1, 2))
    X1, Y1 = task.sample(16, 3)
    X2, Y2 = task.sample(16, 3)
    X3, _ = task.sample(16, 4)
    assert_close(X1, X2)
    assert_close(Y1, Y2)
    assert not torch.equal(X1, X3)
    generator = torch.Generator().manual_seed(3)
    first, second = task.sample(16, generator)[0], task.sample(16, generator)[0]
    assert_close(first, X1)  # a seeded generator starts where the int seed does
    assert not torch.equal(first, second)  # ...and moves on


def test_shapes_dtypes_and_range():
    task = LookupTask(vocab_size=5, seq_len=9, offsets=(-1, 2))
    X, Y = task.sample(4, 0)
    assert X.shape == Y.shape == (4, 9) and X.dtype == Y.dtype == torch.int64
    assert task.num_classes == 25
    assert int(X.min()) >= 0 and int(X.max()) < 5
    labelled = Y[Y != IGNORE_INDEX]
    assert int(labelled.min()) >= 0 and int(labelled.max()) < 25


def test_labels_follow_the_rule_by_hand():
    task = LookupTask(vocab_size=10, seq_len=6, offsets=(-1, 2))
    X = torch.tensor([[3, 1, 4, 1, 5, 9]])
    # y[i] = 10 * x[i-1] + x[i+2]; i = 0 has no i-1, i = 4, 5 have no i+2.
    expected = torch.tensor([[IGNORE_INDEX, 31, 15, 49, IGNORE_INDEX, IGNORE_INDEX]])
    assert_close(task.labels(X), expected)


def test_labels_with_three_offsets_and_decoding_by_loop():
    task = LookupTask(vocab_size=4, seq_len=10, offsets=(2, -3, 1))
    X, Y = task.sample(8, 1)
    for b in range(8):
        for i in range(10):
            sources = [i + o for o in task.offsets]
            if all(0 <= s < 10 for s in sources):
                a, c, d = (int(X[b, s]) for s in sources)
                assert int(Y[b, i]) == (a * 4 + c) * 4 + d
            else:
                assert int(Y[b, i]) == IGNORE_INDEX


def test_decode_inverts_labels():
    task = LookupTask(vocab_size=7, seq_len=10, offsets=(-2, 1, 3))
    X, Y = task.sample(5, 2)
    tokens = task.decode(Y)
    assert tokens.shape == (5, 10, 3)
    for j, o in enumerate(task.offsets):
        i = torch.arange(10)
        inside = Y[0] != IGNORE_INDEX
        assert_close(tokens[:, inside, j], X[:, i[inside] + o])
    assert (tokens[Y == IGNORE_INDEX] == IGNORE_INDEX).all()
    with pytest.raises(TypeError, match="integer"):
        task.decode(Y.float())


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"vocab_size": 1}, ValueError, "vocab_size=1 must be >= 2"),
        ({"offsets": (0, 1)}, ValueError, "distinct and non-zero"),
        ({"offsets": (1, 1)}, ValueError, "distinct and non-zero"),
        ({"offsets": ()}, ValueError, "at least one"),
        ({"offsets": (1.0,)}, TypeError, "offsets must be ints"),
        ({"seq_len": 3, "offsets": (-1, 2)}, ValueError, "expected seq_len > 3"),
        ({"seq_len": 2.0}, TypeError, "seq_len must be an int"),
    ],
)
def test_task_errors(kwargs, error, text):
    with pytest.raises(error, match=text):
        LookupTask(**kwargs)


def test_labels_and_sample_errors():
    task = LookupTask(vocab_size=4, seq_len=6)
    with pytest.raises(ValueError, match="outside 0..3"):
        task.labels(torch.full((1, 6), 4))
    with pytest.raises(ValueError, match=r"\[batch, 6\]"):
        task.labels(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        task.labels(torch.zeros(1, 6))
    with pytest.raises(TypeError, match="generator"):
        task.sample(2, "seed")
    with pytest.raises(ValueError, match="batch_size=0"):
        task.sample(0)


def test_data_are_the_same_on_the_device(device):
    task = LookupTask()
    X_cpu, Y_cpu = task.sample(8, 5)
    X_dev, Y_dev = task.sample(8, 5, device)
    assert X_dev.device.type == device.type
    assert_close(X_dev.cpu(), X_cpu)
    assert_close(Y_dev.cpu(), Y_cpu)


def test_tiny_model_shapes_seed_and_weights(device):
    task = LookupTask(vocab_size=6, seq_len=8)
    model = tiny_model(task, num_heads=2, num_hiddens=16, seed=1, device=device)
    again = tiny_model(task, num_heads=2, num_hiddens=16, seed=1)
    assert isinstance(model, TokenClassifier)
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert_close(p.cpu(), q)
    X, _ = task.sample(3, 0, device)
    logits = model(X, need_weights=True)
    assert logits.shape == (3, 8, 36)
    assert len(model.attentions) == 1 and model.attentions[0].shape == (3, 2, 8, 8)
    assert model(X).shape == (3, 8, 36) and model.attentions is None
    with pytest.raises(ValueError, match="not divisible"):
        tiny_model(task, num_heads=3, num_hiddens=16)
    with pytest.raises(TypeError, match="LookupTask"):
        tiny_model("task")


def test_head_mask_zero_removes_a_head(device):
    task = LookupTask(vocab_size=6, seq_len=8)
    model = tiny_model(task, num_heads=2, num_hiddens=16, device=device).eval()
    X, _ = task.sample(2, 0, device)
    assert_close(model(X, head_mask=torch.ones(1, 2, device=device)), model(X))
    assert not torch.allclose(
        model(X, head_mask=torch.tensor([[1.0, 0.0]], device=device)), model(X)
    )


def test_loss_and_accuracy_skip_unlabelled_positions():
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 2] = logits[0, 1, 1] = 10.0
    Y = torch.tensor([[2, 3, IGNORE_INDEX]])
    loss, accuracy = loss_and_accuracy(logits, Y)
    assert accuracy == 0.5
    expected = torch.nn.functional.cross_entropy(logits[0, :2], Y[0, :2])
    assert_close(loss, expected)
    with pytest.raises(ValueError, match="no labelled position"):
        loss_and_accuracy(logits, torch.full((1, 3), IGNORE_INDEX))
    with pytest.raises(ValueError, match="same batch and tokens"):
        loss_and_accuracy(logits, Y[:, :2])


def test_training_lowers_the_loss_and_history_is_a_table(device):
    task = LookupTask(vocab_size=4, seq_len=8)
    model = tiny_model(task, num_heads=2, num_hiddens=16, device=device)
    before = evaluate(model, task, num_samples=256)
    history = train(model, task, num_steps=60, lr=1e-2, batch_size=32, progress=False)
    after = evaluate(model, task, num_samples=256)
    table = pd.DataFrame(history)
    assert list(table.columns) == ["step", "loss", "accuracy"]
    assert table["step"].tolist() == list(range(1, 61))
    assert table["accuracy"].between(0, 1).all() and table["loss"].gt(0).all()
    assert after["loss"] < 0.8 * before["loss"]
    assert table["loss"].tail(10).mean() < table["loss"].head(10).mean()
    assert set(after) == {"loss", "accuracy", "accuracy@-1", "accuracy@+2"}
    assert not model.training  # left in eval mode


def test_evaluate_per_offset_accuracy_of_a_perfect_and_a_half_right_model():
    task = LookupTask(vocab_size=5, seq_len=7, offsets=(-1, 2))

    class Oracle(torch.nn.Module):
        """Knows the rule; ``wrong_second`` spoils the +2 lookup."""

        def __init__(self, wrong_second=False):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))
            self.wrong_second = wrong_second

        def forward(self, X):
            Y = task.labels(X).clamp(min=0)
            if self.wrong_second:
                Y = Y // 5 * 5 + (Y % 5 + 1) % 5
            return torch.nn.functional.one_hot(Y, task.num_classes).float()

    assert evaluate(Oracle(), task)["accuracy"] == 1.0
    half = evaluate(Oracle(wrong_second=True), task)
    assert half["accuracy"] == 0.0 and half["accuracy@-1"] == 1.0 and half["accuracy@+2"] == 0.0


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"num_steps": 0}, ValueError, "num_steps=0"),
        ({"lr": -1.0}, ValueError, "lr=-1.0"),
        ({"lr": float("nan")}, ValueError, "finite"),
        ({"lr": "fast"}, TypeError, "lr must be a float"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int"),
    ],
)
def test_train_errors_before_any_step(kwargs, error, text):
    task = LookupTask(vocab_size=4, seq_len=8)
    model = tiny_model(task, num_heads=1, num_hiddens=8)
    start = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(error, match=text):
        train(model, task, **kwargs)
    for p, q in zip(model.parameters(), start, strict=True):
        assert torch.equal(p, q)


def test_progress_bar_reports_the_run(capsys):
    task = LookupTask(vocab_size=4, seq_len=8)
    model = tiny_model(task, num_heads=1, num_hiddens=8)
    history = train(model, task, num_steps=3, batch_size=4, desc="tiny run")
    err = capsys.readouterr().err
    assert "tiny run" in err and "3/3" in err
    assert len(history["loss"]) == 3


def test_head_count_study_rows_and_errors():
    from d2lmha.training import head_count_study

    task = LookupTask(vocab_size=8, seq_len=6, offsets=(-1, 1))
    rows = head_count_study(task, [(1, 8), (2, 8)], [0, 3], num_steps=3, batch_size=4)
    assert [(r["heads"], r["width"], r["d_k"], r["steps"], r["seed"]) for r in rows] == [
        (1, 8, 8, 3, 0),
        (1, 8, 8, 3, 3),
        (2, 8, 4, 3, 0),
        (2, 8, 4, 3, 3),
    ]
    assert all(0.0 <= r["accuracy"] <= 1.0 and "accuracy@-1" in r for r in rows)
    for configs, seeds, text in (
        ([], [0], "non-empty"),
        ([(3, 8)], [0], "not divisible"),
        ([(1, 8)], [-1], "seed"),
    ):
        with pytest.raises(ValueError, match=text):
            head_count_study(task, configs, seeds, num_steps=1)


def test_stored_head_count_study_is_what_training_gives():
    # The chapter reads this file instead of training 30 models; re-run two of its rows.
    from d2lmha.training import STUDY_CONFIGS, STUDY_SEEDS, head_count_study, load_head_count_study

    study = load_head_count_study()
    assert len(study) == (len(STUDY_CONFIGS) + 1) * len(STUDY_SEEDS)
    assert (study["d_k"] == study["width"] // study["heads"]).all()
    task = LookupTask(vocab_size=32, seq_len=12, offsets=(-1, 2))
    for row in head_count_study(task, [(2, 24)], [1]) + head_count_study(task, [(4, 48)], [2]):
        stored = study.query(
            f"heads == {row['heads']} and width == {row['width']} and "
            f"steps == 400 and seed == {row['seed']}"
        ).iloc[0]
        assert abs(stored["accuracy"] - row["accuracy"]) < 0.02
        assert abs(stored["loss"] - row["loss"]) < 0.05
