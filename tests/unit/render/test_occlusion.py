"""Occlusion composite: determinism, the recorded fraction, rates, placements, validation, datasets."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from synthreid.cli import main
from synthreid.dataset import Dataset
from synthreid.errors import DatasetError, SpecError
from synthreid.render.camera_model import CameraModelSpec
from synthreid.render.degrade import degrade_dataset
from synthreid.render.occlusion import (
    KINDS,
    Donor,
    DonorPool,
    OcclusionSpec,
    choose_kind,
    occlude,
)

from ..refine.refine_helpers import make_source

STEMS = [f"{i:05d}_c{1 + i % 3}_{i:04d}" for i in range(24)]


def figure(h=128, w=64, colour=(200, 30, 220), seed=5):
    """A person-like figure (head + body ellipses) in a flat colour on a textured grey background,
    its mask and three joints."""
    rng = np.random.default_rng(seed)
    img = (90 + rng.integers(-20, 21, (h, w, 1))).repeat(3, axis=2).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx = w / 2
    m = (((xx - cx) / (0.19 * w)) ** 2 + ((yy - 0.55 * h) / (0.39 * h)) ** 2 < 1) | (
        ((xx - cx) / (0.11 * w)) ** 2 + ((yy - 0.125 * h) / (0.065 * h)) ** 2 < 1
    )
    img[m] = colour
    mask = np.where(m, 255, 0).astype(np.uint8)
    joints = {"head": [cx, 0.12 * h], "pelvis": [cx, 0.5 * h], "l_ankle": [cx - 3, 0.9 * h]}
    return img, mask, joints


def donor(seed=6):
    img, mask, _ = figure(colour=(30, 180, 60), seed=seed)
    return Donor(img, mask, "00009_c1_0000")


def only(kind: str, **kw) -> OcclusionSpec:
    return OcclusionSpec(rate=1.0, kinds={kind: 1.0}, **kw)


def area(mask: np.ndarray) -> int:
    return int((mask >= 128).sum())


def test_same_seed_same_bytes_other_seed_differs():
    img, mask, joints = figure()
    spec = OcclusionSpec(rate=1.0)
    for stem in STEMS[:12]:
        a = occlude(img, mask, joints, spec, 3, 2, stem, donor())
        b = occlude(img.copy(), mask.copy(), dict(joints), spec, 3, 2, stem, donor())
        assert a.image.tobytes() == b.image.tobytes() and a.mask.tobytes() == b.mask.tobytes()
        assert a.to_dict() == b.to_dict()
    others = [occlude(img, mask, joints, spec, 4, 2, s, donor()).image.tobytes() for s in STEMS[:12]]
    same = [occlude(img, mask, joints, spec, 3, 2, s, donor()).image.tobytes() for s in STEMS[:12]]
    assert others != same


def test_inputs_are_not_modified():
    img, mask, joints = figure()
    keep = img.copy(), mask.copy()
    d = donor()
    dkeep = d.image.copy(), d.mask.copy()
    for kind in KINDS:
        occlude(img, mask, joints, only(kind), 0, 1, STEMS[0], d)
    assert np.array_equal(img, keep[0]) and np.array_equal(mask, keep[1])
    assert np.array_equal(d.image, dkeep[0]) and np.array_equal(d.mask, dkeep[1])


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "person_behind"])
def test_recorded_fraction_is_the_measured_loss_of_visible_mask(kind):
    img, mask, joints = figure()
    reached = []
    for i, stem in enumerate(STEMS):
        o = occlude(img, mask, joints, only(kind), i, 1 + i % 3, stem, donor())
        assert o.kind == kind and o.placement == "front"
        before, after = area(mask), area(o.mask)
        assert after < before  # a front occluder hides some of the person
        assert abs(o.fraction - (1 - after / before)) <= 1 / before
        assert abs(o.to_dict()["fraction"] - (1 - after / before)) <= 1 / before
        # the mask is exactly the person minus the occluder: never new person pixels
        assert not np.any((o.mask >= 128) & (mask < 128))
        # hidden person pixels show the occluder, not the person's colour
        hidden = (mask >= 128) & (o.mask < 128)
        assert not np.all(o.image[hidden] == img[hidden], axis=-1).any()
        reached.append(o.fraction)
    # placed to reach the sampled coverage (default 0.1-0.45): most land near that range
    reached = np.array(reached)
    assert np.mean((reached >= 0.05) & (reached <= 0.55)) >= 0.75, reached


def test_rate_zero_changes_nothing():
    img, mask, joints = figure()
    spec = OcclusionSpec(rate=0.0)
    for stem in STEMS:
        o = occlude(img, mask, joints, spec, 0, 1, stem, donor())
        assert o.image.tobytes() == img.tobytes() and o.mask.tobytes() == mask.tobytes()
        assert o.kind is None and o.fraction == 0.0 and o.to_dict()["kind"] == "none"


def test_rate_one_occludes_every_image_and_shares_are_followed():
    img, mask, joints = figure()
    spec = OcclusionSpec(rate=1.0)
    kinds = [occlude(img, mask, joints, spec, 0, 1, s, donor()).kind for s in STEMS]
    assert None not in kinds
    assert all(
        occlude(img, mask, joints, spec, 0, 1, s, donor()).image.tobytes() != img.tobytes() for s in STEMS
    )
    drawn = [choose_kind(spec, 0, 1 + i % 5, f"{i:05d}_c1_0000") for i in range(3000)]
    for kind, share in spec.shares.items():
        assert abs(drawn.count(kind) / len(drawn) - share) < 0.03, kind
    half = [choose_kind(OcclusionSpec(rate=0.5), 0, 1, f"{i:05d}_c1_0000") for i in range(2000)]
    assert abs(sum(k is not None for k in half) / 2000 - 0.5) < 0.04


def test_behind_leaves_the_mask_and_the_person_unchanged_but_changes_pixels():
    img, mask, joints = figure()
    for stem in STEMS[:10]:
        o = occlude(img, mask, joints, only("person_behind"), 0, 1, stem, donor())
        assert o.placement == "behind" and o.fraction == 0.0 and o.occluded_joints == ()
        assert o.mask.tobytes() == mask.tobytes()
        assert o.image.tobytes() != img.tobytes()
        inside = mask == 255
        assert np.array_equal(o.image[inside], img[inside])  # the target stays whole
        assert o.donor == "00009_c1_0000"


def test_joints_under_a_front_occluder_are_named():
    img, mask, joints = figure()
    seen = set()
    for i, stem in enumerate(STEMS):
        o = occlude(img, mask, joints, only("post", coverage=(0.3, 0.45)), i, 1, stem)
        for name, (u, v) in joints.items():
            covered = mask[int(v), int(u)] >= 128 and o.mask[int(v), int(u)] < 128
            assert (name in o.occluded_joints) == covered, (stem, name)
        seen.update(o.occluded_joints)
    assert seen  # a wide post over the middle hides some joint at least once


def test_person_kinds_need_a_donor():
    img, mask, joints = figure()
    with pytest.raises(SpecError) as exc:
        occlude(img, mask, joints, only("person_front"), 0, 1, STEMS[0], None)
    assert exc.value.field == "donor"
    # objects need none
    assert occlude(img, mask, joints, only("bin"), 0, 1, STEMS[0]).kind == "bin"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"rate": 1.5}, "rate"),
        ({"rate": -0.1}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": True}, "rate"),
        ({"coverage": (0.5, 0.2)}, "coverage"),
        ({"coverage": (-0.1, 0.2)}, "coverage"),
        ({"coverage": (0.1, 1.2)}, "coverage"),
        ({"coverage": "lots"}, "coverage"),
        ({"front_scale": (-1.0, 1.0)}, "front_scale"),
        ({"kinds": {"tram": 1.0}}, "kinds.tram"),
        ({"kinds": {"post": -1.0}}, "kinds.post"),
        ({"kinds": {"post": 0.0}}, "kinds"),
    ],
)
def test_bad_values_are_spec_errors_naming_the_field(kw, field):
    with pytest.raises(SpecError) as exc:
        OcclusionSpec(**kw)
    assert exc.value.field == field, str(exc.value)
    # inside a camera model the error names the occlusion table and the field
    with pytest.raises(SpecError) as exc:
        CameraModelSpec.from_dict(
            {"occlusion": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}}
        )
    assert exc.value.field == "occlusion" and field in str(exc.value)


def test_unknown_field_and_round_trip():
    with pytest.raises(SpecError) as exc:
        OcclusionSpec.from_dict({"ratio": 0.2})
    assert exc.value.field == "ratio"
    spec = OcclusionSpec(rate=0.4, coverage=(0.2, 0.3), kinds={"post": 2, "bag": 1})
    assert OcclusionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    cam = CameraModelSpec(occlusion=spec)
    assert CameraModelSpec.from_dict(json.loads(json.dumps(cam.to_dict()))) == cam
    # a camera model without occlusion keeps the dict (and study cache key) it had before
    assert "occlusion" not in CameraModelSpec().to_dict()
    assert CameraModelSpec.preset("surveillance+occlusion").occlusion == OcclusionSpec()


def test_toml_occlusion_table(tmp_path):
    p = tmp_path / "cam.toml"
    p.write_text(
        "[camera_model]\nnoise_sigma = [0, 2]\n[camera_model.occlusion]\nrate = 0.25\nkinds = { post = 1 }\n"
    )
    spec = CameraModelSpec.from_toml(p)
    assert spec.occlusion.rate == 0.25 and spec.occlusion.shares["post"] == 1.0
    p.write_text("[occlusion]\nrate = 2\n")
    with pytest.raises(SpecError, match="rate"):
        CameraModelSpec.from_toml(p)


def test_donor_pool_picks_another_identity_of_the_same_split():
    pids = [0, 0, 1, 1, 1, 2, 3, 3, 4]
    groups = {0: "train", 1: "train", 2: "train", 3: "val", 4: "val"}
    pool = DonorPool(pids, groups)
    rng = np.random.default_rng(0)
    for pid in range(5):
        picks = {pool.pick(pid, rng) for _ in range(200)}
        assert all(pids[i] != pid and groups[pids[i]] == groups[pid] for i in picks)
        assert picks == {i for i, p in enumerate(pids) if p != pid and groups[p] == groups[pid]}
    # a split with one identity borrows from the others; a single identity has no donor
    lone = DonorPool([5, 5, 6], {5: "test", 6: "train"})
    assert lone.pick(5, rng) == 2
    assert DonorPool([7, 7]).pick(7, rng) is None


@pytest.fixture
def source(tmp_path):
    root = make_source(tmp_path / "src", n_ids=10, per_id=4, size=(64, 32))
    for p in (root / "meta").glob("*.json"):
        row = json.loads(p.read_text())
        m = np.asarray(Image.open(root / "masks" / f"{p.stem}.png")) >= 128
        ys, xs = np.nonzero(m)
        row["joints2d_crop"] = {"pelvis": [float(xs.mean()) + 0.5, float(ys.mean()) + 0.5]}
        p.write_text(json.dumps(row))
    return root


def geometry_free() -> CameraModelSpec:
    """A camera that leaves the pixels alone: no box jitter, no photometric effect."""
    return CameraModelSpec(
        person_height_px=(4000, 4000),
        blur_sigma=(0, 0),
        motion_blur_px=(0, 0),
        noise_sigma=(0, 0),
        jpeg_quality=(100, 100),
        colour_cast=0.0,
        exposure_ev=(0, 0),
        gamma=(1, 1),
        vignetting=(0, 0),
        box_shift=0.0,
        box_scale=(1, 1),
        box_cut_prob=0.0,
    )


def test_degrade_dataset_records_occlusion_in_every_row_and_keeps_masks_aligned(tmp_path, source):
    spec = dataclasses.replace(CameraModelSpec(), occlusion=OcclusionSpec(rate=0.6))
    out = degrade_dataset(source, tmp_path / "occ", spec, seed=2, progress=False)
    ds, src = Dataset(out), Dataset(source)
    assert ds.manifest["camera_model"]["spec"]["occlusion"]["rate"] == 0.6
    rows = {r["stem"]: r for r in ds.labels()}
    recs = ds.records(require_mask=True)
    assert {r.stem for r in recs} == set(rows) == {r.stem for r in src.records()}
    pid_of = {r.stem: r.pid for r in recs}
    kinds = set()
    for rec in recs:
        row = rows[rec.stem]
        occ = row["occlusion"]
        assert set(occ) == {"kind", "placement", "fraction", "box", "occluded_joints", "donor"}
        kinds.add(occ["kind"])
        if occ["kind"] == "none":
            assert occ["fraction"] == 0.0 and occ["placement"] is None
        if occ["kind"] in ("person_front", "person_behind"):
            assert pid_of[occ["donor"]] != rec.pid
        img, mask = np.asarray(Image.open(out / rec.image)), np.asarray(Image.open(out / rec.mask))
        assert img.shape[:2] == mask.shape
        # the mask of a front occlusion lost the recorded share of the person (before the camera's box)
        if occ["placement"] == "front":
            assert occ["fraction"] > 0
    assert "none" in kinds and len(kinds) >= 3

    # with a camera that changes nothing, the saved mask is exactly occlude()'s visible region and
    # the recorded fraction its measured loss
    flat = dataclasses.replace(geometry_free(), occlusion=OcclusionSpec(rate=1.0))
    out2 = degrade_dataset(source, tmp_path / "flat", flat, seed=2, progress=False)
    for rec in Dataset(out2).records(require_mask=True):
        row = json.loads((out2 / "meta" / f"{rec.stem}.json").read_text())
        before = area(np.asarray(Image.open(source / rec.mask)))
        after = area(np.asarray(Image.open(out2 / rec.mask)))
        assert row["occlusion"]["kind"] != "none"
        assert abs(row["occlusion"]["fraction"] - (1 - after / before)) <= 1 / before
        if row["occlusion"]["placement"] == "behind":
            assert np.array_equal(
                np.asarray(Image.open(out2 / rec.mask)), np.asarray(Image.open(source / rec.mask))
            )


def test_occlusion_rate_zero_dataset_equals_the_camera_alone(tmp_path, source):
    plain = degrade_dataset(source, tmp_path / "plain", CameraModelSpec(), seed=1, progress=False)
    zero = degrade_dataset(
        source, tmp_path / "zero", CameraModelSpec(occlusion=OcclusionSpec(rate=0.0)), seed=1, progress=False
    )
    for rec in Dataset(plain).records():
        assert (plain / rec.image).read_bytes() == (zero / rec.image).read_bytes()
        assert (plain / rec.mask).read_bytes() == (zero / rec.mask).read_bytes()


def test_cli_occlusion_rate_and_refusals(tmp_path, source, capsys):
    out = tmp_path / "cli"
    assert main(["degrade", str(source), "--out", str(out), "--occlusion", "1", "--quiet"]) == 0
    rows = Dataset(out).labels()
    assert all(r["occlusion"]["kind"] != "none" for r in rows)
    assert Dataset(out).manifest["camera_model"]["spec"]["occlusion"]["rate"] == 1.0
    assert (
        main(["degrade", str(source), "--out", str(tmp_path / "bad"), "--occlusion", "1.5", "--quiet"]) != 0
    )
    assert "--occlusion" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    # a dataset of one identity cannot lend another person: refused before anything is written
    one = make_source(tmp_path / "one", n_ids=1, per_id=3, size=(64, 32))
    with pytest.raises(DatasetError, match="second identity"):
        degrade_dataset(
            one, tmp_path / "one-occ", CameraModelSpec(occlusion=OcclusionSpec(rate=1.0)), progress=False
        )
    assert not (tmp_path / "one-occ").exists()
