"""Planning: every sampled parameter of a dataset as typed plans, drawn without Blender.

``plan_character(spec, ci)`` and ``plan_image(spec, ci, ii)`` are pure functions of the spec
and the indices: each draws from its own generator (see ``sampling.rng_for``), so one image
can be planned alone and the same spec and seed always give the same plan. A plan is made
once, when a dataset is planned (``plan`` / ``render`` / ``enqueue``), and stored; renderers
read the stored plan (``render.model``) instead of planning again.
"""

from __future__ import annotations

from collections.abc import Iterator

from synthreid.dataset import image_stem
from synthreid.render.model import CharacterPlan, ImagePlan
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


def plan_character(spec: DatasetSpec, ci: int) -> CharacterPlan:
    """Character ``ci``: the person and their surroundings."""
    _check_index(spec, ci)
    rng = rng_for(spec.seed, STREAM_CHARACTER, ci)
    person = sample_character(spec, rng)
    images = None
    bg = spec.background
    if bg.mode == "images":
        images = list_background_images(bg.images_dir, "background.images_dir", IMAGE_SUFFIXES)
    elif bg.mode == "panorama":
        images = list_background_images(bg.panoramas_dir, "background.panoramas_dir", PANORAMA_SUFFIXES)
    return CharacterPlan(pid=ci, person=person, background=sample_background(rng, spec, images))


def plan_image(spec: DatasetSpec, ci: int, ii: int, character: CharacterPlan | None = None) -> ImagePlan:
    """Image ``ii`` of character ``ci``: camera, pose, light (and the photo's window)."""
    _check_index(spec, ci, ii)
    if character is None:
        character = plan_character(spec, ci)
    rng = rng_for(spec.seed, STREAM_IMAGE, ci, ii)
    camera = sample_camera(rng, spec.camera, character.center_m)
    pose = sample_pose(spec, rng)
    light = sample_lighting(rng, spec.lighting)
    crop = sample_background_crop(rng) if spec.background.mode == "images" else None
    return ImagePlan(
        pid=ci,
        index=ii,
        camid=camera.camid,
        stem=image_stem(ci, camera.camid, ii),
        camera=camera,
        pose=pose,
        light=light,
        character=character,
        background_crop=crop,
    )


def plan_images(spec: DatasetSpec, start: int = 0, stop: int | None = None) -> Iterator[ImagePlan]:
    """Plans of every image of characters ``start..stop-1`` (all by default), in order."""
    for ci in range(start, spec.characters if stop is None else stop):
        character = plan_character(spec, ci)
        for ii in range(spec.images_per_character):
            yield plan_image(spec, ci, ii, character)
