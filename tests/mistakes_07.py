"""Planned mistakes of exercise set 07: see test_grading_sets.py."""

MISTAKES = {
    # num_kv_heads = 2 read as the group size (2 query heads per K/V head, so 4 K/V heads):
    # GQA 819200 bytes instead of 409600; MHA and MQA still right
    "q1": ("cache_bytes =", '"GQA": 409600', '"GQA": 819200'),
    # the causal mask without the cache's offset: tril() instead of tril(past), so new token j
    # sees keys 0..j instead of 0..past+j; right only when nothing is cached yet
    "q2": (
        "def attend_with_cache(",
        "device=X_new.device).tril(past)",
        "device=X_new.device).tril()",
    ),
    # the fresh cache (P) taken for the forgotten positional offset (Q) and vice versa; R and
    # the count still right, the fix too
    "q3": (
        "diagnosis =",
        '{"P": "B", "Q": "A", "R": "C"}',
        '{"P": "A", "Q": "B", "R": "C"}',
    ),
    # heads grouped with a stride (head j, j + kv, j + 2·kv, … averaged) instead of
    # neighbours: right for MQA and for num_kv_heads = num_heads, wrong for real groups
    "q4": (
        "def mean_pool_heads(",
        "grouped = W.reshape(num_kv_heads, g, W.shape[0] // num_heads, *W.shape[1:])\n"
        "    return grouped.mean(dim=1)",
        "grouped = W.reshape(g, num_kv_heads, W.shape[0] // num_heads, *W.shape[1:])\n"
        "    return grouped.mean(dim=0)",
    ),
    # the K/V head read as i // num_kv_heads instead of i // g (g = num_heads // num_kv_heads)
    "q5": ("kv_head_read =", "kv_head_read = 2", "kv_head_read = 1"),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell to
# the blank notebook): each must score 0 on its question. mean_pool_heads returns W, which once
# passed "num_kv_heads = num_heads keeps every head".
DEGENERATE = (
    "attend_with_cache = lambda *args, **kwargs: torch.ones(1)\n"
    "def incremental_logits(*args, **kwargs):\n"
    "    raise ValueError('no')\n"
    "mean_pool_heads = lambda W, *args, **kwargs: W\n"
)

# What each implement question may not call: the package's or PyTorch's ready-made equivalent.
# The grader's trusted side reads each answer cell as text and warns when it names one of these.
FORBIDDEN = {
    "q2": ["KVCache", "cache=", "causal_mask", "scaled_dot_product_attention"],
    "q4": ["mean_pool_kv_heads", "convert_to_gqa", "_pooled"],
}
