"""Exports: JPEG by default, queries with a cross-camera match, refusal of untestable test splits,
and an ``openreid`` split that Open-ReID's loader reads with query and gallery honoured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthreid.benchmark.datasets import ReidRecord, read_dataset, split_query_gallery
from synthreid.benchmark.export import export, query_gallery_report
from synthreid.benchmark.metrics import evaluate_market
from synthreid.cli import main
from synthreid.dataset import image_stem, write_manifest
from synthreid.errors import DatasetError

from .bench_fixtures import make_synth_dataset, person_image


def make_dataset(root: Path, cams_of: dict[int, list[int]], splits: dict, size=(16, 8), seed=0) -> Path:
    """A synthreid dataset whose identity ``pid`` has one image per entry of ``cams_of[pid]``
    (the entry is the image's camera)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    for pid, cams in cams_of.items():
        for idx, cam in enumerate(cams):
            person_image(pid, rng, size).save(root / "images" / f"{image_stem(pid, cam, idx)}.png")
    write_manifest(
        root,
        {
            "name": root.name,
            "seed": seed,
            "splits": splits,
            "counts": {"characters": len(cams_of), "images": sum(map(len, cams_of.values()))},
        },
    )
    return root


def assert_cross_camera(query, gallery):
    for q in query:
        assert any(g.pid == q.pid and g.camid != q.camid for g in gallery), q


# --- query selection ------------------------------------------------------------------------


def test_split_query_gallery_properties_over_random_pools():
    rng = np.random.default_rng(7)
    for trial in range(300):
        recs = []
        for pid in range(int(rng.integers(1, 6))):
            for k in range(int(rng.integers(1, 7))):
                recs.append(ReidRecord(f"/x/{trial}_{pid}_{k}.png", pid, int(rng.integers(1, 5))))
        query, gallery = split_query_gallery(recs)
        assert sorted(query + gallery, key=lambda r: r.path) == sorted(recs, key=lambda r: r.path)
        assert_cross_camera(query, gallery)
        assert len({(q.pid, q.camid) for q in query}) == len(query)  # at most one per identity and camera
        for pid in {r.pid for r in recs}:
            n_cams = len({r.camid for r in recs if r.pid == pid})
            n_query = sum(q.pid == pid for q in query)
            assert (n_query >= 1) == (n_cams >= 2), (pid, n_cams, n_query)


def test_split_query_gallery_keeps_market_rule_when_every_camera_has_two_images():
    recs = [ReidRecord(f"/x/{p}_{c}_{k}.png", p, c) for p in range(3) for c in (1, 2, 3) for k in range(2)]
    query, gallery = split_query_gallery(recs)
    assert sorted((q.pid, q.camid) for q in query) == [(p, c) for p in range(3) for c in (1, 2, 3)]
    assert all(q.path.endswith("_0.png") for q in query) and len(gallery) == 9


def test_split_query_gallery_uneven_cameras():
    # one image on camera 1, two on camera 2: camera 1's image is the query, all of camera 2 is gallery
    # (camera 2's first image as a second query would leave camera 1's query without a match)
    recs = [ReidRecord("/x/a.png", 0, 1), ReidRecord("/x/b.png", 0, 2), ReidRecord("/x/c.png", 0, 2)]
    query, gallery = split_query_gallery(recs)
    assert [q.path for q in query] == ["/x/a.png"] and len(gallery) == 2
    # two on camera 1, one on camera 2
    recs = [ReidRecord("/x/a.png", 0, 1), ReidRecord("/x/b.png", 0, 1), ReidRecord("/x/c.png", 0, 2)]
    query, gallery = split_query_gallery(recs)
    assert [q.path for q in query] == ["/x/a.png"] and [g.path for g in gallery] == ["/x/b.png", "/x/c.png"]


def quick_start_like(root: Path) -> Path:
    """48 characters x 2 images like the README's quick start: 9 test / 9 val / 30 train identities;
    7 test identities seen by two cameras, 2 by one camera (both images on camera 3)."""
    cams_of = {pid: [1 + pid % 4, 1 + (pid + 1) % 4] for pid in range(48)}
    cams_of[40] = cams_of[41] = [3, 3]
    splits = {"test": list(range(39, 48)), "val": list(range(30, 39)), "train": list(range(30))}
    return make_dataset(root, cams_of, splits)


@pytest.mark.parametrize("fmt", ["market1501", "openreid"])
def test_quick_start_dataset_exports_to_an_evaluable_test_set(tmp_path, fmt):
    src = quick_start_like(tmp_path / "qs")
    out = export(src, tmp_path / fmt, fmt)
    back = read_dataset(out, num_val=0)
    assert len(back.query) == 7 and len(back.gallery) == 11  # 7 cross-camera pairs + 4 distractors
    assert_cross_camera(back.query, back.gallery)
    # what `benchmark train --protocol market` runs at the end: it must not fail for want of matches
    rng = np.random.default_rng(0)
    dist = rng.random((len(back.query), len(back.gallery)))
    cmc, m_ap, _ = evaluate_market(
        dist,
        [r.pid for r in back.query],
        [r.pid for r in back.gallery],
        [r.camid for r in back.query],
        [r.camid for r in back.gallery],
    )
    assert cmc[-1] == 1.0 and 0 < m_ap <= 1


def test_export_refuses_a_test_split_without_cross_camera_identities(tmp_path):
    cams_of = {pid: [1 + pid % 2] * 2 for pid in range(6)}
    src = make_dataset(tmp_path / "one", cams_of, {"train": [0, 1, 2], "val": [], "test": [3, 4, 5]})
    with pytest.raises(DatasetError, match=r"3 of 3 test identities seen by one camera.*render more images"):
        export(src, tmp_path / "out", "market1501")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one"]


def test_report_counts_one_camera_identities(tmp_path):
    src = quick_start_like(tmp_path / "qs")
    rep = query_gallery_report(read_dataset(src))
    assert (rep.test_ids, rep.query_ids, rep.query_images, rep.gallery_images) == (9, 7, 7, 11)
    assert (rep.one_camera_ids, rep.one_camera_images) == (2, 4)
    assert "2 identities seen by one camera only" in rep.describe()


# --- image format ---------------------------------------------------------------------------


def test_jpeg_by_default_with_quality(tmp_path):
    src = make_synth_dataset(tmp_path / "ds", n_ids=4, per_id=4, size=(128, 64))
    hi = export(src, tmp_path / "hi", "market1501")
    lo = export(src, tmp_path / "lo", "market1501", quality=10)
    files = sorted(p.relative_to(hi) for p in hi.rglob("*") if p.is_file())
    assert files and all(p.suffix == ".jpg" for p in files)
    assert files == sorted(p.relative_to(lo) for p in lo.rglob("*") if p.is_file())
    size_hi = sum((hi / p).stat().st_size for p in files)
    size_lo = sum((lo / p).stat().st_size for p in files)
    assert size_lo < 0.6 * size_hi
    orig = {r.path: r for r in read_dataset(src).train}
    name = sorted(orig)[0]
    pid, cam, idx = 0, 1, 0
    assert Path(name).name == f"{image_stem(pid, cam, idx)}.png"
    exported = hi / "bounding_box_train" / f"{pid + 1:04d}_c{cam}s1_{idx:06d}_00.jpg"
    b = np.asarray(Image.open(name).convert("RGB"), dtype=float)
    err = {}
    for tag, root in (("hi", hi), ("lo", lo)):
        with Image.open(root / exported.relative_to(hi)) as im:
            assert im.format == "JPEG" and im.size == (64, 128)
            err[tag] = np.abs(np.asarray(im.convert("RGB"), dtype=float) - b).mean()
    assert err["hi"] < 10 and err["hi"] < 0.7 * err["lo"]  # quality 95 is closer to the PNG than 10


def test_png_still_possible_and_bad_options_refused(tmp_path):
    src = make_synth_dataset(tmp_path / "ds", n_ids=3, per_id=2, size=(16, 8))
    out = export(src, tmp_path / "png", "openreid", image_ext=".png")
    names = json.loads((out / "meta.json").read_text())["query_fnames"]
    with Image.open(out / "images" / names[0]) as im:
        assert im.format == "PNG"
    with pytest.raises(DatasetError, match="quality 0"):
        export(src, tmp_path / "q", "market1501", quality=0)
    with pytest.raises(DatasetError, match="image_ext '.gif'"):
        export(src, tmp_path / "g", "market1501", image_ext=".gif")
    assert not (tmp_path / "q").exists() and not (tmp_path / "g").exists()


def test_cli_quality_option(tmp_path, capsys):
    src = make_synth_dataset(tmp_path / "ds", n_ids=3, per_id=4, size=(64, 32))
    for q in (95, 5):
        assert (
            main(
                [
                    "benchmark",
                    "export",
                    str(src),
                    "--format",
                    "market1501",
                    "--out",
                    str(tmp_path / f"q{q}"),
                    "--quality",
                    str(q),
                ]
            )
            == 0
        )
    size = {q: sum(p.stat().st_size for p in (tmp_path / f"q{q}").rglob("*.jpg")) for q in (95, 5)}
    assert size[5] < 0.6 * size[95]
    assert (
        main(
            [
                "benchmark",
                "export",
                str(src),
                "--format",
                "market1501",
                "--out",
                str(tmp_path / "bad"),
                "--quality",
                "101",
            ]
        )
        == 2
    )
    assert "quality 101" in capsys.readouterr().err


# --- Open-ReID's loader ---------------------------------------------------------------------


def openreid_load(root: Path, split_id=0):
    """A reader written from Open-ReID's documented format (reid/utils/data/dataset.py, Dataset.load):
    splits.json is a list of {'trainval', 'query', 'gallery'} identity lists; meta.json's
    identities[pid][camid] lists file names 'PPPPPPPP_CC_NNNN.ext' under images/; query and gallery
    are every image of the listed identities (pid = index in identities, camid = position)."""
    split = json.loads((root / "splits.json").read_text())[split_id]
    identities = json.loads((root / "meta.json").read_text())["identities"]

    def pluck(pids):
        out = []
        for pid in pids:
            for camid, fnames in enumerate(identities[pid]):
                for fname in fnames:
                    x, y, _ = map(int, Path(fname).stem.split("_"))
                    assert (x, y) == (pid, camid), fname  # Open-ReID asserts the same
                    assert (root / "images" / fname).is_file(), fname
                    out.append((fname, pid, camid))
        return out

    return pluck(split["trainval"]), pluck(split["query"]), pluck(split["gallery"]), split


def test_openreid_split_is_read_by_open_reids_loader_with_query_and_gallery(tmp_path):
    cams_of = {pid: [1 + pid % 3, 1 + (pid + 1) % 3, 1 + (pid + 1) % 3] for pid in range(12)}
    cams_of[9] = [2, 2, 2]  # a test identity seen by one camera: gallery distractor only
    src = make_dataset(
        tmp_path / "ds", cams_of, {"train": [0, 1, 2, 3, 4], "val": [5, 6], "test": [7, 8, 9, 10, 11]}
    )
    out = export(src, tmp_path / "or", "openreid")
    trainval, query, gallery, split = openreid_load(out)
    meta = json.loads((out / "meta.json").read_text())
    orig = meta["synthreid_pids"]
    assert sorted({orig[p] for _, p, _ in trainval}) == [0, 1, 2, 3, 4, 5, 6]
    assert sorted({orig[p] for _, p, _ in gallery}) == [7, 8, 9, 10, 11]
    assert sorted({orig[p] for _, p, _ in query}) == [7, 8, 10, 11]  # query and gallery lists differ
    assert set(split["query"]) < set(split["gallery"])
    assert not set(split["trainval"]) & set(split["gallery"])
    assert len(trainval) == 21 and len(gallery) == 15 and len(query) == 12
    for fname, pid, camid in query:  # Open-ReID's evaluator drops same-id same-camera gallery images
        assert any(g_pid == pid and g_cam != camid for _, g_pid, g_cam in gallery), fname
    # the Market-style image partition kept for synthreid's reader: one query per identity and camera
    back = read_dataset(out, num_val=0)
    assert len(back.query) == 4 and len(back.gallery) == 11
    assert_cross_camera(back.query, back.gallery)
