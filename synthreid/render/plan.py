"""Planning: every sampled parameter of a dataset as typed plans, drawn without Blender.

``plan_character(spec, ci)`` and ``plan_image(spec, ci, ii)`` are pure functions of the spec
and the indices: each draws from its own generator (see ``sampling.rng_for``), so one image
can be planned alone and the same spec and seed always give the same plan. A plan is made
once, when a dataset is planned (``plan`` / ``render`` / ``enqueue``), and stored; renderers
read the stored plan (``render.model``) instead of planning again.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from synthreid.dataset import image_stem
from synthreid.render.model import CharacterPlan, ImagePlan
from synthreid.render.sampling import STREAM_CHARACTER, STREAM_IMAGE, generator, rng_for, seed_states
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


def _background_images(spec: DatasetSpec) -> list[str] | None:
    bg = spec.background
    if bg.mode == "images":
        return list_background_images(bg.images_dir, "background.images_dir", IMAGE_SUFFIXES)
    if bg.mode == "panorama":
        return list_background_images(bg.panoramas_dir, "background.panoramas_dir", PANORAMA_SUFFIXES)
    return None


def _character(
    spec: DatasetSpec, ci: int, rng: np.random.Generator, images: list[str] | None
) -> CharacterPlan:
    person = sample_character(spec, rng)
    return CharacterPlan(pid=ci, person=person, background=sample_background(rng, spec, images))


def _image(
    spec: DatasetSpec, ci: int, ii: int, character: CharacterPlan, rng: np.random.Generator
) -> ImagePlan:
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


def plan_character(spec: DatasetSpec, ci: int) -> CharacterPlan:
    """Character ``ci``: the person and their surroundings."""
    _check_index(spec, ci)
    return _character(spec, ci, rng_for(spec.seed, STREAM_CHARACTER, ci), _background_images(spec))


def plan_image(spec: DatasetSpec, ci: int, ii: int, character: CharacterPlan | None = None) -> ImagePlan:
    """Image ``ii`` of character ``ci``: camera, pose, light (and the photo's window)."""
    _check_index(spec, ci, ii)
    if character is None:
        character = plan_character(spec, ci)
    return _image(spec, ci, ii, character, rng_for(spec.seed, STREAM_IMAGE, ci, ii))


SEED_BLOCK_IMAGES = 4096  # image generators whose seed words are hashed at once (32 B each)


def plan_characters(
    spec: DatasetSpec, start: int = 0, stop: int | None = None
) -> Iterator[tuple[CharacterPlan, list[ImagePlan]]]:
    """Characters ``start..stop-1`` (all by default) in order, each with its images: the plans
    of ``plan_character`` and ``plan_image``, value for value, faster because the generators'
    seeds are hashed for a block of characters at once (``sampling.seed_states``)."""
    stop = spec.characters if stop is None else stop
    if start >= stop:
        return
    _check_index(spec, start)
    _check_index(spec, stop - 1)
    images = _background_images(spec)
    n = spec.images_per_character
    block = max(1, SEED_BLOCK_IMAGES // max(n, 1))
    for a in range(start, stop, block):
        cis = np.arange(a, min(a + block, stop))
        char_words = seed_states(spec.seed, STREAM_CHARACTER, cis[:, None])
        image_words = seed_states(
            spec.seed, STREAM_IMAGE, np.stack([np.repeat(cis, n), np.tile(np.arange(n), len(cis))], axis=1)
        )
        for k, ci in enumerate(cis.tolist()):
            char = _character(spec, ci, generator(char_words[k]), images)
            yield char, [_image(spec, ci, ii, char, generator(image_words[k * n + ii])) for ii in range(n)]


def plan_images(spec: DatasetSpec, start: int = 0, stop: int | None = None) -> Iterator[ImagePlan]:
    """Plans of every image of characters ``start..stop-1`` (all by default), in order."""
    for _, images in plan_characters(spec, start, stop):
        yield from images
