"""Appearance and pose sampling (pure numpy; must work without bpy)."""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest

from synthreid.errors import SpecError
from synthreid.render import spec as S
from synthreid.render.spec import DatasetSpec

N = 2000


@pytest.fixture(scope="module")
def people():
    saved = sys.modules.get("bpy", "absent")
    sys.modules["bpy"] = None  # any bpy import in the sampling path now fails
    try:
        for m in ("synthreid.render.sampling.people", "synthreid.render.sampling.palettes"):
            sys.modules.pop(m, None)
        mod = importlib.import_module("synthreid.render.sampling.people")
    finally:
        if saved == "absent":
            del sys.modules["bpy"]
        else:
            sys.modules["bpy"] = saved
    return mod


def _spec(**appearance) -> DatasetSpec:
    return DatasetSpec.from_dict({"appearance": appearance}) if appearance else DatasetSpec()


def _json(value):
    """A plan value as its JSON (dicts: the tests below read its fields by name)."""
    from synthreid.render.model.codec import to_json

    return to_json(value)


def _draw(people, spec, n=N, seed=0):
    rng = np.random.default_rng(seed)
    return [_json(people.sample_character(spec, rng)) for _ in range(n)]


def test_same_seed_same_person_and_json(people):
    spec = DatasetSpec.preset("IV")
    a = people.sample_character(spec, np.random.default_rng(42))
    b = people.sample_character(spec, np.random.default_rng(42))
    c = people.sample_character(spec, np.random.default_rng(43))
    assert a == b
    assert a != c
    assert json.loads(json.dumps(_json(a))) == _json(a)
    pa = people.sample_pose(spec, np.random.default_rng(1))
    assert pa == people.sample_pose(spec, np.random.default_rng(1))


def test_required_keys(people):
    c = _json(people.sample_character(DatasetSpec.preset("IV"), np.random.default_rng(0)))
    for k in (
        "sex",
        "age",
        "height",
        "mass",
        "skin",
        "body",
        "top",
        "bottom",
        "shoes",
        "hair",
        "facial_hair",
        "accessories",
    ):
        assert k in c
    assert set(c["accessories"]) == set(S.ACCESSORIES)
    assert c["top"]["texture"]["kind"] in S.TEXTURES


def _binom_ok(k: int, n: int, p: float) -> bool:
    return abs(k - n * p) <= 4.5 * np.sqrt(n * p * (1 - p)) + 1


def test_accessory_rates_match_spec(people):
    spec = _spec(backpack=0.3, shoulder_bag=0.1, handbag=0.2, hat=0.15, cap=0.25, glasses=0.4)
    chars = _draw(people, spec)
    for name in S.ACCESSORIES:
        k = sum(c["accessories"][name] is not None for c in chars)
        assert _binom_ok(k, N, getattr(spec.appearance, name)), (name, k)
    assert not any(c["accessories"]["hat"] and c["accessories"]["cap"] for c in chars)


def test_zero_probabilities_and_preset_I(people):
    chars = _draw(people, DatasetSpec.preset("I"), n=300)
    for c in chars:
        assert all(v is None for v in c["accessories"].values())
        assert c["hair"]["style"] == "bald"
        assert c["shoes"] is None
        assert c["facial_hair"] is None
        assert c["top"]["type"] in ("tshirt", "longsleeve")
        assert c["bottom"]["type"] == "trousers"
        assert c["top"]["texture"]["kind"] == "plain"


def test_heights_ages_bmi_in_range(people):
    spec = DatasetSpec.from_dict(
        {
            "people": {
                "age": [14.0, 80.0],
                "height_adult": [1.55, 1.9],
                "bmi": [19.0, 30.0],
                "female_fraction": 0.3,
            }
        }
    )
    chars = _draw(people, spec)
    ages = np.array([c["age"] for c in chars])
    hs = np.array([c["height"] for c in chars])
    assert ages.min() >= 14.0 and ages.max() <= 80.0
    adult = ages >= 18
    assert hs[adult].min() >= 1.55 - 1e-6 and hs.max() <= 1.9 + 1e-6
    assert hs[~adult].min() >= 1.55 * 0.86 - 1e-6
    bmi = np.array([c["bmi"] for c in chars])
    assert bmi.min() >= 19.0 and bmi.max() <= 30.0
    masses = np.array([c["mass"] for c in chars])
    assert np.allclose(masses, bmi * hs**2, rtol=1e-3)
    female = np.array([c["sex"] == "female" for c in chars])
    assert _binom_ok(int(female.sum()), N, 0.3)
    # men are taller on average; heavier people have wider waists
    assert hs[adult & ~female].mean() > hs[adult & female].mean() + 0.05
    waist = np.array([c["body"]["waist_width"] / c["height"] for c in chars])
    for sex in (female, ~female):
        assert np.corrcoef(bmi[sex & adult], waist[sex & adult])[0, 1] > 0.5


