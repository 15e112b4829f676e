"""Postgres migrations on a catalog that holds data: 0006 turns the plan columns into JSON and
drops the images' second foreign key, and every plan stored before reads back unchanged."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from synthreid.render.model import ImagePlan
from synthreid.render.plan import plan_images
from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog import base, open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.tasks import enqueue_dataset

pytestmark = pytest.mark.integration


def _column_types(url: str) -> dict[tuple[str, str], str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE (table_name, column_name) IN "
            "(('images', 'params'), ('characters', 'attributes'), ('tasks', 'payload'))"
        )
        return {(t, c): d for t, c, d in cur.fetchall()}


def _image_foreign_keys(url: str) -> set[str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name "
            "WHERE tc.table_name = 'images' AND tc.constraint_type = 'FOREIGN KEY'"
        )
        return {r[0] for r in cur.fetchall()}


def test_upgrade_to_json_plan_columns_keeps_stored_plans(tmp_path, pg_url, monkeypatch):
    config = FarmConfig(data_dir=Path(tmp_path), database_url=pg_url)
    spec = DatasetSpec.preset("IV").replace(name="old", characters=5, images_per_character=3)
    every = base.migrations("postgres")
    monkeypatch.setattr(base, "migrations", lambda dialect="sqlite": [m for m in every if m[0] <= 5])
    cat = open_catalog(config)
    assert cat.schema_version() == 5
    dsid = enqueue_dataset(cat, spec, progress=False).dataset_id
    cat.close()
    assert _column_types(pg_url)[("images", "params")] == "jsonb"
    assert _image_foreign_keys(pg_url) == {"dataset_id", "character_id"}

    monkeypatch.undo()
    cat = open_catalog(config, auto_upgrade=False)
    try:
        assert cat.upgrade() == [6]
        assert set(_column_types(pg_url).values()) == {"json"}
        assert _image_foreign_keys(pg_url) == {"character_id"}
        stored = [params for page in cat.image_plan_pages(dsid) for _, _, params in page]
        new = enqueue_dataset(cat, spec.replace(name="new"), progress=False).dataset_id
        stored_new = [params for page in cat.image_plan_pages(new) for _, _, params in page]
    finally:
        cat.close()
    planned = list(plan_images(spec))
    assert len(stored) == len(stored_new) == len(planned) == 15
    for a, b, plan in zip(stored, stored_new, planned, strict=True):
        assert ImagePlan.from_json(a, character=plan.character) == plan
        assert ImagePlan.from_json(b, character=plan.character) == plan


def test_an_image_row_still_needs_its_character(tmp_path, pg_url):
    cat = open_catalog(FarmConfig(data_dir=Path(tmp_path), database_url=pg_url))
    spec = DatasetSpec.preset("IV").replace(name="fk", characters=2, images_per_character=2)
    dsid = enqueue_dataset(cat, spec, progress=False).dataset_id
    cat.close()
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.ForeignKeyViolation):
            cur.execute(
                "INSERT INTO images (dataset_id, character_id, idx, camid, stem, params) "
                "VALUES (%s, -1, 0, 1, 'x', '{}')",
                (dsid,),
            )
        conn.rollback()
        cur.execute("DELETE FROM datasets WHERE id = %s", (dsid,))  # cascades through characters
        cur.execute("SELECT COUNT(*) FROM images")
        assert cur.fetchone()[0] == 0
