"""Planned mistakes of exercise set 03: see test_grading_sets.py."""
MISTAKES = {
    # i instead of 2i in the frequencies
    "q1": ("def sinusoidal_matrix(",
           "torch.arange(0, num_hiddens, 2, dtype=torch.float64) / num_hiddens",
           "torch.arange(0, num_hiddens // 2, dtype=torch.float64) / num_hiddens"),
    # the rotation taken backwards
    "q2": ("def offset_matrix(", "[[math.cos(b), math.sin(b)], [-math.sin(b), math.cos(b)]]",
           "[[math.cos(b), -math.sin(b)], [math.sin(b), math.cos(b)]]"),
    # the output compared without permuting it
    "q3": ("def is_permutation_equivariant(", "f(X)[:, perm]", "f(X)"),
    # half-split pairs where the exercise asks for interleaved ones
    "q4": ("def rope_rotate(", "x_even, x_odd = x[..., 0::2], x[..., 1::2]",
           "x_even, x_odd = x[..., : d // 2], x[..., d // 2:]"),
}
