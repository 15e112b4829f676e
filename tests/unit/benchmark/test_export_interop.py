"""The (path, pid, camid) lists handed to torchreid / fast-reid, without the libraries."""

from __future__ import annotations

import pytest

from synthreid.benchmark.export import export
from synthreid.errors import DatasetError
from synthreid.integrations.fastreid import fastreid_items
from synthreid.integrations.reidlists import load_lists, resolve_root

from .test_export import make_dataset


def sample(root):
    # cameras 2, 5, 9 only (ids far from 0..C-1); train ids 3, 7, 11 (not contiguous)
    cams_of = {3: [2, 5], 7: [5, 9], 11: [9, 2], 20: [2, 5, 5], 21: [9, 9], 22: [5, 2]}
    return make_dataset(root, cams_of, {"train": [3, 7], "val": [11], "test": [20, 21, 22]})


def test_lists_relabel_train_and_map_cameras(tmp_path):
    lists = load_lists(sample(tmp_path / "ds"))
    assert lists.cameras == (2, 5, 9) and lists.train_pids == (3, 7, 11)
    assert sorted((pid, cam) for _, pid, cam in lists.train) == [
        (0, 0),
        (0, 1),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 2),
    ]
    assert sorted((pid, cam) for _, pid, cam in lists.query) == [(20, 0), (22, 0)]
    assert sorted((pid, cam) for _, pid, cam in lists.gallery) == [
        (20, 1),
        (20, 1),
        (21, 2),
        (21, 2),
        (22, 1),
    ]
    assert "3 cameras" in lists.summary()


@pytest.mark.parametrize("fmt", ["market1501", "openreid"])
def test_exports_give_the_same_lists(tmp_path, fmt):
    src = sample(tmp_path / "ds")
    a = load_lists(src)
    b = load_lists(export(src, tmp_path / fmt, fmt))
    assert b.format == fmt and b.num_train_pids == a.num_train_pids and b.num_cameras == a.num_cameras
    # train ids are relabelled in both; test ids keep each format's numbering, cameras agree
    assert sorted((p, c) for _, p, c in a.train) == sorted((p, c) for _, p, c in b.train)
    assert sorted(c for *_, c in a.query) == sorted(c for *_, c in b.query)
    assert len(a.gallery) == len(b.gallery)


def test_resolve_root_and_clear_errors(tmp_path):
    src = sample(tmp_path / "root" / "synthreid")
    assert resolve_root(src, "synthreid") == src
    assert resolve_root(tmp_path / "root", "synthreid") == src
    with pytest.raises(DatasetError, match="neither it nor"):
        resolve_root(tmp_path, "synthreid")
    only_train = make_dataset(
        tmp_path / "t", {0: [1, 2], 1: [1, 2]}, {"train": [0, 1], "val": [], "test": []}
    )
    with pytest.raises(DatasetError, match="query list is empty"):
        load_lists(only_train)


def test_fastreid_convention(tmp_path):
    lists = load_lists(sample(tmp_path / "ds"))
    train, query, gallery = fastreid_items(lists, "synthreid:x")
    assert {pid for _, pid, _ in train} == {"synthreid:x_0", "synthreid:x_1", "synthreid:x_2"}
    assert {cam for *_, cam in train} == {"synthreid:x_0", "synthreid:x_1", "synthreid:x_2"}
    assert query == list(lists.query) and gallery == list(lists.gallery)
