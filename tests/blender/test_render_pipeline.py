"""Real renders through RenderSession and the local runner: crops, sizes, determinism, resume."""

import json

import numpy as np
import pytest
from PIL import Image

from synthreid.dataset import Dataset
from synthreid.render.output import init_dataset
from synthreid.workers.embedded import render_dataset
from tests.blender.conftest import render_one, small_spec

pytestmark = pytest.mark.blender


def _mask_bbox(mask: np.ndarray, thresh: int = 128):
    ys, xs = np.nonzero(mask >= thresh)
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_tight_crop_and_native_size(tmp_path, session_factory):
    spec = small_spec()
    init_dataset(spec, tmp_path)
    s = session_factory(spec)
    for ci in range(2):
        row = render_one(s, spec, ci, 0, tmp_path)
        x0, y0, x1, y1 = row["bbox"]
        img = Image.open(tmp_path / row["image"])
        mask = np.asarray(Image.open(tmp_path / row["mask"]))
        assert img.size == (x1 - x0, y1 - y0) == tuple(row["size"])
        assert mask.shape == (img.height, img.width)
        mx0, my0, mx1, my1 = _mask_bbox(mask, 64)
        h, w = mask.shape
        # Tight: the person reaches within 2 px of every crop edge.
        assert mx0 <= 2 and my0 <= 2 and mx1 >= w - 3 and my1 >= h - 3, (mx0, my0, mx1, my1, w, h)


def test_margin_never_cuts_the_person(tmp_path, session_factory):
    spec = small_spec(output={"margin": 0.1})
    init_dataset(spec, tmp_path)
    row = render_one(session_factory(spec), spec, 1, 1, tmp_path)
    mask = np.asarray(Image.open(tmp_path / row["mask"]))
    h, w = mask.shape
    edges = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert edges.max() < 16, "the crop edge cuts the person"
    pad = 0.1 * max(h, w)
    mx0, my0, mx1, my1 = _mask_bbox(mask, 64)
    assert mx0 <= pad + 2 and my0 <= pad + 2 and w - 1 - mx1 <= pad + 2 and h - 1 - my1 <= pad + 2


def test_fixed_output_size_and_joints_inside_bbox(tmp_path, session_factory):
    spec = small_spec(output={"size": [32, 64], "margin": 0.02})
    init_dataset(spec, tmp_path)
    s = session_factory(spec)
    for ci, ii in [(0, 0), (2, 1)]:
        row = render_one(s, spec, ci, ii, tmp_path)
        assert Image.open(tmp_path / row["image"]).size == (32, 64)
        assert Image.open(tmp_path / row["mask"]).size == (32, 64)
        x0, y0, x1, y1 = row["bbox"]
        assert 0.45 <= (x1 - x0) / (y1 - y0) <= 0.55  # expanded to the output aspect
        core = ["neck", "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle"]
        for name in core:
            u, v = row["joints2d"][name]
            assert x0 - 1 <= u <= x1 + 1 and y0 - 1 <= v <= y1 + 1, name
            cu, cv = row["joints2d_crop"][name]
            assert -1 <= cu <= 33 and -1 <= cv <= 65
        meta = json.loads((tmp_path / "meta" / f"{row['stem']}.json").read_text())
        assert meta["checksum"] == row["checksum"] and meta["state"] == "done"
        assert meta["character"]["person"] and meta["camera"]["camid"] == row["camid"]
        assert len(meta["frame"]["K"]) == 3 and len(meta["frame"]["Rt"]) == 3


def test_same_seed_same_pixels_different_characters_differ(tmp_path, session_factory):
    spec = small_spec(output={"size": [32, 64]})
    a, b = tmp_path / "a", tmp_path / "b"
    init_dataset(spec, a)
    init_dataset(spec, b)
    s = session_factory(spec)
    r0 = render_one(s, spec, 0, 0, a)
    render_one(s, spec, 1, 0, a)  # another character in between: nothing may leak
    r0b = render_one(s, spec, 0, 0, b)
    px_a = np.asarray(Image.open(a / r0["image"]))
    px_b = np.asarray(Image.open(b / r0b["image"]))
    assert np.array_equal(px_a, px_b)
    assert np.array_equal(np.asarray(Image.open(a / r0["mask"])), np.asarray(Image.open(b / r0b["mask"])))
    other = np.asarray(Image.open(a / "images" / f"{render_one(s, spec, 1, 0, a)['stem']}.png"))
    assert np.abs(px_a.astype(int) - other.astype(int)).mean() > 5


def test_local_runner_resumes_only_missing(tmp_path):
    spec = small_spec(output={"size": [32, 64]}, characters=2)
    out = tmp_path / "ds"
    first = render_dataset(spec, out, workers=2, progress=False)
    assert first.rendered == 4 and first.skipped == 0 and not first.failed
    recs = Dataset(out).records(require_mask=True)
    assert len(recs) == 4
    victim = recs[1]
    (out / victim.image).unlink()
    mtimes = {r.image: (out / r.image).stat().st_mtime_ns for r in recs if r != victim}
    second = render_dataset(spec, out, workers=1, progress=False)
    assert second.rendered == 1 and second.skipped == 3
    assert all((out / p).stat().st_mtime_ns == t for p, t in mtimes.items())
    labels = list(Dataset(out).labels())
    assert len(labels) == 4 and all(r["state"] == "done" for r in labels)
    assert not list(out.rglob(".*.tmp"))


def test_jpg_output_resumes_without_rendering_again(tmp_path):
    spec = small_spec(output={"size": [32, 64], "format": "jpg"}, characters=1)
    out = tmp_path / "ds"
    first = render_dataset(spec, out, workers=1, progress=False)
    assert first.rendered == 2 and not first.failed
    images = sorted((out / "images").glob("*.jpg"))
    assert len(images) == 2
    mtimes = {p: p.stat().st_mtime_ns for p in images}
    second = render_dataset(spec, out, workers=1, progress=False)
    assert (second.rendered, second.skipped) == (0, 2)
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
