"""Planned mistakes of exercise set 05: see test_grading_sets.py."""

MISTAKES = {
    # a gate indexed for the [heads] case only: a [batch, heads] gate no longer broadcasts
    "q1": ("def gated_output(", "gate[:, :, None, None]", "head_mask[:, None, None]"),
    # W_o's weight written [in_features, out_features], as the Linear's arguments read
    "q2": ("pruned_prediction =", '"W_o": (64, 40)', '"W_o": (40, 64)'),
    # the bug taken for one norm of the whole matrix; the fix itself is right
    "q3": ("diagnosis =", 'diagnosis = "B"', 'diagnosis = "C"'),
    # the most negative loss change taken as the least important head: no absolute value
    "q4": ("least_by_ablation =", "int(change.abs().argmin())", "int(change.argmin())"),
    # off by one: a layer may lose its last head
    "q5": ("def prune_keeping_one(", "if left[layer] > 1:", "if left[layer] > 0:"),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell to
# the blank notebook): each must score 0 on its question. prune_keeping_one always raises, which
# once passed "too many heads raise ValueError".
DEGENERATE = (
    "gated_output = lambda heads, *args, **kwargs: torch.zeros_like(heads)\n"
    "importance_by_layer = lambda gradients, *args, **kwargs: gradients\n"
    "def prune_keeping_one(*args, **kwargs):\n"
    "    raise ValueError('no')\n"
)

# What each implement question may not call: the package's or PyTorch's ready-made equivalent.
# The grader's trusted side reads each answer cell as text and warns when it names one of these.
FORBIDDEN = {
    "q1": ["MultiHeadAttention"],
    "q3": ["normalize_by_layer", "head_importance"],
    "q5": ["pruning_order", "pruning_masks", "pruning_curve"],
}
