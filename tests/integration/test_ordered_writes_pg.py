"""Enqueue into Postgres with several writer connections: the same rows as with one, the
planning watermark moved batch by batch in order, and a failed batch leaves a dataset that
``--resume`` completes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthreid.render.spec import DatasetSpec
from synthreid.workers import tasks
from synthreid.workers.catalog import base, open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.tasks import enqueue_dataset

pytestmark = pytest.mark.integration


def stored(cat, dsid):
    return [row[1:] for page in cat.image_plan_pages(dsid) for row in page]


def test_writers_store_what_one_connection_stores(tmp_path, pg_url, monkeypatch):
    cat = open_catalog(FarmConfig(data_dir=Path(tmp_path), database_url=pg_url))
    spec = DatasetSpec.preset("I").replace(name="one", characters=40, images_per_character=3)
    watermarks = []
    set_planned = base.Catalog._set_planned

    def record(self, cur, dataset_id, planned, characters):
        watermarks.append(planned)
        set_planned(self, cur, dataset_id, planned, characters)

    try:
        one = enqueue_dataset(cat, spec, progress=False, batch_images=12)
        monkeypatch.setattr(base.Catalog, "_set_planned", record)
        three = enqueue_dataset(
            cat, spec.replace(name="three"), progress=False, batch_images=36, writers=3
        )  # batches of 36 / 3 images / 3 writers = 4 characters, as the one-writer run
        assert stored(cat, three.dataset_id) == stored(cat, one.dataset_id)
        assert len(stored(cat, three.dataset_id)) == 120
        assert watermarks == [*range(4, 40, 4), 40]  # committed in batch order, each batch once
        assert cat.get_dataset("three")["planned_characters"] is None
        assert len(three.tasks) == 40
    finally:
        cat.close()


def test_a_failed_batch_rolls_back_the_later_ones_and_resume_completes(tmp_path, pg_url, monkeypatch):
    cat = open_catalog(FarmConfig(data_dir=Path(tmp_path), database_url=pg_url))
    spec = DatasetSpec.preset("I").replace(name="cut", characters=40, images_per_character=3)
    insert = base.Catalog._insert_batch

    def failing(self, cur, dsid, name, batch, queue, max_attempts):
        if batch.start == 16:
            raise OSError("disk full at 16")
        insert(self, cur, dsid, name, batch, queue, max_attempts)

    monkeypatch.setattr(base.Catalog, "_insert_batch", failing)
    try:
        with pytest.raises(OSError, match="disk full at 16"):
            enqueue_dataset(cat, spec, progress=False, batch_images=36, writers=3)
        ds = cat.get_dataset("cut")
        # Batches before it may have been stopped too, while waiting for their turn: the
        # watermark is at a batch boundary before 16, and nothing after it is stored.
        assert ds["planned_characters"] in (4, 8, 12, 16)
        assert len(stored(cat, ds["id"])) == ds["planned_characters"] * 3
        monkeypatch.setattr(base.Catalog, "_insert_batch", insert)
        res = enqueue_dataset(cat, spec, resume=True, progress=False, batch_images=36, writers=3)
        assert res.resumed and cat.get_dataset("cut")["planned_characters"] is None
        alone = enqueue_dataset(cat, spec.replace(name="alone"), progress=False, batch_images=12)
        assert stored(cat, ds["id"]) == stored(cat, alone.dataset_id)
    finally:
        cat.close()


def test_sqlite_always_stores_with_one_connection(tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "write_in_order", None)  # would raise if called
    cat = open_catalog(FarmConfig(data_dir=Path(tmp_path)))
    spec = DatasetSpec.preset("I").replace(name="lite", characters=10, images_per_character=2)
    try:
        res = enqueue_dataset(cat, spec, progress=False, batch_images=4, writers=4)
        assert len(stored(cat, res.dataset_id)) == 20
    finally:
        cat.close()
