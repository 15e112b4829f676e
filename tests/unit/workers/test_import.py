"""`synthreid import`: real datasets registered in the catalog (kind imported), files in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthreid.cli import main
from synthreid.errors import DatasetError
from synthreid.fsutil import sha256_file
from synthreid.importer import plan_import, register_import
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig

from ..benchmark.bench_fixtures import make_cuhk03np, make_market, make_openreid


def _rows(cat, name):
    ds = cat.get_dataset(name)

    def fn(cur):
        chars = cat.q(
            cur, "SELECT id, idx, attributes FROM characters WHERE dataset_id = ? ORDER BY idx", (ds["id"],)
        ).fetchall()
        imgs = cat.q(
            cur,
            "SELECT character_id, camid, state, path, checksum, params FROM images "
            "WHERE dataset_id = ? ORDER BY id",
            (ds["id"],),
        ).fetchall()
        return chars, imgs

    chars, imgs = cat.run(fn)

    def load(v):
        return v if isinstance(v, dict) else json.loads(v)

    return ds, [(c[0], c[1], load(c[2])) for c in chars], [(*i[:5], load(i[5])) for i in imgs]


def test_market_import_via_cli_and_status(tmp_path, capsys):
    root = tmp_path / "market"
    expected = make_market(root)
    assert main(["import", str(root), "--format", "market1501", "--name", "market-real", "-q"]) == 0
    assert "imported market-real" in capsys.readouterr().out
    cat = open_catalog(FarmConfig.from_env())
    try:
        ds, chars, imgs = _rows(cat, "market-real")
    finally:
        cat.close()
    assert ds["kind"] == "imported" and ds["finalized_at"] is not None
    n = expected["train"] + expected["query"] + expected["gallery"]
    assert len(imgs) == n == ds["spec"]["counts"]["images"]
    pid_of = {cid: attrs["pid"] for cid, _, attrs in chars}
    assert sorted(pid_of.values()) == [0, 1, 2, 3, 4, 5, 6, 10, 11, 12]  # junk (-1) not imported
    assert [a for _, _, a in chars if a["pid"] == 0][0]["distractor"] is True
    subsets = {}
    for _, _, state, path, checksum, params in imgs:
        assert state == "done" and Path(path).is_absolute() and Path(path).parent.parent == root.resolve()
        assert checksum == sha256_file(path) and (root / params["file"]).resolve() == Path(path)
        assert "-1_" not in Path(path).name
        subsets[params["subset"]] = subsets.get(params["subset"], 0) + 1
    assert subsets == {"train": expected["train"], "query": expected["query"], "gallery": expected["gallery"]}
    assert ds["spec"]["splits"] == {"train": [1, 2, 3, 4, 5, 6], "test": [10, 11, 12]}
    assert ds["spec"]["cameras"] == [1, 2] and ds["spec"]["root"] == str(root.resolve())
    assert main(["status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    row = next(d for d in st["datasets"] if d["name"] == "market-real")
    assert (row["kind"], row["total"], row["done"]) == ("imported", n, n)


def test_cuhk03np_and_openreid_imports(tmp_path, catalog):
    make_cuhk03np(tmp_path / "cuhk")
    plan = plan_import(tmp_path / "cuhk", "cuhk03np", "cuhk-np", progress=False)
    register_import(catalog, plan)
    ds, chars, imgs = _rows(catalog, "cuhk-np")
    assert (len(chars), len(imgs)) == (8, 10 + 6 + 12)
    assert ds["spec"]["counts"]["query_images"] == 6 and ds["spec"]["counts"]["cameras"] == 2

    make_openreid(tmp_path / "or", n_ids=6, n_splits=2)
    splits = json.loads((tmp_path / "or" / "splits.json").read_text())
    plan = plan_import(tmp_path / "or", "openreid", "or-split1", split_id=1, progress=False)
    register_import(catalog, plan)
    ds, chars, imgs = _rows(catalog, "or-split1")
    assert len(chars) == 6 and len(imgs) == 24  # every image once, even when listed as query and gallery
    assert ds["spec"]["splits"]["test"] == sorted(splits[1]["query"]) and ds["spec"]["split_id"] == 1
    test_subsets = {
        p["subset"]
        for *_, p in imgs
        if p["file"].startswith(tuple(f"images/{i:08d}_" for i in splits[1]["query"]))
    }
    assert test_subsets == {"query"}  # Open-ReID's query = gallery identities: the first role is kept


def test_unreadable_file_is_named_and_nothing_is_registered(tmp_path, catalog):
    root = tmp_path / "market"
    make_market(root)
    bad = root / "bounding_box_test" / "0011_c2s3_000123_01.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DatasetError, match="0011_c2s3_000123_01.jpg"):
        plan_import(root, "market1501", "broken", progress=False)
    assert catalog.get_dataset("broken") is None and catalog.list_datasets() == []
    plan = plan_import(root, "market1501", "skipping", skip_bad=True, progress=False)
    assert plan.spec["counts"]["skipped"] == 1 and all(im.path != str(bad) for im in plan.images)


def test_name_taken_and_bad_arguments(tmp_path, catalog):
    make_cuhk03np(tmp_path / "cuhk")
    plan = plan_import(tmp_path / "cuhk", "cuhk03np", "dup", progress=False)
    register_import(catalog, plan)
    with pytest.raises(DatasetError, match="'dup' already exists"):
        register_import(catalog, plan)
    assert len(catalog.list_datasets()) == 1
    with pytest.raises(DatasetError, match="dataset name"):
        plan_import(tmp_path / "cuhk", "cuhk03np", "../evil", progress=False)
    with pytest.raises(DatasetError, match="not a folder"):
        plan_import(tmp_path / "nope", "market1501", "x", progress=False)
