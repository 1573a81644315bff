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

# What each implement question may not call: the package's or PyTorch's ready-made equivalent.
# The grader's trusted side reads each answer cell as text and warns when it names one of these.
FORBIDDEN = {
    "q3": ["sinusoidal_encoding", "PositionalEncoding"],
    "q5": ["rotary_embedding", "RotaryEmbedding", "rope_angles"],
}
