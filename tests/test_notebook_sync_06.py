"""Chapter 06 builds the encoder block (post-LN and pre-LN) and the training loop in the open;
these tests hold them to the package (d2lmha.TransformerEncoderBlock, d2lmha.training.train)
and to PyTorch's pre-LN layer, on inputs the chapter does not use."""

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from d2lmha.seq2seq import Seq2SeqTransformer
from d2lmha.tasks import DateTask
from d2lmha.training import train
from notebook_defs import load_defs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_transformer.ipynb"


@pytest.fixture(scope="module")
def nb():
    return load_defs(NOTEBOOK)


def test_the_chapter_defines_what_it_builds(nb):
    assert {"EncoderBlock", "load_package_weights", "train_in_the_open"} <= set(nb)


@pytest.mark.parametrize("num_hiddens, ffn_num_hiddens, num_heads", [(8, 16, 1), (24, 40, 3)])
def test_post_ln_block_matches_the_package(nb, device, num_hiddens, ffn_num_hiddens, num_heads):
    package_block = (
        d2lmha.TransformerEncoderBlock(num_hiddens, ffn_num_hiddens, num_heads, use_bias=True)
        .to(device)
        .eval()
    )
    with torch.no_grad():
        for ln in (package_block.addnorm1.ln, package_block.addnorm2.ln):
            ln.weight.uniform_(0.5, 1.5), ln.bias.uniform_(-0.5, 0.5)
    block = nb["EncoderBlock"](num_hiddens, ffn_num_hiddens, num_heads).to(device).eval()
    nb["load_package_weights"](block, package_block)
    X = torch.randn(3, 5, num_hiddens).to(device)
    valid_lens = torch.tensor([5, 2, 4], device=device)
    with torch.no_grad():
        assert_close(block(X, valid_lens), package_block(X, valid_lens), rtol=1e-5, atol=1e-5)
        assert_close(block(X), package_block(X), rtol=1e-5, atol=1e-5)


def test_pre_ln_block_matches_torch_norm_first(nb, device):
    block = nb["EncoderBlock"](16, 32, 4, norm_first=True).to(device).eval()
    with torch.no_grad():
        for ln in (block.norm1, block.norm2):
            ln.weight.uniform_(0.5, 1.5), ln.bias.uniform_(-0.5, 0.5)
    reference = (
        torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=True)
        .to(device)
        .eval()
    )
    reference.self_attn = d2lmha.to_torch_multihead(block.attention)
    reference.linear1.load_state_dict(block.ffn[0].state_dict())
    reference.linear2.load_state_dict(block.ffn[2].state_dict())
    reference.norm1.load_state_dict(block.norm1.state_dict())
    reference.norm2.load_state_dict(block.norm2.state_dict())
    X = torch.randn(2, 6, 16).to(device)
    valid_lens = torch.tensor([6, 3], device=device)
    padding = ~d2lmha.valid_lens_mask(valid_lens, 1, 6)[:, 0]
    with torch.no_grad():
        ours, theirs = block(X, valid_lens), reference(X, src_key_padding_mask=padding)
    keep = ~padding  # PyTorch's fast path may write anything at padded positions
    assert_close(ours[keep], theirs[keep], rtol=1e-5, atol=1e-5)
    post = nb["EncoderBlock"](16, 32, 4, norm_first=False).to(device).eval()
    post.load_state_dict(block.state_dict())
    with torch.no_grad():  # and the two layouts really differ
        assert (post(X, valid_lens) - ours).abs().max() > 1e-2


def test_training_loop_matches_the_package(nb, device):
    task = DateTask()
    runs = []
    for loop in ("open", "package"):
        d2lmha.seed_everything(3)
        model = Seq2SeqTransformer(task.vocab_size, num_hiddens=16, num_heads=2).to(device)
        if loop == "open":
            losses = nb["train_in_the_open"](model, task, 12, 1e-2, 16, seed=5)
        else:
            losses = train(
                model, task, num_steps=12, lr=1e-2, batch_size=16, seed=5, progress=False
            )["loss"]
        runs.append((losses, model.state_dict(), model.training))
    (open_losses, open_state, open_mode), (package_losses, package_state, package_mode) = runs
    assert len(open_losses) == 12 and open_losses[-1] < open_losses[0]
    assert_close(torch.tensor(open_losses), torch.tensor(package_losses), rtol=1e-5, atol=1e-6)
    for name in open_state:
        assert_close(open_state[name], package_state[name], rtol=1e-5, atol=1e-6)
    assert open_mode is package_mode is False
