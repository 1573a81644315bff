"""Planned mistakes of exercise set 04: see test_grading_sets.py."""

MISTAKES = {
    # q1: the fix assumes square self-attention weights (q = k): right on the figure, wrong
    # for cross-attention
    "q1": (
        "def unfold_heads(",
        "weights.reshape(-1, num_heads, weights.shape[-2], weights.shape[-1])",
        "weights.reshape(-1, num_heads, weights.shape[-1], weights.shape[-1])",
    ),
    # q2: previous and next token swapped (which side of the diagonal is "before"?)
    "q2": ("panel_types =", 'panel_types = "NCBPS"', 'panel_types = "PCBNS"'),
    # q3: padded queries averaged in with the real ones
    "q3": (
        "def mean_attention_distance(",
        "return (per_query * real).sum((0, 2)) / real.sum()",
        "return per_query.mean((0, 2))",
    ),
    # q4: the share measured without the attention mask, so padded queries count (0.86, not 1.00)
    "q4": (
        "previous_token_share =",
        "previous = torch.stack([offset_score(w, -1, mask) for w in real_weights])",
        "previous = torch.stack([offset_score(w, -1) for w in real_weights])",
    ),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell to
# the blank notebook): each must score 0 on its question.
DEGENERATE = (
    "unfold_heads = lambda weights, *args, **kwargs: weights\n"
    "mean_attention_distance = lambda *args, **kwargs: torch.ones(1)\n"
)

# Per question that names what it may not call (the "forbidden" list of its question config in
# the solution notebook, the one source of those names), a cell that redefines the learner's
# function by delegating to one of them (appended to the solution notebook): it must earn none of
# the points of that question's function tests, and its row must carry the grader's warning.
DELEGATING = {
    # the package's d2l fold-back, then the heads split off the features
    "q1": (
        "def unfold_heads(weights, num_heads):\n"
        "    merged = d2lmha.transpose_output(weights, num_heads)\n"
        "    return merged.unflatten(-1, (num_heads, -1)).transpose(1, 2)\n"
    ),
    # the package's per-offset scores, weighted by the distance
    "q3": (
        "def mean_attention_distance(weights, attention_mask):\n"
        "    n = weights.shape[-1]\n"
        "    from d2lmha.head_types import offset_score\n"
        "    return sum(abs(o) * offset_score(weights, o, attention_mask)\n"
        "               for o in range(-n + 1, n) if o)\n"
    ),
}
