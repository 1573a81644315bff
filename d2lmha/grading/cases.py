"""The tests of an exercise set, as the trusted grader uses them, and their random state.

Tests are the instructor's: read from the otter assign output (the notebook's metadata),
never from a submission. Every test starts from the same random state, so the inputs it
builds are the same at build time (on the solution) and when a submission is scored.
"""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["load_tests", "seed_tests"]


def seed_tests() -> None:
    """The random state every test starts from, in capture and in replay alike."""
    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def load_tests(autograder_notebook: Path) -> list[dict]:
    """The tests stored in an autograder notebook's metadata, in order (trusted input only).

    Returns ``[{"id", "question", "points", "hidden", "failure_message", "params", "func"},
    ...]`` where ``func`` is the test function, ``params`` the learner names it takes and
    ``failure_message`` its TEST CONFIG's (the text a learner may see when it fails; "").
    """
    import inspect

    import nbformat
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    nb = nbformat.read(autograder_notebook, as_version=nbformat.NO_CONVERT)
    config = NBMetadataConfig(nb.metadata["otter"])
    tests = []
    for question in config.tests:
        test_file = create_test_file(str(autograder_notebook), config, question)
        for case in test_file.test_cases:
            func = case.body.test_func
            tests.append(
                {
                    "id": case.name,
                    "question": question,
                    "points": float(case.points),
                    "hidden": bool(case.hidden),
                    "failure_message": case.failure_message or "",
                    "func": func,
                    "params": list(inspect.signature(func).parameters),
                }
            )
    return tests
