"""Catalog (SQLite): migrations, enqueue, claims, leases, retries, release."""

from __future__ import annotations

import time

import pytest

from synthreid.errors import DatasetError
from synthreid.workers.catalog import open_catalog
from synthreid.workers.catalog.base import CatalogError, migrations, select_migrations, split_sql
from synthreid.workers.config import ConfigError, FarmConfig, default_plan_processes
from synthreid.workers.tasks import enqueue_dataset

from .conftest import tiny_spec


def test_migrations_are_numbered_and_applied_once(config):
    versions = [v for v, _, _ in migrations()]
    assert versions == list(range(1, len(versions) + 1))
    cat = open_catalog(config, auto_upgrade=False)
    assert cat.schema_version() == 0
    assert cat.upgrade() == versions
    assert cat.upgrade() == []
    assert cat.schema_version() == cat.latest_version()
    cat.close()


def test_every_dialect_reaches_the_same_versions():
    sqlite, postgres = migrations("sqlite"), migrations("postgres")
    assert [v for v, _, _ in sqlite] == [v for v, _, _ in postgres]
    shared = [v for (v, _, a), (_, _, b) in zip(sqlite, postgres, strict=True) if a == b]
    assert 1 in shared and 6 not in shared  # 0006 differs: Postgres converts plan columns to JSON
    assert "TYPE JSON" in dict((v, t) for v, _, t in postgres)[6]


def test_a_dialect_file_replaces_the_shared_one_and_a_gap_is_refused():
    files = [
        ("0001_init.sql", "shared 1"),
        ("0002_tune.postgres.sql", "pg 2"),
        ("0002_tune.sqlite.sql", "lite 2"),
        ("README.md", "ignored"),
        ("0003_more.sql", "shared 3"),
    ]
    assert select_migrations(files, "postgres") == [
        (1, "init", "shared 1"),
        (2, "tune", "pg 2"),
        (3, "more", "shared 3"),
    ]
    assert [t for _, _, t in select_migrations(files, "sqlite")] == ["shared 1", "lite 2", "shared 3"]
    with pytest.raises(CatalogError, match="0004 has a file for another dialect but none for sqlite"):
        select_migrations([*files, ("0004_pg_only.postgres.sql", "pg 4")], "sqlite")
    with pytest.raises(ValueError, match="dialect 'mysql'"):
        select_migrations(files, "mysql")


def test_split_sql_skips_comments():
    assert split_sql("-- c;\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x);\n") == [
        "CREATE TABLE a (x INT)",
        "CREATE INDEX i ON a (x);",
    ]


def test_enqueue_writes_every_row_in_one_go(catalog):
    res = enqueue_dataset(catalog, tiny_spec(), progress=False)
    assert (res.characters, res.images, len(res.tasks)) == (3, 6, 3)
    ds = catalog.get_dataset("tiny")
    assert ds["spec"] == tiny_spec().to_dict()
    imgs = catalog.dataset_images(ds["id"])
    assert len(imgs) == 6 and {i["state"] for i in imgs} == {"pending"}
    char = catalog.character(catalog.get_task(res.tasks[0][0]).character_id)
    assert "person" in char["plan"] and char["plan"]["schema"] == 2  # the stored CharacterPlan
    with catalog._tx() as cur:
        params = catalog.q(cur, "SELECT params FROM images ORDER BY id LIMIT 1").fetchone()[0]
    assert '"camera"' in params and '"pose"' in params


def test_duplicate_name_is_a_clear_error_and_writes_nothing(catalog):
    enqueue_dataset(catalog, tiny_spec(), progress=False)
    with pytest.raises(DatasetError, match="already exists.*--resume"):
        enqueue_dataset(catalog, tiny_spec(characters=5), progress=False)
    with catalog._tx() as cur:
        assert catalog.q(cur, "SELECT COUNT(*) FROM characters").fetchone()[0] == 3


def test_insert_failure_rolls_back_everything(catalog):
    spec = tiny_spec()
    chars = [(0, 1, {}), (0, 1, {})]  # duplicate (dataset, idx): the second insert fails
    with pytest.raises(Exception, match="UNIQUE"):
        catalog.create_rendered_dataset("x", spec.to_dict(), chars, [], "render", 3)
    assert catalog.get_dataset("x") is None


def test_resume_needs_same_spec_and_resets_failed(catalog):
    res = enqueue_dataset(catalog, tiny_spec(), progress=False)
    t = catalog.claim("w", 5, task_id=res.tasks[0][0])
    catalog.fail_task(t.id, "w", "boom", 0)
    catalog.claim("w", 5, task_id=t.id)
    assert catalog.fail_task(t.id, "w", "boom", 0) == "pending"  # attempt 2 of max 3
    with pytest.raises(DatasetError, match="different"):
        enqueue_dataset(catalog, tiny_spec(seed=9), resume=True, progress=False)
    again = enqueue_dataset(catalog, tiny_spec(), resume=True, progress=False)
    assert again.resumed and len(again.tasks) == 3


