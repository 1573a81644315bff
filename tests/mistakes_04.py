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

# What each implement question may not call: the package's or PyTorch's ready-made equivalent.
# The grader's trusted side reads each answer cell as text and warns when it names one of these.
FORBIDDEN = {
    "q1": ["transpose_output", "split_heads"],
    "q3": ["offset_score", "sink_score", "head_type_scores"],
}
