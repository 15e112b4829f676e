"""Backgrounds and lighting, pure numpy. Colours are linear RGB in [0, 1]."""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np

from synthreid.render.model.codec import from_json
from synthreid.render.model.scene import (
    FLOOR_TEXTURES,
    WALL_TEXTURES,
    BackgroundCrop,
    BackgroundPlan,
    LightPlan,
)
from synthreid.render.sampling import asset_files, uniform, uniforms

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PANORAMA_SUFFIXES = (".png", ".jpg", ".jpeg", ".hdr", ".exr")


def _srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def hsv_linear(h: float, s: float, v: float) -> list[float]:
    """HSV (all in [0, 1], perceptual sRGB) to linear RGB."""
    return [round(_srgb_to_linear(c), 5) for c in colorsys.hsv_to_rgb(h % 1.0, s, v)]


def _plain_color(rng, s_range=(0.1, 0.8), v_range=(0.25, 0.9)) -> list[float]:
    return hsv_linear(uniform(rng), uniform(rng, *s_range), uniform(rng, *v_range))


def list_background_images(
    folder: str | Path | None,
    field: str = "background.images_dir",
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
) -> list[str]:
    """Sorted relative paths of the usable images in a background folder (see docs/backgrounds.md).

    Raises DatasetError naming ``field`` when the folder is missing or holds no usable file.
    """
    from synthreid.errors import DatasetError

    if folder is None:
        raise DatasetError(f"{field}: not set")
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{field} {root}: no such folder")
    files = list(asset_files(root, suffixes))
    if not files:
        raise DatasetError(f"{field} {root}: no {'/'.join(suffixes)} files found")
    return files


def sample_background(rng: np.random.Generator, spec, images: list[str] | None = None) -> BackgroundPlan:
    """Per-character surroundings (kept for all of the character's images, as in the thesis)."""
    return from_json(BackgroundPlan, _draw_background(rng, spec, images), "background")


def _draw_background(rng: np.random.Generator, spec, images: list[str] | None) -> dict:
    bg = spec.background
    if bg.mode == "room":
        return {
            "mode": "room",
            "wall": {"kind": "plain", "color": list(bg.wall_color)},
            "floor": {"kind": "plain", "color": list(bg.floor_color)},
        }
    if bg.mode == "room_varied":
        return {
            "mode": "room_varied",
            "wall": {"kind": "plain", "color": _plain_color(rng)},
            "floor": {"kind": "plain", "color": _plain_color(rng, (0.0, 0.4), (0.1, 0.7))},
        }
    if bg.mode == "textured":

        def surface(kinds):
            kind = str(rng.choice(kinds))
            return {
                "kind": kind,
                "color": _plain_color(rng, (0.05, 0.6), (0.2, 0.85)),
                "color2": _plain_color(rng, (0.0, 0.5), (0.1, 0.9)),
                "scale": float(uniform(rng, 0.6, 1.6)),
                "seed": int(rng.integers(0, 2**31 - 1)),
            }

        return {"mode": "textured", "wall": surface(WALL_TEXTURES), "floor": surface(FLOOR_TEXTURES)}
    if bg.mode == "images":
        if not images:
            images = list_background_images(bg.images_dir)
        return {"mode": "images", "image": str(rng.choice(images)), "floor": {"kind": "shadow_catcher"}}
    if bg.mode == "panorama":
        if not images:
            images = list_background_images(bg.panoramas_dir, "background.panoramas_dir", PANORAMA_SUFFIXES)
        return {
            "mode": "panorama",
            "image": str(rng.choice(images)),
            "rotation_deg": float(uniform(rng, 0.0, 360.0)),
            "strength": float(uniform(rng, *bg.panorama_strength)),
            "floor": {"kind": "shadow_catcher"},
        }
    raise ValueError(f"background.mode {bg.mode!r}")  # guarded by the spec


def kelvin_to_linear_rgb(kelvin: float) -> list[float]:
    """Approximate black-body colour (Tanner Helland's fit), normalised so max = 1, linear."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = (
        99.4708025861 * math.log(t) - 161.1195681661
        if t <= 66
        else 288.1221695283 * (t - 60) ** -0.0755148492
    )
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
    rgb = [_srgb_to_linear(min(255.0, max(0.0, c)) / 255.0) for c in (r, g, b)]
    m = max(rgb)
    return [round(c / m, 5) for c in rgb]


def sample_lighting(rng: np.random.Generator, lighting) -> LightPlan:
    """Per-image sun (strength W/m^2, elevation/azimuth deg, colour) and world ambient strength."""
    kelvin, strength, elevation, azimuth, ambient = uniforms(
        rng,
        (
            lighting.color_temperature,
            lighting.sun_strength,
            lighting.sun_elevation,
            (0.0, 360.0),
            lighting.ambient,
        ),
    )
    r, g, b = kelvin_to_linear_rgb(kelvin)
    return LightPlan(
        sun_strength=strength,
        sun_elevation_deg=elevation,
        sun_azimuth_deg=azimuth,
        sun_kelvin=kelvin,
        sun_color=(r, g, b),
        ambient=ambient,
    )


def sample_background_crop(rng: np.random.Generator) -> BackgroundCrop:
    """Where a background photo is cut for one image: a window of relative size and offset."""
    scale, x, y, flip = uniforms(rng, ((0.35, 1.0), (0.0, 1.0), (0.0, 1.0), (0.0, 1.0)))
    return BackgroundCrop(scale=scale, x=x, y=y, flip=flip < 0.5)
