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
    # enc_valid_lens not passed on to the cross-attention: right without padding, but the
    # padded source positions are read
    "q4": (
        "def pre_ln_decoder(",
        "block.cross_attention(H, enc_outputs, enc_outputs, enc_valid_lens)",
        "block.cross_attention(H, enc_outputs, enc_outputs)",
    ),
    # the two-digit day's date given the one-digit day's positions: the year not followed
    "q5": (
        "alignment =",
        '"17 March 1984": [3, 4, 5, 6, 2, 2]',
        '"17 March 1984": [2, 3, 4, 5, 1, 1]',
    ),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell to
# the blank notebook): each must score 0 on its question. pre_ln_decoder returns zeros, which once
# passed "causal" and "ignores padding" (no output changes at all); torch_decoder returns X, which
# passed those two checks of the pre-LN torch layer.
DEGENERATE = (
    "torch_decoder = lambda layer, X, *args, **kwargs: X\n"
    "pre_ln_decoder = lambda block, X, *args, **kwargs: torch.zeros_like(X)\n"
)
