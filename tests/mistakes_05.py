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

# Per question that names what it may not call (the "forbidden" list of its question config in
# the solution notebook, the one source of those names), a cell that redefines the learner's
# function by delegating to one of them (appended to the solution notebook): it must earn none of
# the points of that question's function tests, and its row must carry the grader's warning.
DELEGATING = {
    "q1": (
        "def gated_output(heads, head_mask, W_o):\n"
        "    gate = head_mask if head_mask.dim() == 2 else head_mask[None]\n"
        "    return W_o(d2lmha.merge_heads(heads * gate[:, :, None, None].to(heads.dtype)))\n"
    ),
    "q3": (
        "def importance_by_layer(gradients):\n"
        "    return importance.normalize_by_layer(gradients.abs().mean(dim=0))\n"
    ),
    "q5": (
        "def prune_keeping_one(scores, count):\n"
        "    layers, heads = scores.shape\n"
        "    if count < 0 or count > layers * (heads - 1):\n"
        "        raise ValueError('too many heads')\n"
        "    mask, left, removed = torch.ones_like(scores), [heads] * layers, 0\n"
        "    for index in importance.pruning_order(scores).tolist():\n"
        "        layer, head = divmod(index, heads)\n"
        "        if removed < count and left[layer] > 1:\n"
        "            mask[layer, head], left[layer], removed = 0, left[layer] - 1, removed + 1\n"
        "    return mask\n"
    ),
}
