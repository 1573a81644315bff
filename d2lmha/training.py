"""A tiny encoder with a per-token output layer, and a small training loop for it.

The model is the course's own :class:`~d2lmha.BERTEncoder` (the class that also loads the
real all-MiniLM-L6-v2) at small sizes, plus one ``nn.Linear`` that turns every position's
vector into class scores. The loop draws fresh batches from a synthetic task
(:mod:`d2lmha.tasks`) every step, so there is no fixed training set to over-fit.

Typical use (chapters 04 and 05)::

    from d2lmha.tasks import LookupTask
    from d2lmha.training import evaluate, tiny_model, train

    task = LookupTask(vocab_size=8, seq_len=12, offsets=(-1, 2))
    model = tiny_model(task, num_heads=2, device=d2lmha.try_gpu())
    history = train(model, task, num_steps=400)   # dict of lists; a tqdm bar while it runs
    pandas.DataFrame(history)                     # columns step, loss, accuracy
    evaluate(model, task)     # {"loss", "accuracy", "accuracy@-1", "accuracy@+2"}

Source: d2l.ai section 15.8 (BERT encoder) and section 3.4/3.6 (the training loop:
minibatch loss, optimizer step, recorded metrics).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import check_positive_int
from .device import fixed_threads, seed_everything
from .encoder import BERTEncoder
from .tasks import IGNORE_INDEX, LookupTask

__all__ = [
    "small_encoder",
    "TokenClassifier",
    "tiny_model",
    "loss_and_accuracy",
    "train",
    "evaluate",
    "head_count_study",
    "load_head_count_study",
]


def small_encoder(
    vocab_size: int,
    num_hiddens: int,
    ffn_num_hiddens: int | None,
    num_heads: int,
    num_blks: int,
    dropout: float = 0.0,
    max_len: int = 64,
) -> BERTEncoder:
    """The course's small from-scratch encoder, shared by chapters 04 and 06.

    A :class:`~d2lmha.BERTEncoder` without segment embeddings, with biases, post-LN
    (``norm_eps=1e-5``) and a ReLU FFN of width ``ffn_num_hiddens`` (default
    ``2 * num_hiddens``). Errors: as :class:`~d2lmha.BERTEncoder`.
    """
    return BERTEncoder(
        vocab_size,
        num_hiddens,
        ffn_num_hiddens or 2 * num_hiddens,
        num_heads,
        num_blks,
        dropout=dropout,
        max_len=max_len,
        type_vocab_size=0,
        use_bias=True,
        norm_eps=1e-5,
        activation="relu",
    )


class TokenClassifier(nn.Module):
    """A :class:`~d2lmha.BERTEncoder` followed by a linear layer applied at every position.

    Args:
        vocab_size: number of input token ids.
        num_classes: number of output classes per position.
        num_hiddens: d_model. num_heads: h (must divide ``num_hiddens``).
        num_blks: encoder blocks (layers). ffn_num_hiddens: FFN inner width
            (default ``2 * num_hiddens``).
        max_len: number of learned positions. dropout: dropout inside the encoder.

    Forward ``(input_ids, head_mask=None, need_weights=False)``:
        input_ids: int64 ``[batch, tokens]``. head_mask: optional gate ξ
        ``[num_blks, num_heads]`` (float, may require grad; 0 removes a head).
        need_weights: keep the attention weights (explicit path) in
        ``self.attentions``, a tuple of ``num_blks`` tensors ``[batch, heads, tokens,
        tokens]``; False runs the fused attention and sets it to ``None``.
        Returns logits ``[batch, tokens, num_classes]`` (float32).

    Raises:
        TypeError / ValueError: bad sizes (see :class:`~d2lmha.BERTEncoder`), e.g.
        ``num_hiddens`` not divisible by ``num_heads``; bad inputs at forward time.

    Source: d2l.ai section 15.8 (``BERTEncoder``); the output layer is the per-token
    classifier of Devlin et al. (2019) section 4.3.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        num_hiddens: int = 32,
        num_heads: int = 2,
        num_blks: int = 1,
        ffn_num_hiddens: int | None = None,
        max_len: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("num_hiddens", num_hiddens)
        self.encoder = small_encoder(
            vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout, max_len
        )
        self.output = nn.Linear(num_hiddens, num_classes)
        self.num_heads, self.num_blks = num_heads, num_blks
        self.attentions = None

    def forward(self, input_ids, head_mask=None, need_weights=False):
        out = self.encoder(input_ids, head_mask=head_mask, need_weights=need_weights)
        self.attentions = out.attentions
        return self.output(out.last_hidden_state)


