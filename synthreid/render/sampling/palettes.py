"""Colour palettes for clothes, hair and skin (pure numpy).

All returned colours are linear RGB lists in [0, 1] (what Blender's shader sockets expect).
The palette data lives in ``synthreid/assets/people/palettes.json`` as sRGB hex.
"""

from __future__ import annotations

import colorsys
import functools
import json
from pathlib import Path

import numpy as np

from synthreid.errors import SpecError

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "people"


@functools.cache
def load_json(name: str) -> dict:
    """A JSON file of ``assets/people`` (cached; treat as read-only)."""
    return json.loads((ASSET_DIR / name).read_text())


def srgb_to_linear(c) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def hex_to_srgb(h: str) -> np.ndarray:
    h = h.lstrip("#")
    return np.array([int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4)])


def _rgb_list(lin) -> list[float]:
    return [round(float(v), 5) for v in np.clip(lin, 0.0, 1.0)]


def _hsv_draw(rng: np.random.Generator, cfg: dict) -> np.ndarray:
    h = rng.uniform(*cfg["hue"]) % 1.0
    s = rng.uniform(*cfg["saturation"])
    v = rng.uniform(*cfg["value"])
    return np.array(colorsys.hsv_to_rgb(h, s, v))


def _jitter(rng: np.random.Generator, srgb: np.ndarray, jit) -> np.ndarray:
    h, s, v = colorsys.rgb_to_hsv(*np.clip(srgb, 0, 1))
    h = (h + rng.normal(0.0, jit[0])) % 1.0
    s = float(np.clip(s * (1.0 + rng.normal(0.0, jit[1])), 0.0, 1.0))
    v = float(np.clip(v * (1.0 + rng.normal(0.0, jit[2])), 0.0, 1.0))
    return np.array(colorsys.hsv_to_rgb(h, s, v))


def weighted_choice(rng: np.random.Generator, weights: dict[str, float], allowed=None) -> str:
    """A key of ``weights`` drawn by weight, restricted to ``allowed`` (uniform if all weights are 0)."""
    keys = [k for k in weights if allowed is None or k in allowed]
    if allowed is not None:
        keys += [k for k in allowed if k not in weights]
    if not keys:
        raise SpecError("appearance", "nothing to choose from")
    w = np.array([max(0.0, float(weights.get(k, 0.0))) for k in keys])
    w = np.ones(len(keys)) if w.sum() <= 0 else w
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def garment_color(rng: np.random.Generator, palette: str, group: str) -> tuple[list[float], str]:
    """(linear RGB, colour name) for a garment ``group`` (top, bottom, denim, shoes, accessory).
    Palette 'fitted' draws its weighted groups with ``named_color``; here it means 'realistic'."""
    cfg = load_json("palettes.json")
    if palette not in ("saturated", "realistic", "fitted"):
        raise SpecError("appearance.palette", f"{palette!r} is not one of: saturated, realistic, fitted")
    if palette == "saturated":
        srgb = _hsv_draw(rng, cfg["saturated"])
        return _rgb_list(srgb_to_linear(srgb)), "saturated"
    real = cfg["realistic"]
    name = weighted_choice(rng, real["groups"][group])
    if name == "bright":
        srgb = _hsv_draw(rng, real["bright"])
    else:
        srgb = _jitter(rng, hex_to_srgb(real["colors"][name]), real["jitter"])
    return _rgb_list(srgb_to_linear(srgb)), name


NAMED_JITTER = (0.015, 0.12, 0.12)  # HSV jitter of named colours (hue turns, saturation and value fractions)


def named_color(rng: np.random.Generator, weights) -> tuple[list[float], str]:
    """(linear RGB, PETA colour name): a name drawn by ``weights`` (11, order of
    ``colournames.COLOUR_NAMES``), then a jittered prototype of it that still maps to that name."""
    from synthreid.render.colournames import COLOUR_NAMES, PROTOTYPES, colour_name

    w = np.asarray(weights, dtype=np.float64)
    name = COLOUR_NAMES[int(rng.choice(len(COLOUR_NAMES), p=w / w.sum()))]
    protos = PROTOTYPES[name]
    base = hex_to_srgb(protos[int(rng.integers(len(protos)))])
    jitters = [_jitter(rng, base, NAMED_JITTER) for _ in range(8)]  # fixed draw count per colour
    srgb = next((j for j in jitters if colour_name(j) == name), base)
    return _rgb_list(srgb_to_linear(srgb)), name


def second_color(rng: np.random.Generator, palette: str, group: str, base: list[float]) -> list[float]:
    """A pattern's second colour: contrasting light/dark or another palette colour."""
    if rng.random() < 0.5:
        base_s = linear_to_srgb(base)
        lum = float(base_s @ np.array([0.299, 0.587, 0.114]))
        shade = rng.uniform(0.05, 0.25) if lum > 0.5 else rng.uniform(0.75, 0.95)
        mix = rng.uniform(0.6, 0.9)
        srgb = (1 - mix) * base_s + mix * np.full(3, shade)
        return _rgb_list(srgb_to_linear(srgb))
    return garment_color(rng, palette, group)[0]


def hair_color(rng: np.random.Generator, age: float) -> tuple[list[float], str]:
    """Natural hair colour; grey/white probability grows from ~35 years on."""
    cfg = load_json("palettes.json")["hair"]
    w = dict(cfg["weights"])
    grey = float(np.clip((age - 35.0) / 40.0, 0.0, 0.9))
    total = sum(w.values())
    for k in w:
        w[k] *= (1.0 - grey) / total
    w["grey"] += grey * 0.6
    w["white"] += grey * 0.4
    name = weighted_choice(rng, w)
    srgb = _jitter(rng, hex_to_srgb(cfg["colors"][name]), (0.01, 0.08, 0.1))
    return _rgb_list(srgb_to_linear(srgb)), name


def skin_color(rng: np.random.Generator) -> tuple[list[float], float]:
    """(linear RGB, tone in [0, 1]) covering very dark to very light skin."""
    ramp = np.array([hex_to_srgb(h) for h in load_json("palettes.json")["skin"]["ramp"]])
    tone = float(rng.uniform(0.0, 1.0))
    x = tone * (len(ramp) - 1)
    i = min(int(x), len(ramp) - 2)
    srgb = ramp[i] * (1 - (x - i)) + ramp[i + 1] * (x - i)
    srgb = srgb * (1.0 + rng.normal(0.0, 0.03, 3))
    return _rgb_list(srgb_to_linear(srgb)), round(tone, 4)