def test_only_allowed_types_and_all_types_occur(people):
    chars = _draw(people, _spec(texture_probability=0.9), n=1500)
    tops = {c["top"]["type"] for c in chars}
    bottoms = {c["bottom"]["type"] for c in chars if c["bottom"]}
    assert tops == set(S.TOPS) and bottoms == set(S.BOTTOMS)
    assert {c["shoes"]["type"] for c in chars} == set(S.SHOES)
    assert {c["hair"]["style"] for c in chars} == set(S.HAIR)
    kinds = {c["top"]["texture"]["kind"] for c in chars} | {
        c["bottom"]["texture"]["kind"] for c in chars if c["bottom"]
    }
    assert kinds == set(S.TEXTURES)
    assert all(c["bottom"] is None for c in chars if c["top"]["type"] == "dress")
    narrow = _draw(
        people,
        _spec(tops=["jacket"], bottoms=["shorts"], hair=["bun"], textures=["dots"], texture_probability=1.0),
        n=200,
    )
    assert all(c["top"]["type"] == "jacket" and c["bottom"]["type"] == "shorts" for c in narrow)
    assert all(c["hair"]["style"] == "bun" and c["top"]["texture"]["kind"] == "dots" for c in narrow)


def test_texture_probability(people):
    chars = _draw(people, _spec(texture_probability=0.3, bottoms=["trousers"]))
    k = sum(c["top"]["texture"]["kind"] != "plain" for c in chars)
    assert _binom_ok(k, N, 0.3)


def _sat_val(colors):
    c = np.array(colors)
    mx, mn = c.max(1), c.min(1)
    return np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0), mx


def test_realistic_palette_is_darker_and_less_saturated(people):
    sat = _draw(people, _spec(palette="saturated"), n=800, seed=5)
    real = _draw(people, _spec(palette="realistic"), n=800, seed=5)
    cols = lambda cs: [c["top"]["color"] for c in cs] + [c["bottom"]["color"] for c in cs if c["bottom"]]  # noqa: E731
    s_sat, v_sat = _sat_val(cols(sat))
    s_real, v_real = _sat_val(cols(real))
    assert s_real.mean() < s_sat.mean() - 0.25
    assert np.median(v_real) < np.median(v_sat)
    # realistic clothes are dominated by neutrals: black/grey/white/navy/denim/beige/brown
    names = [c["top"]["color_name"] for c in real]
    neutral = {"black", "navy", "charcoal", "grey", "light_grey", "white", "denim", "beige", "brown", "khaki"}
    assert np.mean([n in neutral for n in names]) > 0.6
    assert 0.05 < np.mean([n == "bright" for n in names]) < 0.3


def test_skin_covers_range(people):
    chars = _draw(people, DatasetSpec(), n=500)
    lum = np.array([np.dot(c["skin"], [0.2126, 0.7152, 0.0722]) for c in chars])
    assert lum.min() < 0.05 and lum.max() > 0.5


def test_grey_hair_with_age(people):
    chars = _draw(people, _spec(hair=["short"]), n=N)
    young = [c["hair"]["color_name"] in ("grey", "white") for c in chars if c["age"] < 30]
    old = [c["hair"]["color_name"] in ("grey", "white") for c in chars if c["age"] > 60]
    assert np.mean(young) < 0.05 < 0.3 < np.mean(old)


def test_facial_hair_only_adult_men(people):
    chars = _draw(people, _spec(facial_hair_probability=0.5))
    fh = [c for c in chars if c["facial_hair"]]
    assert all(c["sex"] == "male" and c["age"] >= 18 for c in fh)
    men = [c for c in chars if c["sex"] == "male" and c["age"] >= 18]
    assert _binom_ok(len(fh), len(men), 0.5)