def tiny_model(
    task: LookupTask,
    num_heads: int = 2,
    num_hiddens: int = 32,
    num_blks: int = 1,
    seed: int = 0,
    device=None,
    **kwargs,
) -> TokenClassifier:
    """A seeded :class:`TokenClassifier` sized for ``task``.

    Args:
        task: gives ``vocab_size``, ``num_classes`` and the sequence length.
        num_heads, num_hiddens, num_blks: model sizes (``num_hiddens`` fixed while
            ``num_heads`` varies = "equal width").
        seed: seeds every generator before the weights are drawn, so the same seed gives
            the same initial weights (drawn on the CPU, then moved to ``device``).
        device: where to put the model (default CPU).
        **kwargs: passed to :class:`TokenClassifier` (``ffn_num_hiddens``, ``dropout``).

    Returns:
        The model in training mode.

    Raises:
        TypeError: ``task`` is not a :class:`~d2lmha.tasks.LookupTask`; bad sizes as in
        :class:`TokenClassifier`.
    """
    if not isinstance(task, LookupTask):
        raise TypeError(f"task must be a d2lmha.tasks.LookupTask, got {type(task).__name__}")
    check_positive_int("seed", seed, minimum=0)
    seed_everything(seed)
    model = TokenClassifier(
        task.vocab_size,
        task.num_classes,
        num_hiddens,
        num_heads,
        num_blks,
        max_len=task.seq_len,
        **kwargs,
    )
    return model.to(device if device is not None else "cpu")


