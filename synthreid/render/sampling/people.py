"""What a person looks like and how they stand, sampled from a DatasetSpec (pure numpy).

``sample_character`` returns a ``PersonPlan`` (``render.model.person``: fields, units and
ranges), ``sample_pose`` the per-image ``PosePlan``.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from synthreid.errors import SpecError
from synthreid.render.model.codec import from_json
from synthreid.render.model.person import HAND_POSES, PersonPlan
from synthreid.render.model.scene import BvhPose, PosePlan, StandPose, WalkPose
from synthreid.render.sampling import asset_files, palettes, uniform
from synthreid.render.sampling.palettes import choice_index, clip, load_json, weighted_choice
from synthreid.render.spec import AGE_BANDS, BOTTOMS, HAIR, SLEEVE_LENGTHS, TOPS

ADULT_AGE = 18.0
WALK_FRACTION_MIXED = 0.5  # pose = "mixed": chance an image shows the walk (else standing)
FRINGES = {
    "short": {"none": 0.5, "side": 0.35, "bangs": 0.15},
    "medium": {"none": 0.35, "side": 0.35, "bangs": 0.3},
    "long": {"none": 0.35, "side": 0.35, "bangs": 0.3},
    "ponytail": {"none": 0.6, "side": 0.2, "bangs": 0.2},
    "bun": {"none": 0.6, "side": 0.2, "bangs": 0.2},
}
SLEEVES = {"tshirt": "short", "longsleeve": "long", "sweater": "long", "jacket": "long", "coat": "long"}


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def _truncnorm(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float) -> float:
    """Normal(mean, sd) restricted to [lo, hi] (rejection, then uniform fallback)."""
    for _ in range(32):
        x = rng.normal(mean, sd)
        if lo <= x <= hi:
            return float(x)
    return float(uniform(rng, lo, hi))


def _growth(age: float) -> float:
    """Fraction of adult height reached at ``age`` (12 y ~ 0.86, 18 y = 1)."""
    return float(np.interp(age, [12.0, 14.0, 16.0, 18.0], [0.86, 0.93, 0.975, 1.0]))


def _sample_body(rng: np.random.Generator, sex: str, age: float, h: float, bmi: float) -> dict:
    """Proportions in metres for a body of height ``h`` (see module doc)."""
    male = sex == "male"
    j = lambda sd=0.03: 1.0 + rng.normal(0.0, sd)  # noqa: E731 - per-measure jitter
    teen = clip((ADULT_AGE - age) / 6.0, 0.0, 1.0)
    old = clip((age - 55.0) / 25.0, 0.0, 1.0)
    fat = (bmi - 22.0) / 10.0  # ~ -0.35 (thin) .. +1 (obese)
    girth = math.sqrt(bmi / 22.0)  # correctly rounded, as np.sqrt
    frame = clip(rng.normal(0.0, 1.0), -2.0, 2.0)  # narrow (-) .. broad (+) skeleton
    head_h = h / (7.5 - 0.6 * teen) * j(0.025)
    body = {
        "head_height": head_h,
        "head_width": head_h * (0.66 if male else 0.64) * j(0.03),
        "neck_length": h * 0.042 * j(0.08),
        "neck_radius": h * (0.027 if male else 0.023) * (0.9 + 0.1 * girth) * j(0.05),
        "shoulder_width": h
        * (0.222 if male else 0.2)
        * (1.0 - 0.06 * teen)
        * (1.0 + 0.05 * frame)
        * j(0.025),
        "chest_width": h
        * (0.175 if male else 0.16)
        * (0.62 + 0.38 * bmi / 22.0)
        * (1.0 + 0.03 * frame)
        * j(0.035),
        "chest_depth": h * (0.118 if male else 0.11) * (0.55 + 0.45 * bmi / 22.0) * j(0.04),
        "waist_width": h * (0.15 if male else 0.13) * (0.45 + 0.55 * bmi / 22.0) * j(0.04),
        "waist_depth": h * (0.11 if male else 0.095) * (0.4 + 0.6 * bmi / 22.0) * j(0.04),
        "hip_width": h * (0.175 if male else 0.195) * (0.65 + 0.35 * bmi / 22.0) * j(0.035),
        "hip_depth": h * (0.115 if male else 0.125) * (0.6 + 0.4 * bmi / 22.0) * j(0.04),
        "hip_joint_width": h * (0.095 if male else 0.102) * j(0.03),
        "leg_length": h * (0.505 + 0.012 * teen) * j(0.015),
        "knee_height": h * 0.285 * j(0.015),
        "ankle_height": h * 0.045,
        "upper_arm": h * 0.186 * j(0.025),
        "forearm": h * 0.146 * j(0.025),
        "hand": h * 0.106 * j(0.03),
        "foot_length": h * (0.152 if male else 0.145) * j(0.03),
        "arm_radius": h * (0.025 if male else 0.022) * (0.5 + 0.5 * bmi / 22.0) * j(0.05),
        "thigh_radius": h * (0.046 if male else 0.048) * (0.5 + 0.5 * bmi / 22.0) * j(0.05),
        "calf_radius": h * (0.03 if male else 0.029) * (0.7 + 0.3 * bmi / 22.0) * j(0.05),
        "bust": 0.0 if male else h * clip(rng.normal(0.018, 0.006), 0.004, 0.035) * (1 - teen * 0.5),
        "belly": h * max(0.0, 0.035 * fat + (0.012 if male else 0.006) * old) * j(0.2),
        "stoop": 16.0 * old * j(0.25) + max(0.0, rng.normal(0.0, 2.5)),  # elderly stoop, some slouch
    }
    return {k: _r(v) for k, v in body.items()}


def _texture(
    rng: np.random.Generator, spec, group: str, color: list[float], forced: str | None = None
) -> dict:
    a = spec.appearance
    kinds = [k for k in a.textures if k != "plain"]
    if forced and forced in a.textures:
        kind = forced
    elif kinds and rng.random() < a.texture_probability:
        kind = kinds[int(rng.integers(len(kinds)))]
    else:
        kind = "plain"
    tex: dict = {"kind": kind}
    if kind == "plain":
        return tex
    lo, hi = load_json("catalog.json")["texture_scale"][kind]
    tex["scale"] = _r(np.exp(uniform(rng, np.log(lo), np.log(hi))))  # pattern period, metres
    tex["color2"] = palettes.second_color(rng, a.palette, group, color)
    tex["angle"] = _r(rng.choice([0.0, 90.0, 45.0]) if kind in ("stripes", "checks") else 0.0, 1)
    tex["seed"] = int(rng.integers(0, 10_000))
    if kind == "print":
        motifs = load_json("catalog.json")["print_motifs"]
        tex["motif"] = motifs[int(rng.integers(len(motifs)))]
        if a.textures_dir:  # a user image instead of the procedural motif
            files = list_prints(a.textures_dir)
            tex["image"] = os.path.abspath(os.path.join(a.textures_dir, files[int(rng.integers(len(files)))]))
    if kind == "plaid":
        tex["color3"] = palettes.second_color(rng, a.palette, group, tex["color2"])
    return tex


PRINT_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_prints(textures_dir: str) -> tuple[str, ...]:
    """Image files (PNG/JPG, relative paths, sorted) under ``appearance.textures_dir``, or SpecError."""
    if not os.path.isdir(textures_dir):
        raise SpecError("appearance.textures_dir", f"{textures_dir}: not a folder")
    files = asset_files(textures_dir, PRINT_SUFFIXES)
    if not files:
        raise SpecError("appearance.textures_dir", f"{textures_dir}: no .png/.jpg/.jpeg images found")
    return files


def _named_colours(a) -> bool:
    """Tops and bottoms get PETA-named colours (palette 'fitted' or appearance.from_images)."""
    return a.palette == "fitted" or a.from_images is not None


def _fitted_color(rng: np.random.Generator, a, group: str) -> tuple[list[float], str]:
    """A colour of ``group`` (top, bottom, jeans) by PETA-name weights: measured on the crops of
    appearance.from_images (upper body for tops, lower body for bottoms and jeans), else the
    spec's *_colors."""
    if a.from_images is not None:
        from synthreid.render.stats import image_colour_weights

        upper, lower = image_colour_weights(a.from_images)
        return palettes.named_color(rng, upper if group == "top" else lower)
    return palettes.named_color(
        rng, {"top": a.top_colors, "bottom": a.bottom_colors, "jeans": a.jeans_colors}[group]
    )


