"""The worker container's healthcheck reads the heartbeats in the catalog."""

from __future__ import annotations

import socket

from synthreid.workers import health


def test_healthy_only_with_a_recent_heartbeat_of_this_host(catalog):
    assert "no worker on host 'box-a'" in health.check_worker(catalog, "box-a", 60)
    catalog.register_worker("w1", "box-b", 11, ["render"])
    assert health.check_worker(catalog, "box-a", 60) is not None  # another host's worker
    catalog.register_worker("w2", "box-a", 12, ["render"])
    assert health.check_worker(catalog, "box-a", 60) is None
    catalog.run(lambda cur: catalog.q(cur, "UPDATE workers SET heartbeat_at = heartbeat_at - 120"))
    assert health.check_worker(catalog, "box-a", 60) is not None  # three beats missed
    catalog.heartbeat("w2", None)
    assert health.check_worker(catalog, "box-a", 60) is None
    catalog.worker_stopped("w2")
    assert health.check_worker(catalog, "box-a", 60) is not None


def test_main_exit_status(catalog, config, monkeypatch, capsys):
    monkeypatch.setenv("SYNTHREID_DATA_DIR", str(config.data_dir))
    monkeypatch.delenv("SYNTHREID_DATABASE_URL", raising=False)
    assert health.main() == 1 and "unhealthy" in capsys.readouterr().err
    catalog.register_worker("w", socket.gethostname(), 1, ["render"])
    assert health.main() == 0
    monkeypatch.setenv("SYNTHREID_DATABASE_URL", "mysql://x")
    assert health.main() == 1 and "SYNTHREID_DATABASE_URL" in capsys.readouterr().err
