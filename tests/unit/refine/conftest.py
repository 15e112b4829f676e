"""Fixtures of the refine tests."""

import pytest

from .refine_helpers import make_source, make_target


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors gain nothing from threads, and spinning threads crawl on a shared, busy CPU."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def domains(tmp_path):
    """(source dataset, target folder, target mask folder) of the toy colour-shift domain pair."""
    src = make_source(tmp_path / "dsA")
    tgt, tmask = make_target(tmp_path / "target", masks=True)
    return src, tgt, tmask