def _weights(spec_weights, names: tuple[str, ...], builtin: dict) -> dict:
    """A spec's weight tuple (order ``names``) as a dict, or the built-in weights when unset."""
    return builtin if spec_weights is None else dict(zip(names, spec_weights, strict=True))


def _sample_age(rng: np.random.Generator, p) -> float:
    """Age in years: uniform over people.age, or by people.age_weights' band, then uniform within it."""
    if p.age_weights is None:
        return float(uniform(rng, *p.age))
    lo, hi = p.age
    spans = [(max(lo, a), min(hi, b)) for a, b in zip(AGE_BANDS[:-1], AGE_BANDS[1:], strict=True)]
    w = np.array([wt if a < b else 0.0 for wt, (a, b) in zip(p.age_weights, spans, strict=True)])
    a, b = spans[choice_index(rng, w / w.sum())]
    return float(uniform(rng, a, b))


def _garment(rng, spec, kind: str, group: str, sex: str) -> dict:
    pal = spec.appearance.palette
    if _named_colours(spec.appearance):
        color, name = _fitted_color(rng, spec.appearance, "jeans" if kind == "jeans" else group)
    else:
        color, name = palettes.garment_color(
            rng, pal, "denim" if kind == "jeans" and pal == "realistic" else group
        )
    forced = "denim" if kind == "jeans" else None
    tex = _texture(rng, spec, group, color, forced)
    # np.exp kept: numpy's float64 exp (SIMD) need not equal libm's in the last bit
    fit = _r(clip(np.exp(rng.normal(0.0, 0.2)), 0.7, 1.5), 3)  # looseness multiplier of the ease
    if kind in ("jacket", "coat"):
        fit = min(fit, 1.2)  # outerwear is already roomy
    out = {"type": kind, "color": color, "color_name": name, "texture": tex, "fit": fit}
    if kind in ("tshirt", "longsleeve", "sweater"):
        out["tucked"] = bool(rng.random() < (0.25 if kind != "sweater" else 0.05))
    return out


