"""Golden hashes of planned values: any change of a single planned value fails here.

Each case plans characters x images of a spec (every preset, plus variants reaching the
samplers' other branches: stand/mixed poses, photo and panorama backgrounds, user meshes,
BVH clips, print images, age bands) and hashes the canonical JSON of every plan. The
constants were computed on the code before the planning speed-ups (issue 15), so speed-ups
must keep every value bit-identical. A deliberate change of the sampling (a new plan
schema) updates the constants in the same commit and says why.

Absolute paths of the temporary asset folders are replaced by ``<TMP>`` before hashing.
The constants hold for numpy 1.26 on x86-64 Linux without AVX-512: numpy's AVX-512 loops of
exp, power and the like may differ from libm in the last bit, and so would a plan.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from synthreid.render.plan import plan_character, plan_image, plan_images
from synthreid.render.spec import DatasetSpec, override_counts

CHARACTERS = 200
IMAGES = 2


def _digest(spec: DatasetSpec, tmp: Path) -> str:
    h = hashlib.sha256()

    def add(value: dict) -> None:
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


def test_every_preset_is_covered():
    from synthreid.render.spec import preset_names

    assert {f"preset:{p}" for p in preset_names()} <= set(GOLDEN)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_planned_values_are_unchanged(case, tmp_path):
    spec = override_counts(_variant(case, _assets(tmp_path)), CHARACTERS, IMAGES)
    assert _digest(spec, tmp_path) == GOLDEN[case], f"{case}: a planned value changed"
