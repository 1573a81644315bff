"""Planned mistakes of exercise set 02: see test_grading_sets.py."""

MISTAKES = {
    # (c) counted as a square layer: the key and value widths ignored
    "q1": ("predicted_parameters =", "(96 + 32 + 64 + 96) * 96 + 4 * 96)", "4 * 96 * 96 + 4 * 96)"),
    # heads taken as the outer axis of the fold: row i·batch + b instead of b·heads + i
    "q2": ("head_row =", "head_row = 6", "head_row = 7"),
    # "another head's values" chosen: it also leaves the weights and the 1-head output right
    "q3": ("diagnosis =", 'diagnosis = "C"', 'diagnosis = "E"'),
    # √d_v where the scores need √d_k (the two are equal in the chapter)
    "q4": ("def multihead_attention_dv(", "/ math.sqrt(d_k)", "/ math.sqrt(d_v)"),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell to
# the blank notebook): each must score 0 on its question.
DEGENERATE = (
    "merge_heads = lambda context, *args, **kwargs: context\n"
    "def multihead_attention_dv(*args, **kwargs):\n"
    "    raise ValueError('no')\n"
)

# What each implement question may not call: the package's or PyTorch's ready-made equivalent.
# The grader's trusted side reads each answer cell as text and warns when it names one of these.
FORBIDDEN = {
    "q3": ["d2lmha.merge_heads", "multihead.merge_heads", "transpose_output"],
    "q4": [
        "MultiHeadAttention",
        "DotProductAttention",
        "masked_softmax",
        "scaled_dot_product_attention",
        "multi_head_attention_forward",
    ],
}
