"""Transforms, seeded sampling and loaders."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from synthreid.benchmark import data  # noqa: E402
from synthreid.benchmark.datasets import read_dataset  # noqa: E402
from synthreid.errors import DatasetError  # noqa: E402

from .bench_fixtures import make_synth_dataset  # noqa: E402

pytestmark = pytest.mark.torch


def test_random_sized_rect_crop_area_and_aspect(monkeypatch):
    img = Image.new("RGB", (64, 128))
    boxes = []
    real_crop = Image.Image.crop

    def spy(self, box):
        boxes.append(box)
        return real_crop(self, box)

    monkeypatch.setattr(Image.Image, "crop", spy)
    rng = np.random.default_rng(0)
    for _ in range(200):
        out = data.random_sized_rect_crop(img, 144, 56, rng)
        assert out.size == (56, 144)
    assert len(boxes) > 150  # most draws fit a 64x128 image
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        assert 0 <= x1 and x2 <= 64 and 0 <= y1 and y2 <= 128
        assert 0.6 <= w * h / (64 * 128) <= 1.02 and 1.8 <= h / w <= 3.3  # rounding to whole pixels


def test_sampler_seeded_per_epoch():
    s = data.SeededSampler(10, seed=3)
    a = list(s)
    assert list(s) == a and sorted(i for i, _ in a) == list(range(10))
    s.set_epoch(1)
    assert list(s) != a


def test_augmentation_independent_of_workers(tmp_path):
    root = make_synth_dataset(tmp_path / "d", n_ids=4, per_id=4)
    recs = read_dataset(root).train
    ds = data.ReidImages(recs, [r.pid for r in recs], (64, 32), train=True)

    def batches(workers):
        sampler = data.SeededSampler(len(ds), 7)
        return [b[0] for b in data.make_loader(ds, 5, workers, sampler=sampler)]

    for x, y in zip(batches(0), batches(2), strict=True):
        torch.testing.assert_close(x, y)
    x = batches(0)[0]
    assert x.dtype == torch.uint8 and x.shape == (5, 3, 64, 32)
    norm = data.normalize(x, torch.device("cpu"))
    assert norm.dtype == torch.float32 and -3 < float(norm.mean()) < 3


def test_unreadable_image_named(tmp_path):
    root = make_synth_dataset(tmp_path / "d", n_ids=2, per_id=2)
    recs = read_dataset(root).train
    open(recs[0].path, "wb").write(b"broken")
    ds = data.ReidImages(recs, [0] * len(recs), (64, 32), train=False)
    with pytest.raises(DatasetError, match=recs[0].path.split("/")[-1]):
        ds[0]
