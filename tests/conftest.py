"""Suite-wide safety: no test writes into the developer's data directory or catalog."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    """Point SYNTHREID_DATA_DIR at a fresh temp folder and unset the farm URLs; tests that
    need a catalog or Redis set their own (integration fixtures override these)."""
    monkeypatch.setenv("SYNTHREID_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("SYNTHREID_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNTHREID_REDIS_URL", raising=False)
