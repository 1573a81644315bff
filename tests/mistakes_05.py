"""Planned mistakes of exercise set 05: see test_grading_sets.py."""
MISTAKES = {
    # |mean gradient| instead of mean |gradient|: signs cancel
    "q2": ("def importance_from_gradients(", "scores = gradients.abs().mean(dim=0)",
           "scores = gradients.mean(dim=0).abs()"),
}
