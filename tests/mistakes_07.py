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

# Per question that names what it may not call (the "forbidden" list of its question config in
# the solution notebook, the one source of those names), a cell that redefines the learner's
# function by delegating to one of them (appended to the solution notebook): it must earn none of
# the points of that question's function tests, and its row must carry the grader's warning.
DELEGATING = {
    # the package's cache and the layer's own cached forward (issue #22: this scored 5/5)
    "q2": (
        "def attend_with_cache(layer, X_new, past_K, past_V):\n"
        "    cache = d2lmha.KVCache()\n"
        "    if past_K.shape[2]:\n"
        "        cache.update(past_K, past_V)\n"
        "    out = layer(X_new, X_new, X_new, cache=cache)\n"
        "    return out, cache.keys, cache.values\n"
    ),
    # the package's pooling of a Linear's rows
    "q4": (
        "def mean_pool_heads(W, num_heads, num_kv_heads):\n"
        "    from d2lmha.gqa import _pooled\n"
        "    rows = W.reshape(W.shape[0], -1)\n"
        "    linear = torch.nn.Linear(rows.shape[1], rows.shape[0], bias=False, dtype=W.dtype,\n"
        "                             device=W.device)\n"
        "    linear.weight.data = rows\n"
        "    pooled = _pooled(linear, num_kv_heads, num_heads // num_kv_heads,\n"
        "                     W.shape[0] // num_heads)\n"
        "    return pooled.weight.detach().reshape(-1, *W.shape[1:])\n"
    ),
}