def loss_and_accuracy(logits: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Cross-entropy and accuracy over the labelled positions.

    Args:
        logits: float ``[batch, tokens, num_classes]``.
        Y: int64 ``[batch, tokens]``; positions equal to :data:`~d2lmha.tasks.IGNORE_INDEX`
            are left out of both numbers.

    Returns:
        ``(loss, accuracy)``: the mean cross-entropy in nats (a 0-d tensor carrying the
        gradient) and the fraction of labelled positions whose arg-max class is right
        (a float in [0, 1]).

    Raises:
        ValueError: shapes disagree, or no position is labelled (the mean would be
            undefined).
    """
    if logits.dim() != 3 or tuple(logits.shape[:2]) != tuple(Y.shape):
        raise ValueError(
            f"logits must be [batch, tokens, classes] and Y [batch, tokens] "
            f"with the same batch and tokens, got {list(logits.shape)} and "
            f"{list(Y.shape)}"
        )
    labelled = Y != IGNORE_INDEX
    if not labelled.any():
        raise ValueError("Y has no labelled position (all are IGNORE_INDEX)")
    loss = F.cross_entropy(logits.flatten(0, 1), Y.flatten(), ignore_index=IGNORE_INDEX)
    correct = (logits.argmax(-1) == Y) & labelled
    return loss, correct.sum().item() / labelled.sum().item()


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _progress_bar(num_steps: int, desc: str, disable: bool):
    """A ``tqdm.auto`` bar over ``1..num_steps`` and a function to call when it is done.

    In a notebook the bar is a widget; it is displayed with a display id and re-displayed
    at the end, so a saved (e.g. ``nbconvert --execute``) notebook shows the finished bar
    and its final loss rather than the 0 % it had when first shown. Elsewhere it is
    tqdm's text bar on stderr.
    """
    from tqdm.auto import tqdm

    steps = range(1, num_steps + 1)
    try:
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:  # no ipywidgets: tqdm.auto is the text bar
        notebook_tqdm = None
    if disable or notebook_tqdm is None or not issubclass(tqdm, notebook_tqdm):
        return tqdm(steps, desc=desc, disable=disable, leave=True), lambda: None
    from IPython.display import display

    bar = tqdm(steps, desc=desc, leave=True, display=False)
    handle = display(bar.container, display_id=True)
    return bar, lambda: handle.update(bar.container)


@fixed_threads(1)
def train(
    model: nn.Module,
    task: LookupTask,
    num_steps: int = 400,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
) -> dict[str, list]:
    """Train ``model`` on fresh batches of ``task`` with Adam; record loss and accuracy.

    Each step draws a new batch from a generator seeded with ``seed`` (CPU, so the data
    are the same on every device), computes :func:`loss_and_accuracy`, and takes one
    Adam step. A ``tqdm.auto`` progress bar shows the running loss. It runs on one CPU
    thread (:func:`~d2lmha.fixed_threads`, restored on return), so the same seeds give
    the same history on one machine whatever torch's thread count.

    Args:
        model: maps the task's inputs to ``[batch, tokens, num_classes]`` logits, e.g.
            from :func:`tiny_model`, or a :class:`~d2lmha.seq2seq.Seq2SeqTransformer`.
            Trained in place on its own device.
        task: anything with ``sample(batch_size, generator, device)`` returning
            ``(inputs, Y)``: a :class:`~d2lmha.tasks.LookupTask` (inputs ``[batch,
            tokens]``) or a :class:`~d2lmha.tasks.DateTask` (inputs a tuple ``(src,
            src_valid_lens, tgt_in)``, passed to ``model`` as positional arguments; the
            decoder reads the true previous tokens, i.e. teacher forcing).
        num_steps: optimizer steps. lr: Adam learning rate (> 0, finite).
        batch_size: sequences per step. seed: seed of the data generator.
        progress: show a ``tqdm.auto`` progress bar (a widget in Jupyter, kept in its
            final state when the notebook is saved; text on stderr elsewhere).
        desc: its label.

    Returns:
        History, a dict of equal-length lists (``pandas.DataFrame(history)`` makes a
        table): ``"step"`` (1..num_steps), ``"loss"`` (training cross-entropy of that
        step's batch, nats) and ``"accuracy"`` (fraction of labelled positions right in
        that batch, before the step's update).

    Raises:
        TypeError: ``num_steps``/``batch_size``/``seed`` not ints, ``lr`` not a number.
        ValueError: ``num_steps`` or ``batch_size`` < 1, ``lr`` not a finite positive
            number.

    Source: d2l.ai section 3.4 (the minibatch training loop), Kingma & Ba (2015) (Adam).
    """
    check_positive_int("num_steps", num_steps)
    check_positive_int("batch_size", batch_size)
    check_positive_int("seed", seed, minimum=0)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"lr must be a float, got {type(lr).__name__}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr} must be a finite number > 0")
    device = _device_of(model)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"step": [], "loss": [], "accuracy": []}
    model.train()
    bar, finish = _progress_bar(num_steps, desc, not progress)
    for step in bar:
        inputs, Y = task.sample(batch_size, generator, device)
        logits = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
        loss, accuracy = loss_and_accuracy(logits, Y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["step"].append(step)
        history["loss"].append(loss.item())
        history["accuracy"].append(accuracy)
        if step % 20 == 0 or step == num_steps:
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{accuracy:.2f}")
    bar.close()
    finish()
    model.eval()
    return history


@torch.no_grad()
@fixed_threads(1)
def evaluate(
    model: nn.Module, task: LookupTask, num_samples: int = 1024, seed: int = 12345, head_mask=None
) -> dict[str, float]:
    """Loss and accuracy of ``model`` on ``num_samples`` held-out sequences.

    Args:
        model: as in :func:`train`. task: a :class:`~d2lmha.tasks.LookupTask` (its
            ``sample`` draws the data, its ``decode`` splits classes per offset).
        num_samples: sequences drawn with ``seed`` (a seed the training data do not use
            by default: the training loop seeds its generator with 0).
        head_mask: optional gate ξ ``[num_blks, num_heads]`` passed to the model
            (0 removes a head), for ablations.

    Returns:
        ``{"loss": mean cross-entropy in nats, "accuracy": fraction in [0, 1], ...}``
        plus, for each offset ``o`` of the task, ``f"accuracy@{o:+d}"`` (e.g.
        ``"accuracy@-1"``): the fraction of labelled positions whose predicted class
        has the right token for that lookup (:meth:`~d2lmha.tasks.LookupTask.decode`),
        so a model that gets one lookup right and the other wrong shows it. Computed on
        one CPU thread (:func:`~d2lmha.fixed_threads`), as :func:`train`.

    Raises:
        TypeError / ValueError: ``num_samples`` or ``seed`` not a non-negative int.
    """
    check_positive_int("num_samples", num_samples)
    check_positive_int("seed", seed, minimum=0)
    was_training = model.training
    model.eval()
    X, Y = task.sample(num_samples, seed, _device_of(model))
    logits = model(X) if head_mask is None else model(X, head_mask=head_mask)
    loss, accuracy = loss_and_accuracy(logits, Y)
    model.train(was_training)
    result = {"loss": loss.item(), "accuracy": accuracy}
    labelled = Y != IGNORE_INDEX
    right = task.decode(logits.argmax(-1)) == task.decode(Y)  # [batch, tokens, offsets]
    for j, offset in enumerate(task.offsets):
        result[f"accuracy@{offset:+d}"] = right[..., j][labelled].float().mean().item()
    return result


def head_count_study(
    task: LookupTask,
    configs,
    seeds,
    num_steps: int = 400,
    lr: float = 3e-3,
    batch_size: int = 64,
    device=None,
) -> list[dict]:
    """Train one :func:`tiny_model` per (heads, width, seed) and evaluate each.

    Chapter 04 uses this to report how much the accuracy of a one-layer encoder after
    ``num_steps`` steps depends on the seed, for several head counts at equal width and
    for a wider model (a width sweep). Every run is seeded (:func:`tiny_model` with
    ``seed``, :func:`train` with the same ``seed``) and trained and evaluated on one CPU
    thread, so one row can be re-run alone and gives the same numbers on the same
    machine, whatever torch's thread count.

    Args:
        task: a :class:`~d2lmha.tasks.LookupTask`.
        configs: iterable of ``(num_heads, num_hiddens)`` pairs (``num_heads`` must
            divide ``num_hiddens``).
        seeds: iterable of non-negative int seeds.
        num_steps, lr, batch_size: as in :func:`train`. device: where to train.

    Returns:
        A list of dicts, one per run, in the order configs x seeds: ``heads``,
        ``width``, ``d_k`` (= width / heads), ``steps``, ``seed`` and the keys of
        :func:`evaluate`
        (``loss`` in nats, ``accuracy`` and ``accuracy@<offset>`` in [0, 1]).

    Raises:
        ValueError: ``configs`` or ``seeds`` is empty, a seed is negative, or a head
            count does not divide its width (all checked before any training).
        TypeError: ``task`` is not a LookupTask (as :func:`tiny_model`).

    Source: the seed-spread rule of this course; d2l.ai section 11.5 exercise 1 (vary the
    number of heads).
    """
    configs, seeds = [tuple(c) for c in configs], list(seeds)
    if not configs or not seeds:
        raise ValueError(f"configs and seeds must be non-empty, got {configs!r} and {seeds!r}")
    for seed in seeds:
        check_positive_int("seed", seed, minimum=0)
    for heads, width in configs:
        check_positive_int("num_heads", heads)
        check_positive_int("num_hiddens", width)
        if width % heads:
            raise ValueError(f"num_hiddens={width} is not divisible by num_heads={heads}")
    rows = []
    for heads, width in configs:
        for seed in seeds:
            model = tiny_model(task, num_heads=heads, num_hiddens=width, seed=seed, device=device)
            train(
                model,
                task,
                num_steps=num_steps,
                lr=lr,
                batch_size=batch_size,
                seed=seed,
                progress=False,
            )
            rows.append(
                {
                    "heads": heads,
                    "width": width,
                    "d_k": width // heads,
                    "steps": num_steps,
                    "seed": seed,
                    **evaluate(model, task),
                }
            )
    return rows


def load_head_count_study():
    """Chapter 04's stored seed study, as a ``pandas.DataFrame`` (one row per run).

    Made by ``python -m d2lmha.training`` (:func:`head_count_study` on
    ``LookupTask(32, 12, (-1, 2))`` for every (heads, width) of :data:`STUDY_CONFIGS` at 400
    steps and for :data:`STUDY_LONGER`, seeds :data:`STUDY_SEEDS`, one CPU thread) and
    shipped in ``d2lmha/data/head_count_study.csv``. Columns: ``heads``, ``width``, ``d_k``,
    ``steps``, ``seed``, ``loss`` (nats), ``accuracy``, ``accuracy@-1``, ``accuracy@+2``.
    ``tests/test_tasks_training.py`` re-trains stored rows and checks they agree.

    Raises:
        FileNotFoundError: the CSV is missing from the installed package.
    """
    from importlib import resources

    import pandas as pd

    with resources.files("d2lmha").joinpath("data", "head_count_study.csv").open() as file:
        return pd.read_csv(file)


STUDY_CONFIGS = ((1, 24), (2, 24), (4, 24), (2, 12), (4, 48))
"""(heads, width) pairs of chapter 04's stored seed study: 1, 2, 4 heads at width 24, and a
width sweep that moves d_k alone (2 heads at width 12: d_k = 6; 4 heads at width 48: d_k = 12)."""
STUDY_SEEDS = range(5)
STUDY_LONGER = ((1, 24), 800)
"""One head at width 24 trained twice as long (800 steps): is one head slower or unable?"""


def _write_study(path) -> None:
    """Run chapter 04's seed study (vocabulary 32) and write it as CSV to ``path``.

    About 30 trainings of a few seconds each on one CPU thread: too slow for the chapter
    (which must run in under a minute), so the chapter reads the CSV, re-trains seed 0
    itself and compares, and ``tests/test_tasks_training.py`` re-runs stored rows.
    """
    import csv

    task = LookupTask(vocab_size=32, seq_len=12, offsets=(-1, 2))
    rows = head_count_study(task, STUDY_CONFIGS, STUDY_SEEDS)
    config, steps = STUDY_LONGER
    rows += head_count_study(task, [config], STUDY_SEEDS, num_steps=steps)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":  # python -m d2lmha.training: re-make chapter 04's stored study
    from pathlib import Path

    _write_study(Path(__file__).parent / "data" / "head_count_study.csv")
