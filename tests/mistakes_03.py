"""Planned mistakes of exercise set 03: see test_grading_sets.py."""

MISTAKES = {
    # causal self-attention taken for equivariant ("it is still attention")
    "q1": ("equivariant =", 'equivariant = "ADEH"', 'equivariant = "ACDEH"'),
    # the squared length of a row taken as d rather than d/2
    "q2": ("norm_squared =", "norm_squared = 24.0", "norm_squared = 48.0"),
    # atan2's angle not wrapped into [0, 2 pi): positions past half the slowest wavelength fail
    "q3": ("def decode_position(", "angle = torch.remainder(angle, 2 * math.pi)", "angle = angle"),
    # rows and columns confused: "only the queries rotated" for the vertical stripes
    "q4": ("diagnosis =", '"Z": "C"', '"Z": "B"'),
    # exponent i/d for pair i, since pair i now sits in column i
    "q5": (
        "def rope_half_split(",
        "torch.arange(0, d, 2, dtype=torch.float64, device=X.device) / d",
        "torch.arange(half, dtype=torch.float64, device=X.device) / d",
    ),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell to
# the blank notebook): each must score 0 on its question. rope_half_split returns its input, which
# once passed "position 0 changes nothing, lengths are kept".
DEGENERATE = (
    "decode_position = lambda p, *args, **kwargs: torch.zeros_like(p)\n"
    "rope_half_split = lambda X, *args, **kwargs: X\n"
)

# Per question that names what it may not call (the "forbidden" list of its question config in
# the solution notebook, the one source of those names), a cell that redefines the learner's
# function by delegating to one of them (appended to the solution notebook): it must earn none of
# the points of that question's function tests, and its row must carry the grader's warning.
DELEGATING = {
    # the package's table, and the nearest row of it
    "q3": (
        "def decode_position(p, base=10000.0):\n"
        "    table = d2lmha.sinusoidal_encoding(40000, p.shape[-1], base, p.dtype, p.device)\n"
        "    nearest = torch.cdist(p.reshape(-1, p.shape[-1]), table).argmin(-1)\n"
        "    return nearest.reshape(p.shape[:-1])\n"
    ),
    # the package's (interleaved) RoPE on the pairs reordered, one position at a time
    "q5": (
        "def rope_half_split(X, positions, base=10000.0):\n"
        "    half = X.shape[-1] // 2\n"
        "    inter = torch.stack([X[..., :half], X[..., half:]], dim=-1).flatten(-2)\n"
        "    rows = [d2lmha.rotary_embedding(inter[..., m:m + 1, :], base, int(p))\n"
        "            for m, p in enumerate(positions.tolist())]\n"
        "    out = torch.cat(rows, dim=-2).unflatten(-1, (half, 2))\n"
        "    return torch.cat([out[..., 0], out[..., 1]], dim=-1)\n"
    ),
}
