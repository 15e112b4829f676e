"""Colour palettes for clothes, hair and skin (pure numpy).

All returned colours are linear RGB lists in [0, 1] (what Blender's shader sockets expect).
The palette data lives in ``synthreid/assets/people/palettes.json`` as sRGB hex.
"""

from __future__ import annotations

import bisect
import colorsys
import functools
import itertools
import json
from pathlib import Path

import numpy as np

from synthreid.errors import SpecError
from synthreid.render.sampling import uniform

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
    return np.array(_hex_srgb(h))


@functools.cache
def _hex_srgb(h: str) -> tuple[float, float, float]:
    h = h.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return r, g, b


def clip(x: float, lo: float, hi: float) -> float:
    """``np.clip`` of one float without numpy's per-call overhead, bit for bit (a value equal
    to a bound gives the bound, so -0.0 clipped at 0.0 is 0.0 as in numpy; no NaN here)."""
    x = x if x > lo else lo
    return x if x < hi else hi


def _rgb_list(srgb) -> list[float]:
    """Linear RGB list, clipped to [0, 1] and rounded to 5 decimals, of three sRGB values: the
    scalar form of ``srgb_to_linear`` (same float operations, libm ``pow``) then clip."""
    return [
        round(clip(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4, 0.0, 1.0), 5)
        for c in map(float, srgb)
    ]


def _hsv_draw(rng: np.random.Generator, cfg: dict) -> tuple[float, float, float]:
    h = uniform(rng, *cfg["hue"]) % 1.0
    s = uniform(rng, *cfg["saturation"])
    v = uniform(rng, *cfg["value"])
    return colorsys.hsv_to_rgb(h, s, v)


def _jitter(rng: np.random.Generator, srgb, jit) -> tuple[float, float, float]:
    r, g, b = (clip(float(c), 0.0, 1.0) for c in srgb)
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    h = (h + rng.normal(0.0, jit[0])) % 1.0
    s = clip(s * (1.0 + rng.normal(0.0, jit[1])), 0.0, 1.0)
    v = clip(v * (1.0 + rng.normal(0.0, jit[2])), 0.0, 1.0)
    return colorsys.hsv_to_rgb(h, s, v)


def _cdf(p: np.ndarray) -> list[float]:
    """The cumulative sum of ``p`` divided by its last value, as numpy's choice computes it."""
    cdf = list(itertools.accumulate(p.tolist()))  # sequential float adds, as np.cumsum
    last = cdf[-1]
    return [c / last for c in cdf]


def choice_index(rng: np.random.Generator, p: np.ndarray) -> int:
    """``int(rng.choice(len(p), p=p))`` for probabilities ``p`` (float64, summing to 1), the
    same draw and the same generator state after it, without choice()'s checks: numpy's
    choice takes one ``random()`` and bisects the cumulative sum divided by its last value
    (tests/unit/render/test_sampling_exact.py holds it to ``rng.choice``)."""
    return bisect.bisect_right(_cdf(p), rng.random())


def weighted_choice(rng: np.random.Generator, weights: dict[str, float], allowed=None) -> str:
    """A key of ``weights`` drawn by weight, restricted to ``allowed`` (uniform if all weights are 0)."""
    keys, cdf = _weighted_cdf(tuple(weights.items()), None if allowed is None else tuple(allowed))
    return keys[bisect.bisect_right(cdf, rng.random())]


@functools.lru_cache(maxsize=256)  # the spec's weights are few; hair's change with age (misses)
def _weighted_cdf(items: tuple, allowed: tuple | None) -> tuple[list[str], list[float]]:
    """Keys and choice_index's cdf of ``weighted_choice``, cached: most weights are the spec's."""
    weights = dict(items)
    keys = [k for k in weights if allowed is None or k in allowed]
    if allowed is not None:
        keys += [k for k in allowed if k not in weights]
    if not keys:
        raise SpecError("appearance", "nothing to choose from")
    w = np.array([max(0.0, float(weights.get(k, 0.0))) for k in keys])
    w = np.ones(len(keys)) if w.sum() <= 0 else w
    return keys, _cdf(w / w.sum())