def _accessories(rng: np.random.Generator, spec) -> dict:
    a, pal = spec.appearance, spec.appearance.palette
    acc: dict = {k: None for k in ("backpack", "shoulder_bag", "handbag", "hat", "cap", "glasses")}
    u = rng.random(5)  # fixed number of draws keeps later draws stable across probabilities
    if u[0] < a.backpack:
        acc["backpack"] = {
            "color": palettes.garment_color(rng, pal, "accessory")[0],
            "size": [_r(uniform(rng, 0.26, 0.34)), _r(uniform(rng, 0.34, 0.46)), _r(uniform(rng, 0.12, 0.2))],
        }
    if u[1] < a.shoulder_bag:
        acc["shoulder_bag"] = {
            "color": palettes.garment_color(rng, pal, "accessory")[0],
            "side": "left" if rng.random() < 0.5 else "right",
            "size": [_r(uniform(rng, 0.22, 0.32)), _r(uniform(rng, 0.18, 0.26)), _r(uniform(rng, 0.06, 0.1))],
        }
    if u[2] < a.handbag:
        acc["handbag"] = {
            "color": palettes.garment_color(rng, pal, "accessory")[0],
            "side": "left" if rng.random() < 0.5 else "right",
            "size": [_r(uniform(rng, 0.2, 0.3)), _r(uniform(rng, 0.14, 0.22)), _r(uniform(rng, 0.07, 0.11))],
        }
    # hat and cap are one categorical draw so that each keeps its exact marginal rate
    p_hat, p_cap = a.hat, a.cap
    s = p_hat + p_cap
    if s > 1.0:
        p_hat, p_cap = p_hat / s, p_cap / s
    if u[3] < p_hat:
        acc["hat"] = {
            "color": palettes.garment_color(rng, pal, "accessory")[0],
            "brim": _r(uniform(rng, 0.04, 0.08)),
        }
    elif u[3] < p_hat + p_cap:
        acc["cap"] = {
            "color": palettes.garment_color(rng, pal, "accessory")[0],
            "backwards": bool(rng.random() < 0.1),
        }
    if u[4] < a.glasses:
        sun = bool(rng.random() < 0.3)
        acc["glasses"] = {
            "kind": "sun" if sun else "clear",
            "color": [0.02, 0.02, 0.02]
            if rng.random() < 0.7
            else palettes.garment_color(rng, "realistic", "accessory")[0],
        }
    return acc


def _sample_top(rng: np.random.Generator, spec, cat: dict, sex: str) -> tuple[str, dict]:
    """The top garment's kind and JSON values (sleeves, hood, open jacket with its inner colour)."""
    a = spec.appearance
    top_kind = weighted_choice(
        rng, _weights(getattr(a, f"top_weights_{sex}"), TOPS, cat["tops"][sex]), a.tops
    )
    top = _garment(rng, spec, top_kind, "top", sex)
    top["sleeve"] = SLEEVES.get(top_kind) or weighted_choice(rng, cat["dress_sleeves"])
    if a.shirt_sleeves is not None and top_kind == "longsleeve":  # shirts and blouses of any sleeve length
        top["sleeve"] = weighted_choice(rng, dict(zip(SLEEVE_LENGTHS, a.shirt_sleeves, strict=True)))
    if top_kind in ("longsleeve", "sweater") and top["sleeve"] == "long" and rng.random() < 0.15:
        top["sleeve"] = "three_quarter"  # pushed-up sleeves
    if top_kind in ("sweater", "jacket"):
        top["hood"] = bool(rng.random() < (0.35 if top_kind == "sweater" else 0.25))
    if top_kind in ("jacket", "coat"):  # worn open over a shirt in the 'inner' colour
        top["open"] = bool(rng.random() < 0.6)
        top["inner"] = (
            _fitted_color(rng, a, "top")
            if _named_colours(a)
            else palettes.garment_color(rng, a.palette, "top")
        )[0]
    return top_kind, top


