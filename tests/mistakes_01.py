"""Planned mistakes of exercise set 01: see test_grading_sets.py.

(Set 01 is also graded in test_grading.py.)
"""

MISTAKES = {
    # multiplies by the temperature instead of dividing: right only at temperature 1
    "q1": ("def scaled_scores(", "/ math.sqrt(d) / temperature", "/ math.sqrt(d) * temperature"),
    # predicts √d = 8, the typical size of the score, instead of its variance d = 64
    "q2": ("variance_unscaled =", "variance_unscaled = 64.0", "variance_unscaled = 8.0"),
    # the layer without √d taken for the right one: its zeros are in the right places
    "q3": ("diagnosis =", '"Q": "A"', '"Q": "D"'),
    # the window off by one: w + 1 keys per query
    "q4": ("def sliding_window_attention(", "(j > i - window)", "(j >= i - window)"),
}

# Redefines every learner function of the set as a degenerate answer (appended as a last cell
# to the blank notebook): each must score 0 on its question. sliding_window_attention returns
# its input, which once passed "nothing leaks" (unchanged inputs give unchanged outputs).
DEGENERATE = (
    "scaled_scores = lambda Q, K, *args, **kwargs: torch.zeros_like(Q)\n"
    "sliding_window_attention = lambda Q, K, V, *args, **kwargs: Q\n"
)
