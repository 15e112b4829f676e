"""Suite-wide safety: no test writes into the developer's data directory or catalog."""

import os
import sys

import pytest

_exit_status = None


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    """Point SYNTHREID_DATA_DIR at a fresh temp folder and unset the farm URLs; tests that
    need a catalog or Redis set their own (integration fixtures override these)."""
    monkeypatch.setenv("SYNTHREID_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("SYNTHREID_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNTHREID_REDIS_URL", raising=False)


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config):
    """Leave at once once pytest has reported, when this process imported bpy.

    A process that loaded bpy's glTF/FBX add-ons (the user-mesh tests) and torch (the
    refine/benchmark tests) can hang in Blender's C-level teardown after Python finished;
    our own programs never hold both (render workers have no torch; gpu jobs run in child
    processes). The exit status is pytest's own.
    """
    if "bpy" in sys.modules and _exit_status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