def _sample_bottom(rng: np.random.Generator, spec, cat: dict, sex: str) -> dict:
    """The bottom garment's JSON values (leg length covered, cuffs, belt)."""
    a = spec.appearance
    bottoms = _weights(getattr(a, f"bottom_weights_{sex}"), BOTTOMS, cat["bottoms"][sex])
    bottom = _garment(rng, spec, weighted_choice(rng, bottoms, a.bottoms), "bottom", sex)
    # leg length covered: fraction of the thigh (shorts) or of the shin (trousers, jeans)
    if bottom["type"] == "shorts":
        bottom["length"] = _r(uniform(rng, 0.35, 0.85), 3)
    elif bottom["type"] in ("trousers", "jeans"):
        bottom["length"] = _r(0.95 if rng.random() < 0.75 else uniform(rng, 0.7, 0.9), 3)
        bottom["cuffs"] = bool(rng.random() < 0.25)  # rolled up (shows the lighter inside)
        if bottom["cuffs"]:
            bottom["length"] = min(bottom["length"], 0.86)
    if bottom["type"] in ("trousers", "jeans", "shorts") and rng.random() < 0.45:
        bottom["belt"] = (
            [0.02, 0.015, 0.01]
            if rng.random() < 0.6
            else palettes.garment_color(rng, "realistic", "accessory")[0]
        )
    return bottom


def _sample_shoes(rng: np.random.Generator, a) -> dict | None:
    if not a.shoes:
        return None
    kind = a.shoes[int(rng.integers(len(a.shoes)))]
    c, name = palettes.garment_color(rng, a.palette, "shoes")
    sole = [0.9, 0.9, 0.88] if kind == "trainers" and rng.random() < 0.7 else [0.03, 0.03, 0.03]
    return {"type": kind, "color": c, "color_name": name, "sole_color": sole}


def _sample_hair(rng: np.random.Generator, a, cat: dict, sex: str, age: float) -> tuple[dict[str, Any], list]:
    """Hair JSON values, and its linear RGB colour (facial hair takes the same)."""
    style = weighted_choice(rng, _weights(getattr(a, f"hair_weights_{sex}"), HAIR, cat["hair"][sex]), a.hair)
    hcol, hname = palettes.hair_color(rng, age)
    hair: dict[str, Any] = {"style": style, "color": hcol, "color_name": hname}
    if style != "bald":
        hair["fringe"] = weighted_choice(rng, FRINGES[style])
        hair["part"] = 1.0 if rng.random() < 0.5 else -1.0  # side of a side parting's sweep
        hair["volume"] = _r(uniform(rng, 0.75, 1.35), 3)
        hair["length"] = _r(uniform(rng, 0.6, 1.4), 3)
        hair["seed"] = int(rng.integers(0, 10_000))
    return hair, hcol


