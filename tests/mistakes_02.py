"""Planned mistakes of exercise set 02: see test_grading_sets.py."""
MISTAKES = {
    # √num_hiddens where each head's scores need √d_k
    "q3": ("def multihead_loop(", "/ math.sqrt(d_k)", "/ math.sqrt(num_hiddens)"),
}
