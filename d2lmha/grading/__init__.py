"""Graded exercises: build the student notebooks, and grade submissions that may be hostile.

Three commands::

    python -m d2lmha.grading assign [NN ...]     # -> exercises/NN_name.ipynb (make exercises)
    python -m d2lmha.grading grade FOLDER        # -> a CSV of scores (make grade SUBMISSIONS=...)
    python -m d2lmha.grading merge OUT SHARDS... # joins the outputs of grade --shard i/n

Modules, one idea each: :mod:`.assign` builds a set from its source (otter assign, then
:mod:`.capture` records the tests' calls on the solution); :mod:`.collect` finds what was
handed in, and :mod:`.lms` what an LMS exports (a ``.zip`` read in place, Canvas and Moodle
names, the roster); :mod:`.sandbox` runs one submission in bubblewrap; :mod:`.runner` is the code
that runs in there (the notebook's cells, then its answers to the recorded calls; the trust
boundary is that file's boundary); :mod:`.wire` is the plain-data format answers leave in
and the one place they are checked; :mod:`.scoring` scores them in a limited process of its
own, where :mod:`.replay` runs the tests; :mod:`.grade` does a folder; :mod:`.report`
writes its files from the rows: the CSV, the gradebook (:mod:`.gradebook`) and the feedback
pages (:mod:`.feedback`); :mod:`.shard` cuts a class into shards and merges them.
The threat model is in ``solutions/README.md``.
"""

from .assign import BUILD_DIR, ROOT, Autograder, assign, build, build_many, exercise_sets
from .grade import grade
from .sandbox import Limits, SandboxUnavailable

__all__ = [
    "ROOT",
    "BUILD_DIR",
    "Autograder",
    "exercise_sets",
    "build",
    "build_many",
    "assign",
    "grade",
    "Limits",
    "SandboxUnavailable",
]