def sample_character(spec, rng: np.random.Generator) -> PersonPlan:
    """Everything sampled for one person (see ``model.person.PersonPlan``); deterministic in
    (spec, rng state)."""
    p, a = spec.people, spec.appearance
    cat = load_json("catalog.json")
    sex = "female" if rng.random() < p.female_fraction else "male"
    age = _sample_age(rng, p)
    lo, hi = p.height_adult
    mean, sd = (1.65, 0.07) if sex == "female" else (1.78, 0.075)
    adult_h = _truncnorm(rng, mean, sd, lo, hi)
    shrink = max(0.0, age - 50.0) * 0.0012  # elderly lose ~1 cm per decade, kept in range
    height = adult_h * _growth(age) if age < ADULT_AGE else max(lo, adult_h - shrink)
    bmi = _truncnorm(rng, 24.0 + 0.06 * max(0.0, age - 30.0), 3.5, *p.bmi)
    skin, tone = palettes.skin_color(rng)
    body = _sample_body(rng, sex, age, height, bmi)

    top_kind, top = _sample_top(rng, spec, cat, sex)
    bottom = None if top_kind == "dress" else _sample_bottom(rng, spec, cat, sex)
    shoes = _sample_shoes(rng, a)
    hair, hcol = _sample_hair(rng, a, cat, sex, age)
    facial = None
    if sex == "male" and age >= ADULT_AGE and rng.random() < a.facial_hair_probability:
        facial = {"style": weighted_choice(rng, cat["facial_hair"]), "color": hcol}

    hands = HAND_POSES[choice_index(rng, np.asarray(p.hand_poses) / sum(p.hand_poses))]
    out = {
        "sex": sex,
        "age": _r(age, 2),
        "height": _r(height),
        "mass": _r(bmi * height**2, 2),
        "bmi": _r(bmi, 2),
        "skin": skin,
        "skin_tone": tone,
        "body": body,
        "gait": {
            "stride": _r(uniform(rng, 0.7, 1.25)),
            "arm_swing": _r(uniform(rng, 0.3, 1.6)),
            "elbow": _r(uniform(rng, 0.6, 1.5)),
            "lean": _r(uniform(rng, -1.0, 5.0), 2),
        },
        "hands": hands,
        "top": top,
        "bottom": bottom,
        "shoes": shoes,
        "hair": hair,
        "facial_hair": facial,
        "accessories": _accessories(rng, spec),
    }
    if p.meshes_dir:  # drawn last so the procedural draws above stay the same with or without it
        out["mesh"] = _sample_mesh(rng, p)
    # Drawn as JSON values above; one strict conversion makes the typed, validated plan.
    return from_json(PersonPlan, out, "person")


MESH_SUFFIXES = (".glb", ".gltf", ".fbx")


def list_meshes(meshes_dir: str) -> tuple[str, ...]:
    """Rigged character files (.glb/.gltf/.fbx, relative paths, sorted) under ``people.meshes_dir``,
    or SpecError naming the field."""
    if not os.path.isdir(meshes_dir):
        raise SpecError("people.meshes_dir", f"{meshes_dir}: not a folder")
    files = asset_files(meshes_dir, MESH_SUFFIXES)
    if not files:
        raise SpecError("people.meshes_dir", f"{meshes_dir}: no .glb/.gltf/.fbx characters found")
    return files


def _sample_mesh(rng: np.random.Generator, p) -> dict | None:
    """With probability ``people.mesh_probability`` a user character file:
    {"file": path relative to meshes_dir, "root": absolute meshes_dir}; else None (procedural).
    Always two draws, so the choice of one character does not shift the next."""
    files = list_meshes(p.meshes_dir)
    u, k = rng.random(), int(rng.integers(len(files)))
    if u >= p.mesh_probability:
        return None
    return {"file": files[k], "root": os.path.abspath(p.meshes_dir)}


# ---- poses ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _bvh_frames(path: str, mtime: float) -> int:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip().lower().startswith("frames:"):
                try:
                    n = int(line.split(":", 1)[1])
                except ValueError:
                    break
                if n > 0:
                    return n
                break
    raise SpecError("people.motion_dir", f"{path}: not a BVH file with a positive 'Frames:' count")


def list_clips(motion_dir: str) -> list[str]:
    """Relative paths of the ``*.bvh`` files under ``motion_dir`` (sorted), or SpecError."""
    root = Path(motion_dir)
    if not root.is_dir():
        raise SpecError("people.motion_dir", f"{motion_dir}: not a folder")
    clips = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix.lower() == ".bvh")
    if not clips:
        raise SpecError("people.motion_dir", f"{motion_dir}: no .bvh clips found")
    return clips


def sample_pose(spec, rng: np.random.Generator) -> PosePlan:
    """Per-image pose: a BVH frame with ``people.motion_dir``, else walking or standing."""
    p = spec.people
    if p.motion_dir:
        clips = list_clips(p.motion_dir)
        clip = clips[int(rng.integers(len(clips)))]
        full = os.path.join(p.motion_dir, clip)
        n = _bvh_frames(full, os.path.getmtime(full))
        return BvhPose(clip=clip, frame=int(rng.integers(n)))
    walk = p.pose == "walk" or (p.pose == "mixed" and rng.random() < WALK_FRACTION_MIXED)
    if walk:
        return WalkPose(phase=_r(uniform(rng, 0.0, 1.0), 5), head_deg=_r(rng.normal(0.0, 6.0), 2))
    return StandPose(
        weight=_r(uniform(rng, -1.0, 1.0)),
        arms_deg=_r(uniform(rng, 2.0, 12.0), 2),
        head_deg=_r(rng.normal(0.0, 8.0), 2),
    )
