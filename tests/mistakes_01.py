"""Planned mistakes of exercise set 01: see test_grading_sets.py.

(Set 01 is also graded in test_grading.py.)
"""

MISTAKES = {
    # multiplies by the temperature instead of dividing: right only at temperature 1
    "q1": ("def scaled_scores(", "/ math.sqrt(d) / temperature", "/ math.sqrt(d) * temperature"),
    # predicts √d = 8, the typical size of the score, instead of its variance d = 64
    "q2": ("variance_unscaled =", "variance_unscaled = 64.0", "variance_unscaled = 8.0"),
    # the layer without √d taken for the right one: its zeros are in the right places
    "q3": ("diagnosis =", '"Q": "A"', '"Q": "D"'),
    # the window off by one: w + 1 keys per query
    "q4": ("def sliding_window_attention(", "(j > i - window)", "(j >= i - window)"),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell
# to the blank notebook): each must score 0 on its question. sliding_window_attention returns
# its input, which once passed "nothing leaks" (unchanged inputs give unchanged outputs).
DEGENERATE = (
    "scaled_scores = lambda Q, K, *args, **kwargs: torch.zeros_like(Q)\n"
    "sliding_window_attention = lambda Q, K, V, *args, **kwargs: Q\n"
)

# Per question that names what it may not call (the "forbidden" list of its question config in
# the solution notebook, the one source of those names), a cell that redefines the learner's
# function by delegating to one of them (appended to the solution notebook): it must earn none of
# the points of that question's function tests, and its row must carry the grader's warning.
DELEGATING = {
    # PyTorch's attention gives the softmax weights, not the scores; their log differs from the
    # scores by a constant per row, which every test sees (the shape test checks a value too).
    "q1": (
        "def scaled_scores(Q, K, temperature=1.0):\n"
        "    n = K.shape[-2]\n"
        "    eye = torch.eye(n, dtype=Q.dtype, device=Q.device).expand(*K.shape[:-1], n)\n"
        "    scale = 1 / (temperature * math.sqrt(Q.shape[-1]))\n"
        "    F = torch.nn.functional\n"
        "    return F.scaled_dot_product_attention(Q, K, eye, scale=scale).log()\n"
    ),
    # the chapter's attention layer with the window as its mask: the forbidden name raises
    "q4": (
        "def sliding_window_attention(Q, K, V, window):\n"
        "    n = Q.shape[-2]\n"
        "    i = torch.arange(n, device=Q.device)[:, None]\n"
        "    j = torch.arange(n, device=Q.device)[None, :]\n"
        "    attention = d2lmha.DotProductAttention().eval()\n"
        "    out = attention(Q, K, V, mask=(j <= i) & (j > i - window))\n"
        "    return out, attention.attention_weights\n"
    ),
}
