"""Graded exercises: build the student notebooks, and grade submissions that may be hostile.

Two commands::

    python -m d2lmha.grading assign [NN ...]     # -> exercises/NN_name.ipynb (make exercises)
    python -m d2lmha.grading grade FOLDER        # -> a CSV of scores (make grade SUBMISSIONS=...)

Modules, one idea each: :mod:`.assign` builds a set from its source (otter assign, then the
tests' recorded calls); :mod:`.sandbox` runs one submission in bubblewrap; :mod:`.runner` is
the code that runs in there (the notebook's cells, then its answers to the recorded calls);
:mod:`.wire` is the plain-data format answers leave in; :mod:`.replay` runs the tests in the
trusted process on those answers; :mod:`.grade` does a folder and writes the CSV. The threat
model is in ``solutions/README.md``.
"""

from .assign import BUILD_DIR, ROOT, Autograder, assign, build, exercise_sets
from .grade import grade
from .sandbox import Limits, SandboxUnavailable

__all__ = [
    "ROOT",
    "BUILD_DIR",
    "Autograder",
    "exercise_sets",
    "build",
    "assign",
    "grade",
    "Limits",
    "SandboxUnavailable",
]
