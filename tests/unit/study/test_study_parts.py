"""Pieces of a study: content keys, the step cache, flat target folders, baseline features."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from synthreid.benchmark import protocols
from synthreid.benchmark.datasets import read_dataset
from synthreid.errors import DatasetError
from synthreid.study import baselines
from synthreid.study.cache import StepCache, step_key
from synthreid.study.fingerprint import FingerprintMemo
from synthreid.study.targets import flat_image_folder

from .study_fixtures import make_market


def test_folder_key_follows_content_not_place_or_time(tmp_path):
    make_market(tmp_path / "d", seed=0)
    memo = FingerprintMemo(tmp_path / "memo.json")
    key = memo.folder(tmp_path / "d")
    memo.save()
    shutil.copytree(tmp_path / "d", tmp_path / "e")
    assert FingerprintMemo(tmp_path / "memo.json").folder(tmp_path / "e") == key
    f = sorted((tmp_path / "d" / "query").iterdir())[0]
    os.utime(f, ns=(1, 1))
    (tmp_path / "d" / "query" / ".hidden.tmp").write_bytes(b"x")
    assert FingerprintMemo(tmp_path / "memo.json").folder(tmp_path / "d") == key
    f.write_bytes(f.read_bytes() + b"\0")
    assert FingerprintMemo(tmp_path / "memo.json").folder(tmp_path / "d") != key
    with pytest.raises(DatasetError):
        memo.folder(tmp_path / "missing")


def test_step_keys_and_done_marker(tmp_path):
    assert step_key("train", {"a": 1, "b": [1, 2]}) == step_key("train", {"b": [1, 2], "a": 1})
    assert step_key("train", {"a": 1}) != step_key("evaluate", {"a": 1})
    assert step_key("train", {"a": 1}) != step_key("train", {"a": 2})
    cache = StepCache(tmp_path)
    key = step_key("train", {"a": 1})
    folder = cache.begin("train", key, {"what": "x"})
    assert cache.record("train", key) is None
    (folder / "done.json").write_text("{trunc")  # a torn marker is not done
    assert cache.record("train", key) is None
    cache.finish("train", key, {"result": {"x": 1}})
    assert cache.record("train", key)["result"] == {"x": 1}


def test_flat_image_folder_links_nested_images(tmp_path):
    for sub in ("mit", "inria/x"):
        (tmp_path / "crops" / sub).mkdir(parents=True)
        Image.new("RGB", (8, 16)).save(tmp_path / "crops" / sub / "p1.png")
    (tmp_path / "crops" / "README.txt").write_text("not an image")
    flat = flat_image_folder(tmp_path / "crops", tmp_path / "flat")
    assert sorted(p.name for p in flat.iterdir()) == ["inria__x__p1.png", "mit__p1.png"]
    assert (flat / "mit__p1.png").resolve() == (tmp_path / "crops" / "mit" / "p1.png").resolve()
    assert flat_image_folder(tmp_path / "crops" / "mit", tmp_path / "flat2") == (tmp_path / "crops" / "mit")
    with pytest.raises(DatasetError):
        flat_image_folder(tmp_path / "flat2", tmp_path / "flat3")


def test_uniform_lbp_has_58_patterns_and_flat_patch_is_uniform():
    table = baselines._uniform_lbp_table()
    assert table.max() == 58 and len(set(table[table < 58].tolist())) == 58
    codes = baselines.lbp_codes(np.full((10, 10), 7, dtype=np.int16), 1)
    assert len(np.unique(codes)) == 1 and codes[0, 0] < 58  # all neighbours >= centre: one uniform code


def test_handcrafted_features_match_people_far_above_chance(tmp_path):
    ds = read_dataset(make_market(tmp_path / "d", test_ids=range(20, 40), seed=5))
    res = protocols.evaluate("market", ds, baselines.lomo_features)
    chance = baselines.average_results(
        [protocols.evaluate("market", ds, baselines.random_extractor(d)) for d in range(40)]
    )
    # 20 query ids, 2 valid matches among 59 valid gallery images each: chance rank-1 = 2/59
    assert chance["rank1"] == pytest.approx(2 / 59, abs=0.03)
    assert res["rank1"] > 5 * chance["rank1"]  # 0.30 here, chance 0.034
    f = baselines.lomo_features(ds.query[:2])
    assert f.shape[0] == 2 and np.allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
