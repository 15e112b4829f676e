"""Unit fixtures of the farm: a SQLite catalog in tmp_path and a fake renderer (no Blender)."""

from __future__ import annotations

import pytest
from PIL import Image

from synthreid.render.spec import DatasetSpec
from synthreid.render.writer import RenderResult
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
    """Returns a flat 4x8 image for each plan, like RenderSession.render (no Blender)."""

    def __init__(self, spec, log, fail_on=None):
        self.spec, self.log, self.fail_on = spec, log, fail_on or set()

    def render(self, plan):
        ci, ii = plan.pid, plan.index
        if (ci, ii) in self.fail_on:
            raise OSError(f"cannot write image {ci}/{ii}")
        img = Image.new("RGB", (4, 8), (ci * 40 % 256, ii * 30 % 256, 7))
        self.log.append((ci, ii))
        return RenderResult(
            rgb=img,
            mask=img.convert("L"),
            bbox=(0, 0, 4, 8),
            frame_size=(4, 8),
            K=((1.0, 0.0, 2.0), (0.0, 1.0, 4.0), (0.0, 0.0, 1.0)),
            Rt=((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 5.0)),
            joints2d={},
            joints2d_crop={},
            render_seconds=0.0,
            total_seconds=0.0,
        )


def fake_render(backend, spec, root, ci, ii) -> dict:
    """Render image ``ii`` of character ``ci`` with ``backend`` into ``root`` (planned here)."""
    from synthreid.render.plan import plan_image
    from synthreid.render.writer import DatasetWriter

    plan = plan_image(spec, ci, ii)
    return DatasetWriter(root, spec.output.format).write(plan, backend.session(spec).render(plan))


class FakeBackend(RenderBackend):
    def __init__(self, fail_on=None, on_render=None):
        super().__init__()
        self.rendered: list[tuple[int, int]] = []
        self.finalized = 0
        self.fail_on = fail_on or set()

    def session(self, spec):
        return FakeSession(spec, self.rendered, self.fail_on)

    def finalize_dataset(self, spec, root, plans):
        self.finalized += 1
        super().finalize_dataset(spec, root, plans)


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
