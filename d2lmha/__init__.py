"""d2lmha: the helper package of the course "from one attention head to many".

Names follow d2l (Dive into Deep Learning) where d2l has the idea; shapes are written
``[batch, heads, queries, keys]``.
"""

from .attention import AdditiveAttention, DotProductAttention
from .decoder import TransformerDecoder, TransformerDecoderBlock, to_torch_decoder_layer
from .device import fixed_threads, seed_everything, try_gpu
from .encoder import AddNorm, BERTEncoder, EncoderOutput, PositionWiseFFN, TransformerEncoderBlock
from .kv_cache import KVCache
from .masking import causal_mask, masked_softmax, valid_lens_mask
from .minilm import load_minilm, mean_pool, sentence_embeddings, tokenize
from .multihead import (
    MultiHeadAttention,
    check_heads,
    check_kv_heads,
    merge_heads,
    repeat_kv,
    split_heads,
    transpose_output,
    transpose_qkv,
)
from .multihead_variants import multihead_einsum, multihead_loop, to_torch_multihead
from .fonts import enable_cjk_fallback
from .plotting import show_heatmaps
from .positional import LearnedPositionalEncoding, PositionalEncoding, sinusoidal_encoding
from .rope import RotaryEmbedding, rope_angles, rotary_embedding
from .text import display_width, label, ljust, relabel, rjust

# Modules of chapters 04-07 are used by module name: d2lmha.training.train(...),
# d2lmha.head_types.offset_score(...), d2lmha.importance.head_importance(...),
# d2lmha.paraphrases.load_paraphrases(), d2lmha.seq2seq.greedy_decode(...),
# d2lmha.gqa.convert_to_gqa(...), d2lmha.decoding.beam_search(...), ...
from . import (
    decoding,
    gqa,
    head_types,
    importance,
    memory,
    paraphrases,
    pruning,
    seq2seq,  # noqa: E402
    tasks,
    training,
    viewer,
)

# Chinese figure labels (the 中文 edition runs the same code): a CJK font as matplotlib's fallback.
enable_cjk_fallback()

__version__ = "0.1.0"

__all__ = [
    "AdditiveAttention",
    "DotProductAttention",
    "MultiHeadAttention",
    "masked_softmax",
    "valid_lens_mask",
    "causal_mask",
    "enable_cjk_fallback",
    "transpose_qkv",
    "transpose_output",
    "split_heads",
    "merge_heads",
    "check_heads",
    "check_kv_heads",
    "repeat_kv",
    "KVCache",
    "PositionalEncoding",
    "LearnedPositionalEncoding",
    "sinusoidal_encoding",
    "show_heatmaps",
    "display_width",
    "ljust",
    "label",
    "relabel",
    "rjust",
    "PositionWiseFFN",
    "AddNorm",
    "TransformerEncoderBlock",
    "BERTEncoder",
    "TransformerDecoderBlock",
    "TransformerDecoder",
    "to_torch_decoder_layer",
    "EncoderOutput",
    "load_minilm",
    "tokenize",
    "mean_pool",
    "sentence_embeddings",
    "try_gpu",
    "seed_everything",
    "fixed_threads",
    "rotary_embedding",
    "rope_angles",
    "RotaryEmbedding",
    "importance",
    "pruning",
    "multihead_loop",
    "multihead_einsum",
    "to_torch_multihead",
    "head_types",
    "tasks",
    "training",
    "viewer",
    "paraphrases",
    "seq2seq",
    "memory",
    "gqa",
    "decoding",
]
