"""Unit fixtures of the farm: a SQLite catalog in tmp_path and a fake renderer (no Blender)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from synthreid.fsutil import atomic_path, sha256_file, write_json
from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.tasks import RenderBackend


def tiny_spec(name="tiny", characters=3, images=2, **extra) -> DatasetSpec:
    return DatasetSpec.from_dict(
        {
            "name": name,
            "seed": 5,
            "characters": characters,
            "images_per_character": images,
            "splits": {"test": 1, "val": 1},
            **extra,
        }
    )


class FakeSession:
    """Writes a 4x8 PNG, its mask and meta row atomically, like RenderSession.render_image."""

    def __init__(self, spec, log, fail_on=None):
        self.spec, self.log, self.fail_on = spec, log, fail_on or set()

    def render_image(self, ci, ii, root):
        from synthreid.render.plan import plan_image

        if (ci, ii) in self.fail_on:
            raise OSError(f"cannot write image {ci}/{ii}")
        row = plan_image(self.spec, ci, ii)
        stem = row["stem"]
        buf = io.BytesIO()
        Image.new("RGB", (4, 8), (ci * 40 % 256, ii * 30 % 256, 7)).save(buf, "PNG")
        with atomic_path(root / "images" / f"{stem}.png") as tmp:
            tmp.write_bytes(buf.getvalue())
        with atomic_path(root / "masks" / f"{stem}.png") as tmp:
            tmp.write_bytes(buf.getvalue())
        label = {
            **row,
            "state": "done",
            "image": f"images/{stem}.png",
            "mask": f"masks/{stem}.png",
            "bbox": [0, 0, 4, 8],
            "checksum": sha256_file(root / "images" / f"{stem}.png"),
        }
        write_json(root / "meta" / f"{stem}.json", label, indent=None)
        self.log.append((ci, ii))
        return label


class FakeBackend(RenderBackend):
    def __init__(self, fail_on=None, on_render=None):
        super().__init__()
        self.rendered: list[tuple[int, int]] = []
        self.finalized = 0
        self.fail_on = fail_on or set()

    def session(self, spec):
        return FakeSession(spec, self.rendered, self.fail_on)

    def finalize_dataset(self, spec, root):
        self.finalized += 1
        super().finalize_dataset(spec, root)


@pytest.fixture
def config(tmp_path):
    return FarmConfig(
        data_dir=tmp_path / "data", lease_seconds=5.0, max_attempts=2, retry_backoff=0.0, reaper_interval=0.2
    )


@pytest.fixture
def catalog(config):
    cat = open_catalog(config)
    yield cat
    cat.close()
