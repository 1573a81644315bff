"""The decoder block (d2lmha.decoder): equal to torch.nn.TransformerDecoderLayer with copied
weights, causal by measurement, exact zeros on padded source positions, errors before work;
the encoder–decoder, greedy decoding and the date task (d2lmha.seq2seq, d2lmha.tasks)."""
import pytest
import torch
from torch.testing import assert_close

import d2lmha
from d2lmha.seq2seq import Seq2SeqTransformer, exact_match, greedy_decode
from d2lmha.tasks import DateTask
from d2lmha.training import train


def _block(device, activation="relu", num_heads=4, use_bias=True):
    return d2lmha.TransformerDecoderBlock(16, 40, num_heads, dropout=0.1, use_bias=use_bias,
                                          norm_eps=1e-6, activation=activation).to(device).eval()


@pytest.mark.parametrize("activation, num_heads", [("relu", 4), ("gelu", 2), ("relu", 1)])
def test_equals_torch_decoder_layer(device, activation, num_heads):
    block = _block(device, activation, num_heads)
    with torch.no_grad():     # non-trivial LayerNorm parameters, so a swapped norm shows
        for addnorm in (block.addnorm1, block.addnorm2, block.addnorm3):
            addnorm.ln.weight.uniform_(0.5, 1.5), addnorm.ln.bias.uniform_(-0.5, 0.5)
    reference = d2lmha.to_torch_decoder_layer(block)
    X, enc = torch.randn(3, 6, 16, device=device), torch.randn(3, 5, 16, device=device)
    enc_valid_lens = torch.tensor([5, 2, 3], device=device)
    ours = block(X, enc, enc_valid_lens)
    theirs = reference(X, enc, tgt_mask=~d2lmha.causal_mask(6, device=device),
                       memory_key_padding_mask=~d2lmha.valid_lens_mask(enc_valid_lens, 1, 5)[:, 0])
    assert ours.shape == (3, 6, 16)
    assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    # Without the causal mask PyTorch's layer gives something else: the mask matters.
    assert not torch.allclose(ours, reference(X, enc), atol=1e-3)


def test_to_torch_decoder_layer_copies_mode_and_sizes(device):
    block = _block(device).train()
    reference = d2lmha.to_torch_decoder_layer(block)
    assert reference.training and reference.linear1.out_features == 40
    assert reference.norm1.eps == 1e-6 and reference.self_attn.batch_first
    assert reference.dropout.p == 0.1


def test_to_torch_decoder_layer_errors():
    with pytest.raises(TypeError, match="TransformerDecoderBlock"):
        d2lmha.to_torch_decoder_layer(d2lmha.TransformerEncoderBlock(8, 16, 2))
    with pytest.raises(ValueError, match="use_bias=True"):
        d2lmha.to_torch_decoder_layer(d2lmha.TransformerDecoderBlock(8, 16, 2))


def test_causal_by_measurement(device):
    block = _block(device)
    X, enc = torch.randn(2, 7, 16, device=device), torch.randn(2, 4, 16, device=device)
    out = block(X, enc)
    for t in range(7):
        changed = X.clone()
        changed[:, t + 1:] = torch.randn_like(changed[:, t + 1:]) * 10
        new = block(changed, enc)
        assert_close(new[:, :t + 1], out[:, :t + 1], rtol=0, atol=1e-6)
        if t < 6:   # and the later positions do move: the check can fail
            assert (new[:, t + 1:] - out[:, t + 1:]).abs().max() > 1e-2
    weights = block.self_attention.attention_weights
    assert weights.shape == (2, 4, 7, 7)
    assert (weights.triu(1) == 0).all()


def test_cross_attention_zero_on_padded_source(device):
    block = _block(device)
    X, enc = torch.randn(3, 5, 16, device=device), torch.randn(3, 6, 16, device=device)
    enc_valid_lens = torch.tensor([6, 1, 4], device=device)
    out = block(X, enc, enc_valid_lens)
    weights = block.cross_attention.attention_weights
    assert weights.shape == (3, 4, 5, 6)
    for b, n in enumerate(enc_valid_lens.tolist()):
        assert (weights[b, :, :, n:] == 0).all()
        assert (weights[b, :, :, :n] > 0).all()
    assert_close(weights.sum(-1), torch.ones(3, 4, 5, device=device))
    # Padded source vectors do not reach the output.
    garbage = enc.clone()
    garbage[1, 1:] = 1e3
    assert_close(block(X, garbage, enc_valid_lens)[1], out[1], rtol=0, atol=1e-6)


