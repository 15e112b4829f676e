"""`synthreid import` into the real Postgres catalog (COPY path, JSON columns, one transaction)."""

from __future__ import annotations

import json

import pytest

from synthreid.cli import main
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig

from ..unit.benchmark.bench_fixtures import make_market

pytestmark = pytest.mark.integration


def test_import_into_postgres(tmp_path, pg_url, monkeypatch, capsys):
    monkeypatch.setenv("SYNTHREID_DATABASE_URL", pg_url)
    root = tmp_path / "market"
    expected = make_market(root)
    assert main(["import", str(root), "--format", "market1501", "--name", "m", "-q"]) == 0
    n = expected["train"] + expected["query"] + expected["gallery"]
    cat = open_catalog(FarmConfig.from_env())
    try:
        ds = cat.get_dataset("m")
        assert ds["kind"] == "imported" and ds["spec"]["counts"]["images"] == n
        done = cat.run(
            lambda cur: cat.q(
                cur,
                "SELECT COUNT(*) FROM images WHERE dataset_id = ? AND state = 'done' "
                "AND checksum IS NOT NULL",
                (ds["id"],),
            ).fetchone()[0]
        )
        assert done == n
    finally:
        cat.close()
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    row = next(d for d in json.loads(capsys.readouterr().out)["datasets"] if d["name"] == "m")
    assert (row["kind"], row["done"], row["total"]) == ("imported", n, n)
    (root / "query" / "0010_c1s2_000010_00.jpg").write_bytes(b"")
    assert main(["import", str(root), "--format", "market1501", "--name", "m2", "-q"]) == 2
    assert "0010_c1s2_000010_00.jpg" in capsys.readouterr().err
    cat = open_catalog(FarmConfig.from_env())
    try:
        assert cat.get_dataset("m2") is None and [d["name"] for d in cat.list_datasets()] == ["m"]
    finally:
        cat.close()
