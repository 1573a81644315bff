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

# Per question that names what it may not call (the "forbidden" list of its question config in
# the solution notebook, the one source of those names), a cell that redefines the learner's
# function by delegating to one of them (appended to the solution notebook): it must earn none of
# the points of that question's function tests, and its row must carry the grader's warning.
DELEGATING = {
    "q3": "def merge_heads(context):\n    return d2lmha.merge_heads(context)\n",
    "q4": (
        "def multihead_attention_dv(queries, keys, values, W_q, W_k, W_v, W_o, num_heads,\n"
        "                           valid_lens=None):\n"
        "    d_k, d_v = W_q.shape[1] // num_heads, W_v.shape[1] // num_heads\n"
        "    Q = (queries @ W_q).unflatten(-1, (num_heads, d_k)).transpose(1, 2)\n"
        "    K = (keys @ W_k).unflatten(-1, (num_heads, d_k)).transpose(1, 2)\n"
        "    V = (values @ W_v).unflatten(-1, (num_heads, d_v)).transpose(1, 2)\n"
        "    lens = None if valid_lens is None else valid_lens.to(Q.device)\n"
        "    weights = d2lmha.masked_softmax(Q @ K.transpose(-1, -2) / math.sqrt(d_k), lens)\n"
        "    return (weights @ V).transpose(1, 2).flatten(2) @ W_o, weights\n"
    ),
}
