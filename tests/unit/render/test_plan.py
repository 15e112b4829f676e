"""Seeded planning: same spec and seed give the same parameters; any image can be re-drawn alone."""

import json
import subprocess
import sys

import pytest

from synthreid.dataset import Dataset
from synthreid.errors import DatasetError
from synthreid.render.output import init_dataset
from synthreid.render.plan import plan_character, plan_image, plan_images
from synthreid.render.spec import DatasetSpec


def spec(**kw):
    base = {
        "name": "p",
        "seed": 5,
        "characters": 6,
        "images_per_character": 3,
        "splits": {"test": 1, "val": 1},
    }
    base.update(kw)
    return DatasetSpec.from_dict(base)


def test_same_seed_same_parameters():
    a = [json.dumps(r.to_json(), sort_keys=True) for r in plan_images(spec())]
    b = [json.dumps(r.to_json(), sort_keys=True) for r in plan_images(spec())]
    assert a == b and len(a) == 18
    c = [json.dumps(r.to_json(), sort_keys=True) for r in plan_images(spec(seed=6))]
    assert sum(x != y for x, y in zip(a, c, strict=True)) == 18


def test_single_image_redrawn_alone_matches_full_plan():
    s = spec()
    rows = {(r.pid, r.index): r for r in plan_images(s)}
    for ci, ii in [(0, 0), (4, 2), (5, 1)]:
        assert plan_image(s, ci, ii) == rows[(ci, ii)]
        assert plan_character(s, ci) == rows[(ci, ii)].character


def test_more_characters_do_not_change_earlier_ones():
    small, large = spec(characters=3), spec(characters=50)
    assert plan_character(small, 2) == plan_character(large, 2)
    assert plan_image(small, 2, 1) == plan_image(large, 2, 1)


def test_index_out_of_range():
    with pytest.raises(IndexError):
        plan_image(spec(), 6, 0)
    with pytest.raises(IndexError):
        plan_image(spec(), 0, 3)


def test_camera_ids_and_polar_within_spec():
    s = spec(characters=40, camera={"polar": [60.0, 80.0], "camera_ids": 4})
    for r in plan_images(s):
        assert 60.0 - 1e-6 <= r.camera.polar_deg <= 80.0 + 1e-6
        assert 1 <= r.camid <= 4
        assert r.stem == f"{r.pid:05d}_c{r.camid}_{r.index:04d}"


def test_plan_writes_manifest_and_labels(tmp_path):
    s = spec()
    init_dataset(s, tmp_path / "d")
    ds = Dataset(tmp_path / "d")
    assert ds.manifest["counts"]["images"] == 18
    splits = ds.splits
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == list(range(6))
    rows = list(ds.labels())
    assert len(rows) == 18 and all(r["state"] == "planned" for r in rows)
    init_dataset(s, tmp_path / "d")  # idempotent
    with pytest.raises(DatasetError, match="different spec"):
        init_dataset(spec(seed=9), tmp_path / "d")


def test_render_sampling_imports_without_bpy():
    code = (
        "import sys; sys.modules['bpy'] = None; sys.modules['mathutils'] = None\n"
        "import synthreid.render.sampling.camera, synthreid.render.sampling.people, synthreid.render.plan\n"
        "import synthreid.render.geometry, synthreid.render.spec, synthreid.cli\n"
        "from synthreid.cli import build_parser; build_parser()\n"
        "assert 'torch' not in sys.modules, 'the CLI must not import torch at start-up'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _half_created(root):
    """What a creation stopped before its manifest leaves (killed, or the disk filled up)."""
    for sub in ("images", "masks", "meta"):
        (root / sub).mkdir(parents=True)
    (root / "labels.jsonl").write_text('{"stem": "00000_c1_0000", "st')  # torn
    (root / "images" / ".00000_c1_0000.png.77.tmp").write_bytes(b"torn")


def test_an_interrupted_creation_is_completed_not_refused(tmp_path):
    # Found by scripts/battery.py: `render` on a full disk stopped inside init_dataset, and every
    # later `render` of that folder refused it ("exists, is not empty and has no manifest.json").
    root = tmp_path / "d"
    _half_created(root)
    (root / ".synthreid").mkdir()  # dot entries (the embedded catalog's folder) are kept
    init_dataset(spec(), root)
    rows = list(Dataset(root).labels())
    assert len(rows) == 18 and (root / "manifest.json").is_file()
    assert not list(root.rglob("*.tmp")) and (root / ".synthreid").is_dir()


def test_a_folder_that_is_not_a_half_created_dataset_is_still_refused(tmp_path):
    from synthreid.render.output import half_initialised

    mine = tmp_path / "mine"
    _half_created(mine)
    (mine / "notes.txt").write_text("mine")
    labels_only = tmp_path / "labels-only"  # a labels.jsonl is ours only after our three folders
    labels_only.mkdir()
    (labels_only / "labels.jsonl").write_text("{}\n")
    rendered = tmp_path / "rendered"
    _half_created(rendered)
    (rendered / "images" / "00000_c1_0000.png").write_bytes(b"x")
    for root in (mine, labels_only, rendered):
        assert not half_initialised(root), root
        with pytest.raises(DatasetError, match="has no manifest.json"):
            init_dataset(spec(), root)
    assert (mine / "notes.txt").read_text() == "mine" and (labels_only / "labels.jsonl").read_text() == "{}\n"
