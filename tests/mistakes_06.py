"""Planned mistakes of exercise set 06: see test_grading_sets.py."""

MISTAKES = {
    # the padding mask taken to hide padded queries too: 2 * (4 * 4 + 6 * 6) = 104, not 120
    "q1": ("nonzero_weights =", '"encoder_self": 120', '"encoder_self": 104'),
    # "after position 4" read as strictly after: the prediction at 4 reads its own input too
    "q2": ("after_target_change =", "after_target_change = [4, ", "after_target_change = ["),
    # the float mask and the inverted boolean causal mask confused with each other
    "q3": (
        "diagnosis =",
        '{"P": "B", "Q": "C", "R": "A", "S": "D"}',
        '{"P": "A", "Q": "C", "R": "B", "S": "D"}',
    ),
    # the residual taken from the normalised copy (X = H + ...): still causal, still blind to
    # the padding, but no longer the pre-LN block
    "q4": (
        "def pre_ln_decoder(",
        "X = X + block.self_attention(H, H, H, mask=causal)",
        "X = H + block.self_attention(H, H, H, mask=causal)",
    ),
    # the two-digit day's date given the one-digit day's positions: the year not followed
    "q5": (
        "alignment =",
        '"17 March 1984": [3, 4, 5, 6, 2, 2]',
        '"17 March 1984": [2, 3, 4, 5, 1, 1]',
    ),
}