def test_decoder_block_errors_before_work():
    block = d2lmha.TransformerDecoderBlock(8, 16, 2)
    X, enc = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    cases = [((X.long(), enc), TypeError, "X must have a floating"),
             ((torch.randn(2, 3, 6), enc), ValueError, r"X must be \[batch, target_len, 8\]"),
             ((X, torch.randn(2, 4, 6)), ValueError, "enc_outputs must be"),
             ((X, torch.randn(3, 4, 8)), ValueError, "same batch"),
             ((X, enc, torch.tensor([1.0, 2.0])), TypeError, "integer dtype"),
             ((X, enc, torch.tensor([5, 2])), ValueError, "<= the number of keys"),
             ((X, enc, torch.tensor([1, 2, 3])), ValueError, "valid_lens has shape")]
    for args, error, message in cases:
        block.self_attention.attention_weights = None
        with pytest.raises(error, match=message):
            block(*args)
        assert block.self_attention.attention_weights is None   # nothing ran
    with pytest.raises(ValueError, match="not divisible"):
        d2lmha.TransformerDecoderBlock(10, 16, 3)
    with pytest.raises(ValueError, match="activation"):
        d2lmha.TransformerDecoderBlock(8, 16, 2, activation="tanh")
    with pytest.raises(TypeError, match="ffn_num_hiddens"):
        d2lmha.TransformerDecoderBlock(8, 16.0, 2)


def test_date_task_round_trip_and_split():
    task = DateTask()
    (src, src_valid_lens, tgt_in), tgt_out = task.sample(400, 3)
    assert src.shape == (400, 7) and tgt_in.shape == (400, 11) and tgt_out.shape == (400, 11)
    assert set(src_valid_lens.tolist()) == {6, 7}
    assert (src[src_valid_lens == 6, 6] == task.PAD).all()
    assert (tgt_in[:, 0] == task.BOS).all() and (tgt_in[:, 1:] == tgt_out[:, :-1]).all()
    import datetime
    for source, target in zip(task.to_text(src), task.to_text(tgt_out)):
        day = datetime.datetime.strptime(source, "%d %B %Y").date()   # a real date
        assert target == day.isoformat()
    train_dates = set(task.to_text(task.sample(3000, 0)[1]))
    test_dates = set(task.to_text(task.sample(3000, 0, split="test")[1]))
    assert not train_dates & test_dates
    with pytest.raises(ValueError, match="split"):
        task.sample(4, 0, split="valid")
    with pytest.raises(ValueError, match="min_year"):
        DateTask(2000, 1999)


def test_seq2seq_learns_dates_and_greedy_decoding_is_consistent(device):
    task = DateTask()
    d2lmha.seed_everything(0)
    model = Seq2SeqTransformer(task.vocab_size, num_hiddens=32, num_heads=4).to(device)
    before = exact_match(model, task, num_samples=200)
    history = train(model, task, num_steps=100, lr=5e-3, batch_size=64, progress=False)
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    after = exact_match(model, task, num_samples=200)
    assert before < 0.05 and after > 0.5
    (src, src_valid_lens, _), _ = task.sample(16, 1, device, split="test")
    ids, cross = greedy_decode(model, src, src_valid_lens, 11)
    assert ids.shape == (16, 11) and len(cross) == 1 and cross[0].shape == (16, 4, 11, 7)
    # Teacher-forcing the model on its own greedy output gives back the same arg-max.
    tgt_in = torch.cat([torch.full((16, 1), task.BOS, device=device), ids[:, :-1]], 1)
    logits = model(src, src_valid_lens, tgt_in)
    keep = (ids != task.PAD)
    assert (logits.argmax(-1)[keep] == ids[keep]).all()
    for b, n in enumerate(src_valid_lens.tolist()):
        assert (cross[0][b, :, :, n:] == 0).all()


def test_seq2seq_errors():
    model = Seq2SeqTransformer(25, num_hiddens=8, num_heads=2)
    src, lens, tgt = torch.zeros(2, 7, dtype=torch.long), torch.tensor([7, 6]), torch.ones(2, 4,
                                                                                          dtype=torch.long)
    with pytest.raises(TypeError, match="tgt_in"):
        model(src, lens, tgt.float())
    with pytest.raises(ValueError, match="valid_lens"):
        model(src, torch.tensor([8, 6]), tgt)
    with pytest.raises(ValueError, match=r"src_valid_lens must be \[2\]"):
        model(src, torch.tensor([[7], [6]]), tgt)
    with pytest.raises(TypeError, match="Seq2SeqTransformer"):
        greedy_decode(torch.nn.Linear(2, 2), src, lens, 3)