def test_claim_lease_expiry_and_ownership(catalog):
    res = enqueue_dataset(catalog, tiny_spec(), progress=False)
    tid = res.tasks[0][0]
    a = catalog.claim("A", 0.2, task_id=tid)
    assert a is not None and a.attempts == 1 and a.worker == "A"
    assert catalog.claim("B", 5, task_id=tid) is None  # leased to a live worker
    assert catalog.claim("A", 0.2, task_id=tid).attempts == 1  # re-claim by owner: same attempt
    time.sleep(0.3)
    b = catalog.claim("B", 5, task_id=tid)
    assert b is not None and b.attempts == 2
    assert not catalog.renew_lease(tid, "A", 5)
    assert catalog.finish_render_task(tid, "A", {}) is False
    assert catalog.finish_render_task(tid, "B", {}) is True
    assert catalog.finish_render_task(tid, "B", {}) is True  # idempotent
    assert catalog.claim("C", 5, task_id=tid) is None


def test_claim_next_orders_and_respects_backoff(catalog):
    res = enqueue_dataset(catalog, tiny_spec(), progress=False)
    first = catalog.claim("A", 5)
    assert first.id == res.tasks[0][0]
    assert catalog.fail_task(first.id, "A", "err", backoff=60) == "pending"
    second = catalog.claim("A", 5)
    assert second.id == res.tasks[1][0]  # the failed one waits for its backoff
    assert catalog.claim("A", 5, queues=("gpu",)) is None


def test_retries_then_failed_with_error(catalog):
    res = enqueue_dataset(catalog, tiny_spec(), max_attempts=2, progress=False)
    tid = res.tasks[0][0]
    catalog.claim("A", 5, task_id=tid)
    assert catalog.fail_task(tid, "A", "first", 0) == "pending"
    catalog.claim("A", 5, task_id=tid)
    assert catalog.fail_task(tid, "A", "second", 0) == "failed"
    t = catalog.get_task(tid)
    assert (t.state, t.attempts, t.last_error) == ("failed", 2, "second")


def test_reap_returns_expired_and_undispatched(catalog):
    res = enqueue_dataset(catalog, tiny_spec(), max_attempts=2, progress=False)
    assert len(catalog.reap()) == 3  # never dispatched yet
    assert catalog.reap() == []
    t = catalog.claim("A", 0.05)
    time.sleep(0.1)
    assert catalog.reap() == [(t.id, "render")]
    assert catalog.get_task(t.id).state == "pending"
    catalog.claim("B", 0.05, task_id=t.id)
    time.sleep(0.1)
    catalog.reap()
    assert catalog.get_task(t.id).state == "failed"  # out of attempts
    assert "lease expired" in catalog.get_task(t.id).last_error
    assert len(res.tasks) == 3


def test_release_does_not_count_an_attempt(catalog):
    enqueue_dataset(catalog, tiny_spec(), progress=False)
    t = catalog.claim("A", 5)
    assert catalog.release_task(t.id, "A")
    again = catalog.claim("B", 5)
    assert again.id == t.id and again.attempts == 1


def test_config_from_env(tmp_path):
    c = FarmConfig.from_env({"SYNTHREID_DATA_DIR": str(tmp_path), "SYNTHREID_LEASE_SECONDS": "3"})
    assert c.lease_seconds == 3 and not c.uses_postgres and c.sqlite_path == tmp_path / "catalog.sqlite3"
    assert c.dataset_root("a") == tmp_path / "datasets" / "a"
    with pytest.raises(DatasetError):
        c.dataset_root("../etc")
    with pytest.raises(ConfigError, match="SYNTHREID_LEASE_SECONDS"):
        FarmConfig.from_env({"SYNTHREID_LEASE_SECONDS": "soon"})
    with pytest.raises(ConfigError, match="SYNTHREID_DATABASE_URL"):
        FarmConfig.from_env({"SYNTHREID_DATABASE_URL": "mysql://x"})
    assert FarmConfig.from_env({"SYNTHREID_DATABASE_URL": "postgresql://u@h/db"}).uses_postgres
    assert FarmConfig.from_env({"SYNTHREID_PLAN_WRITERS": "4"}).plan_writers == 4
    # Writers follow the planning processes unless set: one per 4, at least 2.
    writers = [FarmConfig.from_env({"SYNTHREID_PLAN_PROCESSES": str(n)}).plan_writers for n in (1, 8, 9, 16)]
    assert writers == [2, 2, 3, 4]
    assert (
        FarmConfig.from_env({"SYNTHREID_PLAN_PROCESSES": "16", "SYNTHREID_PLAN_WRITERS": "1"}).plan_writers
        == 1
    )
    assert [default_plan_processes(n) for n in (None, 1, 2, 16, 64)] == [1, 1, 2, 16, 16]
    with pytest.raises(ConfigError, match="SYNTHREID_PLAN_WRITERS"):
        FarmConfig.from_env({"SYNTHREID_PLAN_WRITERS": "0"})


def test_a_catalog_file_that_cannot_be_opened_is_a_clear_error(config, monkeypatch):
    # Found by scripts/battery.py: a worker whose SQLite catalog sits on a full disk died with a
    # sqlite3.OperationalError traceback (PRAGMA journal_mode=WAL cannot size its -shm file).
    import sqlite3

    from synthreid.workers.catalog.sqlite import SQLiteCatalog
    from synthreid.workers.catalog.values import CatalogError

    def broken(self):
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorcode = 4874  # SQLITE_IOERR_SHMSIZE, what a full tmpfs gave
        raise exc

    monkeypatch.setattr(SQLiteCatalog, "_connect", broken)
    with pytest.raises(CatalogError, match="disk I/O error") as info:
        open_catalog(config)
    assert str(config.sqlite_path) in str(info.value)
