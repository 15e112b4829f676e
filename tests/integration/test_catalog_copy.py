"""The Postgres catalog's bulk insert (COPY, text format) stores exactly what it was given:
awkward strings, NULLs, numbers, and plans read back equal to what was planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.tasks import enqueue_dataset

pytestmark = pytest.mark.integration


def test_copy_round_trips_awkward_values(tmp_path, pg_url):
    cat = open_catalog(FarmConfig(data_dir=Path(tmp_path), database_url=pg_url))
    values = ["plain", "", "tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "quote\"'", "ünï"]

    def fn(cur):
        cur.execute("CREATE TEMP TABLE copy_probe (i BIGINT, s TEXT, f DOUBLE PRECISION, n TEXT)")
        rows = [(k, v, k / 7.0, None) for k, v in enumerate(values)]
        cat._bulk_insert(cur, "copy_probe", ("i", "s", "f", "n"), rows)
        cur.execute("SELECT i, s, f, n FROM copy_probe ORDER BY i")
        return cur.fetchall()

    try:
        got = cat.run(fn)
    finally:
        cat.close()
    assert got == [(k, v, k / 7.0, None) for k, v in enumerate(values)]


def test_enqueued_plans_read_back_as_planned(tmp_path, pg_url):
    from synthreid.render.model import ImagePlan
    from synthreid.render.plan import plan_images

    cat = open_catalog(FarmConfig(data_dir=Path(tmp_path), database_url=pg_url))
    spec = DatasetSpec.preset("IV").replace(name="copy", characters=6, images_per_character=3)
    try:
        res = enqueue_dataset(cat, spec, progress=False)
        stored = []
        for page in cat.image_plan_pages(res.dataset_id):
            stored += [params for _, _, params in page]
    finally:
        cat.close()
    planned = list(plan_images(spec))
    assert len(stored) == len(planned)
    for params, plan in zip(stored, planned, strict=True):
        back = ImagePlan.from_json(params, character=plan.character)
        assert back == plan
