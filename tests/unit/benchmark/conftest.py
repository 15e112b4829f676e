"""Fixtures of the benchmark tests (the helpers live in bench_fixtures.py next to this file)."""

import pytest

from .bench_fixtures import make_synth_dataset


@pytest.fixture
def toy_dataset(tmp_path):
    """20 identities x 8 images (64x32), two cameras; every identity in train, val and test."""
    return make_synth_dataset(tmp_path / "toy", n_ids=20, per_id=8)