def garment_color(rng: np.random.Generator, palette: str, group: str) -> tuple[list[float], str]:
    """(linear RGB, colour name) for a garment ``group`` (top, bottom, denim, shoes, accessory).
    Palette 'fitted' draws its weighted groups with ``named_color``; here it means 'realistic'."""
    cfg = load_json("palettes.json")
    if palette not in ("saturated", "realistic", "fitted"):
        raise SpecError("appearance.palette", f"{palette!r} is not one of: saturated, realistic, fitted")
    if palette == "saturated":
        return _rgb_list(_hsv_draw(rng, cfg["saturated"])), "saturated"
    real = cfg["realistic"]
    name = weighted_choice(rng, real["groups"][group])
    if name == "bright":
        srgb = _hsv_draw(rng, real["bright"])
    else:
        srgb = _jitter(rng, _hex_srgb(real["colors"][name]), real["jitter"])
    return _rgb_list(srgb), name


NAMED_JITTER = (0.015, 0.12, 0.12)  # HSV jitter of named colours (hue turns, saturation and value fractions)


def named_color(rng: np.random.Generator, weights) -> tuple[list[float], str]:
    """(linear RGB, PETA colour name): a name drawn by ``weights`` (11, order of
    ``colournames.COLOUR_NAMES``), then a jittered prototype of it that still maps to that name."""
    from synthreid.render.colournames import COLOUR_NAMES, PROTOTYPES, name_indices

    w = np.asarray(weights, dtype=np.float64)
    i = choice_index(rng, w / w.sum())
    name = COLOUR_NAMES[i]
    protos = PROTOTYPES[name]
    base = _hex_srgb(protos[int(rng.integers(len(protos)))])
    jitters = [_jitter(rng, base, NAMED_JITTER) for _ in range(8)]  # fixed draw count per colour
    # One call names all eight (name_indices works per colour, so it equals eight calls).
    names = name_indices(np.array(jitters)).tolist()
    srgb = next((j for j, n in zip(jitters, names, strict=True) if n == i), base)
    return _rgb_list(srgb), name


def second_color(rng: np.random.Generator, palette: str, group: str, base: list[float]) -> list[float]:
    """A pattern's second colour: contrasting light/dark or another palette colour."""
    if rng.random() < 0.5:
        base_s = linear_to_srgb(base)
        lum = float(base_s @ np.array([0.299, 0.587, 0.114]))
        shade = uniform(rng, 0.05, 0.25) if lum > 0.5 else uniform(rng, 0.75, 0.95)
        mix = uniform(rng, 0.6, 0.9)
        srgb = (1 - mix) * base_s + mix * np.full(3, shade)
        return _rgb_list(srgb)
    return garment_color(rng, palette, group)[0]


def hair_color(rng: np.random.Generator, age: float) -> tuple[list[float], str]:
    """Natural hair colour; grey/white probability grows from ~35 years on."""
    cfg = load_json("palettes.json")["hair"]
    w = dict(cfg["weights"])
    grey = clip((age - 35.0) / 40.0, 0.0, 0.9)
    total = sum(w.values())
    for k in w:
        w[k] *= (1.0 - grey) / total
    w["grey"] += grey * 0.6
    w["white"] += grey * 0.4
    name = weighted_choice(rng, w)
    srgb = _jitter(rng, _hex_srgb(cfg["colors"][name]), (0.01, 0.08, 0.1))
    return _rgb_list(srgb), name


def skin_color(rng: np.random.Generator) -> tuple[list[float], float]:
    """(linear RGB, tone in [0, 1]) covering very dark to very light skin."""
    ramp = _skin_ramp()
    tone = float(uniform(rng, 0.0, 1.0))
    x = tone * (len(ramp) - 1)
    i = min(int(x), len(ramp) - 2)
    srgb = ramp[i] * (1 - (x - i)) + ramp[i + 1] * (x - i)
    srgb = srgb * (1.0 + rng.normal(0.0, 0.03, 3))
    return _rgb_list(srgb), round(tone, 4)


@functools.cache
def _skin_ramp() -> np.ndarray:
    ramp = np.array([_hex_srgb(h) for h in load_json("palettes.json")["skin"]["ramp"]])
    ramp.flags.writeable = False  # shared by every call
    return ramp
