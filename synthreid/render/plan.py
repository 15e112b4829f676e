"""Every sampled parameter of a dataset, drawn without Blender.

``plan_character(spec, ci)`` and ``plan_image(spec, ci, ii)`` are pure functions of the spec
and the indices: each draws from its own generator (see ``sampling.rng_for``), so one image
can be re-drawn alone and the same spec and seed always give the same parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

from synthreid.dataset import image_stem
from synthreid.render.sampling import STREAM_CHARACTER, STREAM_IMAGE, rng_for
from synthreid.render.sampling.camera import sample_camera
from synthreid.render.sampling.people import sample_character, sample_pose
from synthreid.render.sampling.scene import (
    IMAGE_SUFFIXES,
    PANORAMA_SUFFIXES,
    list_background_images,
    sample_background,
    sample_background_crop,
    sample_lighting,
)
from synthreid.render.spec import DatasetSpec


def _check_index(spec: DatasetSpec, ci: int, ii: int | None = None) -> None:
    if not 0 <= ci < spec.characters:
        raise IndexError(f"character index {ci} outside 0..{spec.characters - 1}")
    if ii is not None and not 0 <= ii < spec.images_per_character:
        raise IndexError(f"image index {ii} outside 0..{spec.images_per_character - 1}")


def plan_character(spec: DatasetSpec, ci: int) -> dict:
    """Attributes of character ``ci`` (JSON): person attributes and surroundings."""
    _check_index(spec, ci)
    rng = rng_for(spec.seed, STREAM_CHARACTER, ci)
    attributes = sample_character(spec, rng)
    images = None
    if spec.background.mode == "images":
        images = list_background_images(spec.background.images_dir, "background.images_dir", IMAGE_SUFFIXES)
    elif spec.background.mode == "panorama":
        images = list_background_images(
            spec.background.panoramas_dir, "background.panoramas_dir", PANORAMA_SUFFIXES
        )
    background = sample_background(rng, spec, images)
    return {"pid": ci, "attributes": attributes, "background": background}


def character_center(character: dict) -> list[float]:
    """The point the cameras aim at: half the person's height above the floor (metres)."""
    return [0.0, 0.0, round(0.5 * float(character["attributes"]["height"]), 6)]


def plan_image(spec: DatasetSpec, ci: int, ii: int, character: dict | None = None) -> dict:
    """Parameters of image ``ii`` of character ``ci`` (JSON): camera, pose, light."""
    _check_index(spec, ci, ii)
    if character is None:
        character = plan_character(spec, ci)
    rng = rng_for(spec.seed, STREAM_IMAGE, ci, ii)
    camera = sample_camera(rng, spec.camera, character_center(character))
    pose = sample_pose(spec, character["attributes"], rng)
    light = sample_lighting(rng, spec.lighting)
    row = {
        "pid": ci,
        "camid": camera["camid"],
        "index": ii,
        "stem": image_stem(ci, camera["camid"], ii),
        "camera": camera,
        "pose": pose,
        "light": light,
    }
    if spec.background.mode == "images":
        row["background_crop"] = sample_background_crop(rng)
    return row


def plan_rows(spec: DatasetSpec) -> Iterator[dict]:
    """Planned label rows of every image: image parameters plus the character's attributes."""
    for ci in range(spec.characters):
        character = plan_character(spec, ci)
        for ii in range(spec.images_per_character):
            row = plan_image(spec, ci, ii, character)
            row["character"] = character
            yield row
