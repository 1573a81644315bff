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
    # the decoder taken to read fixed source positions: the year steps' weight stays put
    "q5": ("alignment =", '"year": "A"', '"year": "B"'),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell to
# the blank notebook): each must score 0 on its question. pre_ln_decoder returns zeros, which once
# passed "causal" and "ignores padding" (no output changes at all); torch_decoder returns X, which
# passed those two checks of the pre-LN torch layer.
DEGENERATE = (
    "torch_decoder = lambda layer, X, *args, **kwargs: X\n"
    "pre_ln_decoder = lambda block, X, *args, **kwargs: torch.zeros_like(X)\n"
)

# Per question that names what it may not call (the "forbidden" list of its question config in
# the solution notebook, the one source of those names), a cell that redefines the learner's
# function by delegating to one of them (appended to the solution notebook): it must earn none of
# the points of that question's function tests, and its row must carry the grader's warning.
DELEGATING = {
    # the package's masks, inverted for PyTorch
    "q3": (
        "def torch_decoder(layer, X, memory, src_valid_lens):\n"
        "    future = ~d2lmha.causal_mask(X.shape[1], device=X.device)\n"
        "    keep = d2lmha.valid_lens_mask(src_valid_lens.to(X.device), 1, memory.shape[1])\n"
        "    return layer(X, memory, tgt_mask=future, memory_key_padding_mask=~keep[:, 0])\n"
    ),
    # PyTorch's norm_first=True layer gives the output but no weights, and the block's own layer
    # has computed none: every test (each checks the weights) fails, and the name raises anyway.
    "q4": (
        "def pre_ln_decoder(block, X, enc_outputs, enc_valid_lens=None):\n"
        "    layer = d2lmha.to_torch_decoder_layer(block).eval()\n"
        "    layer.norm_first = True\n"
        "    n, s = X.shape[1], enc_outputs.shape[1]\n"
        "    future = torch.ones(n, n, dtype=torch.bool, device=X.device).triu(1)\n"
        "    padding = None\n"
        "    if enc_valid_lens is not None:\n"
        "        keys = torch.arange(s, device=X.device)[None, :]\n"
        "        padding = keys >= enc_valid_lens.to(X.device)[:, None]\n"
        "    Y = layer(X, enc_outputs, tgt_mask=future, memory_key_padding_mask=padding)\n"
        "    return Y, getattr(block.cross_attention, 'attention_weights', None)\n"
    ),
}
