"""Planned mistakes of exercise set 04: see test_grading_sets.py."""
MISTAKES = {
    # d2l's (batch·heads, q, k) unfolded as if heads came first: right shape, wrong rows
    "q1": ("def unfold_heads(",
           "return weights.reshape(-1, num_heads, weights.shape[-2], weights.shape[-1])",
           "return weights.reshape(num_heads, -1, *weights.shape[-2:]).transpose(0, 1)"),
}
