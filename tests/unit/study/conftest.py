"""Fixtures of the study tests: tiny Market-1501 folders in tmp_path (helpers in study_fixtures.py)."""

import pytest

from .study_fixtures import make_market


@pytest.fixture
def data(tmp_path):
    """Training sets a, b and c and a labelled test set ``real`` with its own training split."""
    make_market(tmp_path / "a", seed=1)
    make_market(tmp_path / "b", train_ids=range(30, 40), seed=2)
    make_market(tmp_path / "c", train_ids=range(40, 50), seed=4)
    make_market(tmp_path / "real", seed=3)
    return tmp_path
