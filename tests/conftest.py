"""Shared fixtures: the device under test and the real model (loaded once per session)."""

import pytest
import torch

import d2lmha


@pytest.fixture(scope="session")
def device():
    return d2lmha.try_gpu()


@pytest.fixture(scope="session")
def minilm():
    model, tokenizer = d2lmha.load_minilm()
    return model, tokenizer


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def graded_class():
    """Every grading test's submissions, graded once per run (see grading_class.py)."""
    import grading_class

    return grading_class.graded_class()