def test_pose_kinds(people, tmp_path):
    rng = np.random.default_rng(0)
    walk = [people.sample_pose(DatasetSpec(), rng) for _ in range(500)]
    phases = np.array([p.phase for p in walk])
    assert all(p.kind == "walk" for p in walk) and phases.min() >= 0 and phases.max() < 1
    assert np.histogram(phases, bins=5, range=(0, 1))[0].min() > 60
    stand = DatasetSpec.from_dict({"people": {"pose": "stand"}})
    assert people.sample_pose(stand, rng).kind == "stand"
    mixed = DatasetSpec.from_dict({"people": {"pose": "mixed"}})
    kinds = [people.sample_pose(mixed, rng).kind for _ in range(400)]
    assert 100 < kinds.count("walk") < 300


def test_bvh_pose_and_errors(people, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.bvh").write_text(
        "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation "
        "Yrotation Zrotation\n End Site\n {\n OFFSET 0 10 0\n }\n}\n"
        "MOTION\nFrames: 7\nFrame Time: 0.033\n" + "0 0 0\n" * 7
    )
    spec = DatasetSpec.from_dict({"people": {"motion_dir": str(tmp_path)}})
    rng = np.random.default_rng(3)
    poses = [people.sample_pose(spec, rng) for _ in range(50)]
    assert {p.clip for p in poses} == {"sub/a.bvh"}
    assert {p.frame for p in poses} == set(range(7))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpecError, match="motion_dir"):
        people.sample_pose(DatasetSpec.from_dict({"people": {"motion_dir": str(empty)}}), rng)
    (empty / "bad.bvh").write_text("HIERARCHY\nnothing")
    with pytest.raises(SpecError, match="Frames"):
        people.sample_pose(DatasetSpec.from_dict({"people": {"motion_dir": str(empty)}}), rng)


def test_hand_poses_follow_spec_weights(people):
    only_phone = DatasetSpec.from_dict({"people": {"hand_poses": [0.0, 1.0, 0.0]}})
    assert {c["hands"] for c in _draw(people, only_phone, n=50)} == {"phone"}
    mixed = DatasetSpec.from_dict({"people": {"hand_poses": [0.5, 0.25, 0.25]}})
    hands = [c["hands"] for c in _draw(people, mixed, n=800)]
    assert abs(hands.count("free") / 800 - 0.5) < 0.06
    assert abs(hands.count("pockets") / 800 - 0.25) < 0.05
    with pytest.raises(SpecError, match="people.hand_poses"):
        DatasetSpec.from_dict({"people": {"hand_poses": [0.0, 0.0, 0.0]}})


def test_print_images_from_textures_dir(people, tmp_path):
    from PIL import Image

    (tmp_path / "prints").mkdir()
    Image.new("RGBA", (8, 6), (255, 0, 0, 255)).save(tmp_path / "prints" / "logo.png")
    (tmp_path / "prints" / "notes.txt").write_text("not an image")
    spec = _spec(textures=["print"], texture_probability=1.0, textures_dir=str(tmp_path / "prints"))
    tops = [c["top"]["texture"] for c in _draw(people, spec, n=30)]
    assert all(t["kind"] == "print" and t["image"] == str(tmp_path / "prints" / "logo.png") for t in tops)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match="appearance.textures_dir.*no .png"):
        _draw(
            people,
            _spec(textures=["print"], texture_probability=1.0, textures_dir=str(tmp_path / "empty")),
            n=5,
        )
    with pytest.raises(SpecError, match="appearance.textures_dir.*not a folder"):
        _draw(
            people,
            _spec(textures=["print"], texture_probability=1.0, textures_dir=str(tmp_path / "nope")),
            n=5,
        )


def test_hair_and_body_variety(people):
    cs = _draw(people, DatasetSpec(), n=600)
    haired = [c["hair"] for c in cs if c["hair"]["style"] != "bald"]
    assert {h["fringe"] for h in haired} == {"none", "bangs", "side"}
    assert all("fringe" not in c["hair"] for c in cs if c["hair"]["style"] == "bald")
    sw = np.array([c["body"]["shoulder_width"] / c["height"] for c in cs if c["sex"] == "male"])
    assert sw.max() / sw.min() > 1.25  # narrow to broad shoulders
    old = np.mean([c["body"]["stoop"] for c in cs if c["age"] > 68])
    young = np.mean([c["body"]["stoop"] for c in cs if c["age"] < 35])
    assert old > young + 5.0
    swing = np.array([c["gait"]["arm_swing"] for c in cs])
    assert swing.min() < 0.45 and swing.max() > 1.45
    tops = [c["top"] for c in cs if c["top"]["type"] in ("sweater", "jacket")]
    assert any(t["hood"] for t in tops) and not all(t["hood"] for t in tops)
