"""Readers of each format, detection, bad files, and exporter round trips."""

import json

import numpy as np
import pytest
from PIL import Image

from synthreid.benchmark.datasets import detect_format, read_dataset
from synthreid.benchmark.export import export
from synthreid.errors import DatasetError

from .bench_fixtures import make_cuhk03np, make_market, make_openreid, make_synth_dataset


def ids(records):
    return sorted({r.pid for r in records})


def test_market_reader_drops_junk_keeps_distractors(tmp_path):
    want = make_market(tmp_path / "Market-1501")
    assert detect_format(tmp_path / "Market-1501") == "market1501"
    ds = read_dataset(tmp_path / "Market-1501", num_val=1, seed=3)
    assert len(ds.train) + len(ds.val) == want["train"]
    assert len(ds.val) == 4 and len(ids(ds.val)) == 1  # one identity carved out for validation
    assert not set(ids(ds.val)) & set(ids(ds.train))
    assert len(ds.query) == want["query"] and len(ds.gallery) == want["gallery"]
    assert -1 not in ids(ds.train + ds.gallery)
    assert 0 in ids(ds.gallery)  # distractors stay in the gallery
    assert 0 not in ids(ds.test_pool())  # but never take part as a test identity
    assert {r.camid for r in ds.gallery} == {1, 2}


def test_market_misnamed_file_raises_or_is_counted(tmp_path):
    root = tmp_path / "m"
    make_market(root)
    bad = root / "query" / "0010_cam1_000001.jpg"
    Image.new("RGB", (8, 16)).save(bad)
    with pytest.raises(DatasetError, match="0010_cam1_000001.jpg"):
        read_dataset(root)
    ds = read_dataset(root, skip_bad=True)
    assert ds.skipped == 1 and len(ds.query) == 3


def test_unreadable_image_named_when_verifying(tmp_path):
    root = tmp_path / "m"
    make_market(root)
    bad = root / "query" / "0010_c2s2_000010_00.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="0010_c2s2_000010_00.jpg: not a PNG, JPEG or BMP"):
        read_dataset(root)  # every read checks each file's header and end marker (cheap)
    bad.write_bytes(b"\xff\xd8 a JPEG start, garbage, a JPEG end \xff\xd9")
    read_dataset(root)  # passes the cheap check...
    with pytest.raises(DatasetError, match="0010_c2s2_000010_00.jpg: unreadable"):
        read_dataset(root, verify=True)  # ...not the decode
    assert read_dataset(root, verify=True, skip_bad=True).skipped == 1
    assert read_dataset(root, skip_bad=True).skipped == 1  # --skip-bad decodes too


def test_cuhk03np_reader(tmp_path):
    make_cuhk03np(tmp_path / "cuhk03-np", "labeled")
    make_cuhk03np(tmp_path / "cuhk03-np", "detected", seed=1)
    assert detect_format(tmp_path / "cuhk03-np") == "cuhk03np"
    ds = read_dataset(tmp_path / "cuhk03-np", variant="detected", num_val=0)
    assert ds.root.name == "cuhk03-np" and ds.name.endswith("detected")
    assert ids(ds.train) == [1, 2, 3, 4, 5] and ids(ds.query) == [20, 21, 22]
    assert len(ds.query) == 6 and len(ds.gallery) == 12
    assert detect_format(tmp_path / "cuhk03-np" / "labeled") == "cuhk03np"


def test_openreid_reader_splits(tmp_path):
    make_openreid(tmp_path / "cuhk03")
    for split_id in (0, 1):
        ds = read_dataset(tmp_path / "cuhk03", split_id=split_id, num_val=1)
        splits = json.loads((tmp_path / "cuhk03" / "splits.json").read_text())
        assert ids(ds.query) == ids(ds.gallery) == splits[split_id]["query"]
        assert sorted(ids(ds.train) + ids(ds.val)) == splits[split_id]["trainval"]
        assert {r.camid for r in ds.query} == {0, 1}
    with pytest.raises(DatasetError, match="split_id 5"):
        read_dataset(tmp_path / "cuhk03", split_id=5)


def test_openreid_name_mismatch_names_file(tmp_path):
    root = tmp_path / "o"
    make_openreid(root)
    meta = json.loads((root / "meta.json").read_text())
    meta["identities"][1][0][0] = "00000002_00_0000.jpg"  # listed under identity 1
    (root / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="00000002_00_0000.jpg.*identity 1"):
        read_dataset(root)


def test_synthreid_reader_and_detection(tmp_path):
    root = make_synth_dataset(
        tmp_path / "ds", n_ids=6, per_id=4, splits={"train": [0, 1, 2], "val": [3], "test": [4, 5]}
    )
    assert detect_format(root) == "synthreid"
    ds = read_dataset(root)
    assert ids(ds.train) == [0, 1, 2] and ids(ds.val) == [3]
    # first image per (identity, camera) is a query; 2 cameras x 2 test ids
    assert len(ds.query) == 4 and len(ds.gallery) == 4 and ids(ds.test_pool()) == [4, 5]
    with pytest.raises(DatasetError, match="unknown dataset format"):
        detect_format(tmp_path)


def _signature(records, pid_map=lambda p: p, cam_map=lambda c: c):
    out = []
    for r in records:
        arr = np.asarray(Image.open(r.path).convert("RGB"), dtype=np.int16)
        out.append((pid_map(r.pid), cam_map(r.camid), arr))
    return sorted(out, key=lambda t: (t[0], t[1], t[2].sum()))


def _assert_same(a, b):
    assert [(p, c) for p, c, _ in a] == [(p, c) for p, c, _ in b]
    for (_, _, x), (_, _, y) in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("fmt", ["market1501", "openreid"])
def test_export_round_trip(tmp_path, fmt):
    src = make_synth_dataset(
        tmp_path / "ds",
        n_ids=7,
        per_id=4,
        n_cams=2,
        splits={"train": [0, 2, 3], "val": [5], "test": [1, 4, 6]},
    )
    orig = read_dataset(src)
    out = export(src, tmp_path / fmt, fmt, image_ext=".png")
    assert detect_format(out) == fmt
    back = read_dataset(out, num_val=0)
    if fmt == "market1501":
        pid_map, cam_map = (lambda p: p - 1), (lambda c: c)
    else:
        pids = json.loads((out / "meta.json").read_text())["synthreid_pids"]
        pid_map, cam_map = (lambda p: pids[p]), (lambda c: c + 1)
    _assert_same(_signature(orig.train + orig.val), _signature(back.train, pid_map, cam_map))
    _assert_same(_signature(orig.query), _signature(back.query, pid_map, cam_map))
    _assert_same(_signature(orig.gallery), _signature(back.gallery, pid_map, cam_map))


def test_export_refuses_existing_and_leaves_nothing_on_failure(tmp_path):
    src = make_synth_dataset(tmp_path / "ds", n_ids=3, per_id=2)
    (tmp_path / "out").mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        export(src, tmp_path / "out", "market1501")
    (src / "images" / "00001_c2_0001.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="00001_c2_0001.png"):
        export(src, tmp_path / "new", "market1501", image_ext=".jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "out"]
