"""Golden hashes of planned values: any change of a single planned value fails here.

Each case plans characters x images of a spec (every preset, plus variants reaching the
samplers' other branches: stand/mixed poses, photo and panorama backgrounds, user meshes,
BVH clips, print images, age bands) and hashes the canonical JSON of every plan. The
constants were computed on the code before the planning speed-ups (issue 15), so speed-ups
must keep every value bit-identical. A deliberate change of the sampling (a new plan
schema) updates the constants in the same commit and says why.

Absolute paths of the temporary asset folders are replaced by ``<TMP>`` before hashing.
The exact constants hold for numpy 1.26 on x86-64 Linux without AVX-512: numpy's AVX-512
loops of exp, power and the like may differ from libm in the last bit, and so would a plan.
A canary (numpy's exp and power on a fixed grid) tells such a platform; there the test
compares digests of every float rounded to 9 significant digits instead (GOLDEN_ROUNDED),
which still fails on any change of sampling logic but not on a last-bit difference.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from synthreid.render.plan import plan_character, plan_image, plan_images
from synthreid.render.spec import DatasetSpec, override_counts

CHARACTERS = 200
IMAGES = 2


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _digest(spec: DatasetSpec, tmp: Path, rounded: bool = False) -> str:
    h = hashlib.sha256()

    def add(value: dict) -> None:
        value = _rounded(value) if rounded else value
        h.update(json.dumps(value, sort_keys=True).replace(str(tmp), "<TMP>").encode())

    last = None
    for plan in plan_images(spec):
        if plan.character is not last:
            last = plan.character
            add(last.to_json())
        add(plan.to_json(character=False))
    # One image drawn alone (its character planned again inside plan_image), one character.
    add(plan_image(spec, CHARACTERS - 3, IMAGES - 1).to_json())
    add(plan_character(spec, 7).to_json())
    return h.hexdigest()


def _assets(tmp: Path) -> dict[str, str]:
    """Folders of fake assets: only names (and a BVH frame count) reach the plans."""
    dirs = {}
    for name, files in {
        "photos": ["a.jpg", "b.png", "sub/c.jpeg", ".hidden.jpg"],
        "panos": ["sky.hdr", "street.exr", "park.jpg"],
        "meshes": ["m1.glb", "m2.fbx", "sub/m3.gltf"],
        "prints": ["p1.png", "p2.jpg"],
    }.items():
        for f in files:
            (tmp / name / f).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name / f).write_bytes(b"x")
        dirs[name] = str(tmp / name)
    (tmp / "motion").mkdir()
    for clip, frames in (("walk.bvh", 120), ("run.bvh", 37)):
        (tmp / "motion" / clip).write_text(f"HIERARCHY\nMOTION\nFrames: {frames}\nFrame Time: 0.03\n")
    dirs["motion"] = str(tmp / "motion")
    return dirs


def _variant(name: str, dirs: dict[str, str]) -> DatasetSpec:
    if name.startswith("preset:"):
        return DatasetSpec.preset(name.split(":", 1)[1])
    base = DatasetSpec.preset("IV-realistic")
    sections: dict[str, dict] = {
        "stand-photos": {
            "people": {"pose": "stand", "age_weights": [0.1, 0.3, 0.3, 0.2, 0.1]},
            "background": {"mode": "images", "images_dir": dirs["photos"]},
        },
        "mixed-panorama-meshes": {
            "people": {"pose": "mixed", "meshes_dir": dirs["meshes"], "mesh_probability": 0.5},
            "background": {"mode": "panorama", "panoramas_dir": dirs["panos"]},
            "appearance": {"textures_dir": dirs["prints"], "texture_probability": 0.9},
        },
        "bvh-room-varied": {
            "people": {"motion_dir": dirs["motion"]},
            "background": {"mode": "room_varied"},
            "appearance": {"shirt_sleeves": [0.5, 0.3, 0.2], "hat": 0.3, "cap": 0.3, "glasses": 0.5},
        },
    }[name]
    return override_counts(base, None, None, **sections)


GOLDEN = {
    "preset:I": "1b2f16fef69c777bdbfbc9635b1525e025e0c919c7d89ef7483fcb25e20934f8",
    "preset:II": "a76b4ce0aa1fd3559067675d3a767eddf10935a4a1891a919de9a84bd714c7ca",
    "preset:III": "2b124ee8d6e5e85e0626870409c1d885c5ce174ca289326573425048449c921b",
    "preset:IV": "c8f088afbbe3ba500ed30c3caaf35616420ece8287120ba0e6b6d24810198def",
    "preset:IV-realistic": "6356970bc6c62484e3feff57844f3ec4e8a1944d6c9098d1b86349ffd9af6028",
    "preset:real": "6baad57a3a9af0eaadeda7ed8a08f6a7db54db5ce6fb3fde31ad3c3f093230f3",
    "stand-photos": "5cebfe5081875bfceaa97b8b19db8e209000242df2f8ae5a79d15e0af076b9d6",
    "mixed-panorama-meshes": "73b60b53bf5cdf885cfabeb9410e8d02fd2007d9bb04dfe97c27606136dfc869",
    "bvh-room-varied": "d1cf89bb8b56e0c5adbfba78db151c92da00673a263f7a2456655ed3ebb17c13",
}


# The same plans with every float rounded to 9 significant digits (used where CANARY differs).
GOLDEN_ROUNDED = {
    "preset:I": "cffb8855a5c6d2f1e2e8f96e0897098abbe509ff0eb9aefab629e60e20b138d3",
    "preset:II": "999464855fed600008c109f6bfaba2deed48abcee627fda4006c003bc75da96e",
    "preset:III": "5f5c0fd679dc7fb968e50e5e83884d8743c6eb2a4e2f70cbf14a103238526dc9",
    "preset:IV": "b8fc8a33a1b6ccfac012daac8629dfafea205aefec83be27bf9223e66ad1db94",
    "preset:IV-realistic": "5da91d94962112848539eafee36b5ec5cecd86f4544bbcb6ec8ce5df2c176681",
    "preset:real": "01f11fea945713ca2b073a73a2d29764cefb9bdaaaca8593c1c79130b6fc499f",
    "stand-photos": "fd881ddc5e0dbeeea14bbba41cd00ee1ad16ed7623b08dbde7ee38fa9bd763a7",
    "mixed-panorama-meshes": "b98b4adcd105f52b781d0ce773ef9d248a42793d141a2548d9b6b2ecbe28c750",
    "bvh-room-varied": "ad3726446f92914262dddab5ab2a9f0035e3018c7afb1f9fc1d1ce9cb669e067",
}


# sha256 of numpy's exp, power and log on a fixed grid, on the platform of GOLDEN.
CANARY = "4ff2006ddb9206fd6ab4efebe78e1079edc92f7aa1944f6620229be71b6d6514"


def _canary() -> str:
    x = np.linspace(-3.0, 3.0, 10_001)
    y = np.linspace(0.0, 1.0, 10_001)
    parts = (np.exp(x), y**2.4, y ** (1 / 2.4), np.log1p(np.abs(x)))
    return hashlib.sha256(b"".join(p.tobytes() for p in parts)).hexdigest()


def test_every_preset_is_covered():
    from synthreid.render.spec import preset_names

    assert {f"preset:{p}" for p in preset_names()} <= set(GOLDEN) == set(GOLDEN_ROUNDED)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_planned_values_are_unchanged(case, tmp_path):
    spec = override_counts(_variant(case, _assets(tmp_path)), CHARACTERS, IMAGES)
    if _canary() == CANARY:
        assert _digest(spec, tmp_path) == GOLDEN[case], f"{case}: a planned value changed"
    else:  # numpy's float loops differ here in the last bit: compare to 9 significant digits
        assert _digest(spec, tmp_path, rounded=True) == GOLDEN_ROUNDED[case], (
            f"{case}: a planned value changed"
        )
