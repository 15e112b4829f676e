"""Occlusion of finished crops by other people and street objects: a 2D composite (numpy + Pillow).

Real detections of people in a crowd show other people in front of or behind the target,
and posts, bins, railings and bags hiding part of it. This module pastes such occluders
into a clean crop (image, mask, joints) after rendering, before the camera model (blur,
noise and JPEG then act on the occluder too, as in a real camera).

Kinds: ``person_front`` (another identity's crop, cut out with its mask and scaled to about
the target's height, in front: it hides part of the target), ``person_behind`` (the same,
behind the target: a distractor, the target stays whole), and procedural objects in front:
``post`` (a pole or pillar over the whole crop height), ``bin``, ``railing`` (rails and bars
over the whole crop width) and ``bag`` (a suitcase or shopping bag standing on the ground),
drawn with shading and texture noise. A front occluder is placed so that it hides about a
sampled ``coverage`` of the target's visible mask; what it really hides is measured and
recorded.

Masks: uint8, 255 = target person; a pixel is the person's where the mask is >= 128. The
occluder's alpha has a softened edge (one pixel); the returned mask is the target's visible
region: ``mask * (1 - alpha)``, so exactly the pixels the occluder covers (alpha >= 0.5)
fall below 128. ``fraction`` = 1 - visible / original mask area (pixels >= 128).
Joints keep their positions; ``occluded_joints`` names those that lie under a front
occluder (alpha >= 0.5).

Randomness: whether an image is occluded and by which kind come from ``default_rng([seed,
TAG, camid, stem hash, 0])``, every other choice of the occluder from stream 1, the donor
(chosen by the caller, see ``DonorPool``) from stream 2. Same input and seed give the same
bytes. Units: pixels of the crop, pixel i covering [i, i+1); coverage and fractions of the
target's mask area.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

from synthreid.errors import SpecError

TAG = 0x0CC1  # separates the occlusion streams from the camera model's and any other use of the seed
KINDS = ("person_front", "person_behind", "post", "bin", "railing", "bag")
PERSON_KINDS = ("person_front", "person_behind")
DEFAULT_KINDS: tuple[tuple[str, float], ...] = (
    ("person_front", 0.3),
    ("person_behind", 0.15),
    ("post", 0.15),
    ("bin", 0.1),
    ("railing", 0.15),
    ("bag", 0.15),
)
# field -> (lowest, highest) allowed for the (lo, hi) range fields
_RANGES: dict[str, tuple[float, float]] = {
    "coverage": (0.0, 0.95),
    "front_scale": (0.3, 3.0),
    "behind_scale": (0.3, 3.0),
}
_TOL = 0.02  # placements whose coverage is this close to the goal are equally good

# plausible object colours (RGB 0-255): street furniture and luggage
_POST_COLOURS = ((125, 125, 130), (45, 62, 48), (35, 35, 38), (150, 145, 135), (110, 80, 55), (190, 160, 45))
_BIN_COLOURS = ((40, 85, 50), (95, 95, 100), (30, 30, 32), (35, 60, 120), (200, 110, 30), (90, 65, 45))
_RAIL_COLOURS = ((140, 140, 145), (60, 60, 64), (28, 28, 30), (40, 70, 50), (210, 210, 205))
_BAG_COLOURS = ((25, 25, 28), (30, 40, 80), (95, 60, 35), (150, 30, 35), (110, 110, 115), (190, 170, 130))


def check_range(name: str, value, lo_ok: float, hi_ok: float, integer: bool = False) -> tuple:
    """A spec range ``[lo, hi]`` (or one number for a fixed value) checked against the allowed
    ``[lo_ok, hi_ok]``, as a tuple of two floats (ints with ``integer``); else a SpecError naming
    ``name``. Shared by the occlusion and camera-model specs."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)  # a single number means a fixed value
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise SpecError(name, f"expected a range [lo, hi] of two numbers, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SpecError(name, f"expected finite numbers, got {value!r}")
        if integer and int(v) != v:
            raise SpecError(name, f"expected whole numbers, got {value!r}")
    lo, hi = value
    if lo > hi:
        raise SpecError(name, f"range [{lo}, {hi}] has lo > hi")
    if lo < lo_ok or hi > hi_ok:
        raise SpecError(name, f"range [{lo}, {hi}] outside the allowed [{lo_ok}, {hi_ok}]")
    cast = int if integer else float
    return cast(lo), cast(hi)


def _check_kinds(value) -> tuple[tuple[str, float], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    try:
        shares = dict(items)
    except (TypeError, ValueError) as exc:
        raise SpecError("kinds", f"expected a table of kind = share, got {value!r}") from exc
    for name, share in shares.items():
        if name not in KINDS:
            raise SpecError(f"kinds.{name}", f"unknown occluder kind (known: {', '.join(KINDS)})")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share):
            raise SpecError(f"kinds.{name}", f"expected a share >= 0, got {share!r}")
        if share < 0:
            raise SpecError(f"kinds.{name}", f"expected a share >= 0, got {share}")
    if sum(shares.values()) <= 0:
        raise SpecError("kinds", "every share is 0: give at least one kind a positive share")
    return tuple((k, float(shares.get(k, 0.0))) for k in KINDS)


@dataclass(frozen=True)
class OcclusionSpec:
    """Rates and ranges of the occlusion composite.

    rate: probability that an image is occluded, 0-1.
    coverage: range of the fraction of the target's visible mask a front occluder aims to hide.
    kinds: relative shares of the occluder kinds (``KINDS``; missing kinds get 0), normalised.
    front_scale: height of a person in front relative to the target's (closer: taller).
    behind_scale: height of a person behind relative to the target's (farther: shorter).
    """

    rate: float = 0.3
    coverage: tuple[float, float] = (0.1, 0.45)
    kinds: tuple[tuple[str, float], ...] = DEFAULT_KINDS
    front_scale: tuple[float, float] = (0.95, 1.3)
    behind_scale: tuple[float, float] = (0.65, 0.95)

    def __post_init__(self) -> None:
        r = self.rate
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r):
            raise SpecError("rate", f"expected a probability in [0, 1], got {r!r}")
        if not 0.0 <= r <= 1.0:
            raise SpecError("rate", f"{r} outside the allowed [0, 1]")
        object.__setattr__(self, "rate", float(r))
        for name, (lo_ok, hi_ok) in _RANGES.items():
            object.__setattr__(self, name, check_range(name, getattr(self, name), lo_ok, hi_ok))
        object.__setattr__(self, "kinds", _check_kinds(self.kinds))

    @property
    def shares(self) -> dict[str, float]:
        """Probability of each kind given that an image is occluded (sums to 1)."""
        total = sum(s for _, s in self.kinds)
        return {k: s / total for k, s in self.kinds}

    @property
    def needs_donors(self) -> bool:
        """Whether some images get another person (a donor crop) pasted in."""
        return self.rate > 0 and any(s > 0 for k, s in self.kinds if k in PERSON_KINDS)

    @classmethod
    def from_dict(cls, data, source: str = "occlusion") -> OcclusionSpec:
        """Spec from a mapping of field names (ranges as two-element lists, ``kinds`` a table);
        missing fields keep the defaults, unknown ones are errors naming them."""
        if isinstance(data, OcclusionSpec):
            return data
        if not isinstance(data, Mapping):
            raise SpecError(source, f"expected a table of occlusion fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(
                unknown[0], f"{source}: unknown occlusion field (known: {', '.join(sorted(known))})"
            )
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return {
            "rate": self.rate,
            "coverage": list(self.coverage),
            "kinds": dict(self.kinds),
            "front_scale": list(self.front_scale),
            "behind_scale": list(self.behind_scale),
        }


def _stem_key(stem: str) -> int:
    # the same image-name hash as the camera model's per-image stream
    return int.from_bytes(hashlib.sha256(stem.encode("utf-8")).digest()[:8], "little")


def _rng(seed: int, camid: int, stem: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), TAG, int(camid), _stem_key(stem), stream])


def choose_kind(spec: OcclusionSpec, seed: int, camid: int, stem: str) -> str | None:
    """The occluder kind of one image, or None when it is not occluded (cheap: the caller
    loads a donor only for the person kinds)."""
    if spec.rate <= 0:
        return None
    rng = _rng(seed, camid, stem, 0)
    if rng.random() >= spec.rate:
        return None
    shares = spec.shares
    return str(rng.choice(KINDS, p=[shares[k] for k in KINDS]))


def donor_rng(seed: int, camid: int, stem: str) -> np.random.Generator:
    """The generator a caller draws the donor of image ``stem`` from (stream 2)."""
    return _rng(seed, camid, stem, 2)


class DonorPool:
    """Picks, per image, another identity's image of a dataset as the pasted person.

    ``pids[i]`` is the identity of record i; ``groups`` maps a pid to its split (train, val,
    test): a donor comes from the same split with a different pid, so that no identity of
    one split appears in another's images; from any other pid when the split has only one.
    """

    def __init__(self, pids: Sequence[int], groups: Mapping[int, str] | None = None):
        self._pids = np.asarray(pids, dtype=np.int64)
        self._group_of = dict(groups or {})
        labels = np.array([self._group_of.get(int(p), "") for p in self._pids], dtype=object)
        self._pools: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for g in [*sorted(set(labels.tolist())), None]:
            idx = np.arange(len(self._pids)) if g is None else np.flatnonzero(labels == g)
            order = idx[np.argsort(self._pids[idx], kind="stable")]
            self._pools["*" if g is None else g] = (order, self._pids[order])

    def _pick_in(self, pool: str, pid: int, rng: np.random.Generator) -> int | None:
        order, sorted_pids = self._pools[pool]
        lo, hi = np.searchsorted(sorted_pids, pid, "left"), np.searchsorted(sorted_pids, pid, "right")
        n = len(order) - (hi - lo)
        if n <= 0:
            return None
        k = int(rng.integers(n))
        return int(order[k if k < lo else k + (hi - lo)])

    def pick(self, pid: int, rng: np.random.Generator) -> int | None:
        """Index of the donor record for an image of ``pid``, or None when there is no other pid."""
        group = self._group_of.get(int(pid), "")
        if group in self._pools:
            i = self._pick_in(group, pid, rng)
            if i is not None:
                return i
        return self._pick_in("*", pid, rng)


@dataclass(frozen=True)
class Donor:
    """Another identity's crop: image (h, w, 3) uint8, mask (h, w) uint8 (255 = person), name."""

    image: np.ndarray
    mask: np.ndarray
    stem: str = ""


@dataclass(frozen=True)
class Occluded:
    """One occluded crop.

    image (H, W, 3) uint8; mask (H, W) uint8: the target's visible region; kind (None: not
    occluded); placement ``front`` or ``behind``; fraction = 1 - visible / original mask area;
    box: the occluder's extent in the crop (x0, y0, x1, y1, exclusive, clipped) or None;
    occluded_joints: names of the joints under a front occluder; donor: the pasted crop's name.
    """

    image: np.ndarray
    mask: np.ndarray
    kind: str | None = None
    placement: str | None = None
    fraction: float = 0.0
    box: tuple[int, int, int, int] | None = None
    occluded_joints: tuple[str, ...] = ()
    donor: str | None = None

    def to_dict(self) -> dict:
        """The label row's ``occlusion`` object (kind ``none`` when the image is not occluded)."""
        return {
            "kind": self.kind or "none",
            "placement": self.placement,
            "fraction": round(self.fraction, 6),
            "box": list(self.box) if self.box else None,
            "occluded_joints": list(self.occluded_joints),
            "donor": self.donor,
        }


# -- geometry: candidates and coverage -------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """The target's mask (bool), its area and its person box (x0, y0, x1, y1, exclusive)."""

    m: np.ndarray
    area: int
    box: tuple[int, int, int, int]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]


def _span(a, b, n: int) -> np.ndarray:
    """(K, n) bool: index i in [a_k, b_k) (a, b arrays of K; rounded, clipped)."""
    i = np.arange(n)
    a = np.round(np.asarray(a, np.float64)).astype(np.int64)[:, None]
    b = np.round(np.asarray(b, np.float64)).astype(np.int64)[:, None]
    return (i >= a) & (i < b)


def _rows(a, b, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Row ranges [a, b) rounded and clipped to [0, h] (int arrays, b >= a)."""
    a = np.clip(np.round(np.asarray(a, np.float64)), 0, h).astype(np.int64)
    return a, np.clip(np.round(np.asarray(b, np.float64)).astype(np.int64), a, h)


def _coverage(t: _Target, a: np.ndarray, b: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Fraction of the target's mask inside each candidate: a union of P disjoint parts, rows
    [a, b) ((K, P) ints) x columns ``cols`` ((K, P, W) bool); (K,) float. Column sums over the
    row ranges come from one cumulative sum of the mask."""
    csum = np.vstack([np.zeros((1, t.m.shape[1]), np.int32), np.cumsum(t.m, axis=0, dtype=np.int32)])
    inside = (csum[b] - csum[a]) * cols
    return inside.sum(axis=(1, 2)) / t.area


def _pick(cov: np.ndarray, goal: float, rng: np.random.Generator) -> int:
    """A random candidate among those within ``_TOL`` of the goal, else the nearest."""
    err = np.abs(cov - goal)
    ok = np.flatnonzero(err <= _TOL)
    return int(rng.choice(ok)) if ok.size else int(np.argmin(err))


def _parts(h: int, w: int, parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates from P parts, each (row from, row to, columns): columns a (K, W) bool array
    or a pair (col from, col to) of arrays; returns rows a, b ((K, P) ints) and cols (K, P, W)."""
    a, b = _rows(np.stack([p[0] for p in parts], 1), np.stack([p[1] for p in parts], 1), h)
    cols = np.stack([p[2] if isinstance(p[2], np.ndarray) else _span(p[2][0], p[2][1], w) for p in parts], 1)
    return a, b, cols


def _post(t: _Target, h: int, w: int, rng):
    """A pole over the whole crop height: widths x positions."""
    widths = np.unique(np.round(np.linspace(max(2.0, 0.12 * t.width), max(3.0, 0.8 * t.width), 6)))
    x0 = np.arange(-int(widths[-1]) + 1, w, dtype=np.float64)
    ww, xx = (a.ravel() for a in np.meshgrid(widths, x0))
    return _parts(h, w, [(np.zeros_like(xx), np.full_like(xx, h), (xx, xx + ww))])


def _bin(t: _Target, h: int, w: int, rng):
    """A street bin standing just in front of the feet: body + a wider lid; heights x positions."""
    bw = max(3.0, t.width * rng.uniform(0.8, 1.3))
    yb = min(h, t.box[3] + t.height * rng.uniform(0.0, 0.06))
    hb = np.linspace(0.2, 0.75, 10) * t.height
    xc = np.linspace(t.box[0] - 0.2 * t.width, t.box[2] + 0.2 * t.width, 16)
    hh, cc = (a.ravel() for a in np.meshgrid(hb, xc))
    lid, over = np.maximum(1.0, np.round(0.07 * hh)), max(1.0, round(0.06 * bw))
    top = yb - hh
    return _parts(
        h,
        w,
        [
            (top + lid, np.full_like(top, yb), (cc - bw / 2, cc + bw / 2)),
            (top, top + lid, (cc - bw / 2 - over, cc + bw / 2 + over)),
        ],
    )


def _bag(t: _Target, h: int, w: int, rng):
    """A bag on the ground in front of the feet: body + a handle (two sides and a top bar)."""
    aspect = rng.uniform(0.55, 1.0)
    yb = min(h, t.box[3] + t.height * rng.uniform(0.0, 0.04))
    tall = np.linspace(0.12, 0.5, 10) * t.height
    xc = np.linspace(t.box[0] - 0.1 * t.width, t.box[2] + 0.1 * t.width, 16)
    hh, cc = (a.ravel() for a in np.meshgrid(tall, xc))
    bw = np.maximum(3.0, aspect * 0.8 * hh)
    th = np.maximum(1.0, np.round(0.06 * hh))
    hx0, hx1 = cc - 0.25 * bw, cc + 0.25 * bw
    top, btop = yb - hh, yb - 0.8 * hh
    return _parts(
        h,
        w,
        [
            (btop, np.full_like(hh, yb), (cc - bw / 2, cc + bw / 2)),  # body
            (top, top + th, (hx0, hx1)),  # handle: top bar and its two sides
            (top + th, btop, (hx0, hx0 + th)),
            (top + th, btop, (hx1 - th, hx1)),
        ],
    )


def _railing(t: _Target, h: int, w: int, rng):
    """Rails over the whole width with vertical bars down to the crop bottom: heights x bar spacings."""
    t_rail = max(2.0, round(0.03 * t.height))
    bar = max(1.0, round(0.025 * t.height))
    heights = np.linspace(0.2, 0.75, 12) * t.height
    spacing = bar * np.array([2.5, 4.0, 6.0, 10.0])
    hh, ss = (a.ravel() for a in np.meshgrid(heights, spacing))
    top = t.box[3] - hh
    mid = top + 0.55 * (h - top)
    phase = rng.uniform(0, 1)
    bars = ((np.arange(w)[None, :] + phase * ss[:, None]) % ss[:, None]) < bar
    full = np.ones((hh.size, w), bool)
    return _parts(
        h,
        w,
        [
            (top, top + t_rail, full),  # top and middle rails
            (mid, mid + t_rail, full),
            (top + t_rail, mid, bars),  # bars between and below them
            (mid + t_rail, np.full_like(top, h), bars),
        ],
    )


_SHAPES = {"post": _post, "bin": _bin, "bag": _bag, "railing": _railing}


# -- appearance ------------------------------------------------------------------------------


def _soften(a: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur of an (H, W) float32 alpha (edges replicated): a one-pixel edge."""
    p = np.pad(a, 1, mode="edge")
    a = 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]
    return (0.25 * a[:-2] + 0.5 * a[1:-1] + 0.25 * a[2:]).astype(np.float32)


def _texture(colour, h: int, w: int, rng: np.random.Generator, x0: int, x1: int, roundness: float):
    """(H, W, 3) float32 surface of ``colour``: cylinder shading across [x0, x1) (``roundness``
    0 = flat), a slight vertical light falloff, smooth dirt and fine noise (levels of 255)."""
    base = np.asarray(colour, np.float32) * np.float32(rng.uniform(0.85, 1.15))
    u = (np.arange(w, dtype=np.float32) + 0.5 - x0) / max(1, x1 - x0) - 0.5
    light = rng.uniform(-0.25, 0.25)  # where the highlight sits across the object
    col = 1.0 - roundness * (1.0 - np.cos(np.clip(u - light, -0.75, 0.75) * np.pi)) * 0.5
    row = np.linspace(1.05, 0.9, h, dtype=np.float32)
    dirt_small = rng.uniform(0.88, 1.12, (max(2, h // 16), max(2, w // 16))).astype(np.float32)
    dirt = np.asarray(Image.fromarray(dirt_small).resize((w, h), Image.Resampling.BILINEAR))
    shade = row[:, None] * col[None, :] * dirt
    noise = rng.normal(0.0, 4.0, (h, w, 1)).astype(np.float32)
    return base * shade[..., None] + noise


def _draw_object(kind: str, solid: np.ndarray, box, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float32 surface of a procedural object whose pixels are ``solid`` (H, W)."""
    h, w = solid.shape
    x0, y0, x1, y1 = box
    if kind == "post":
        tex = _texture(_POST_COLOURS[rng.integers(len(_POST_COLOURS))], h, w, rng, x0, x1, 0.7)
        if rng.random() < 0.3:  # a reflective or painted band
            yb = int(rng.integers(0, max(1, h - 4)))
            tex[yb : yb + max(2, h // 20)] = np.asarray((225, 215, 190), np.float32)
        return tex
    if kind == "bin":
        tex = _texture(_BIN_COLOURS[rng.integers(len(_BIN_COLOURS))], h, w, rng, x0, x1, 0.6)
        ribs = 1.0 + 0.06 * np.sin(np.arange(w, dtype=np.float32) * (2 * np.pi / 3.0))
        tex *= ribs[None, :, None]
        widths = solid.sum(axis=1)
        tex[widths == widths.max()] *= 0.7  # the lid, wider than the body: darker
        return tex
    if kind == "bag":
        tex = _texture(_BAG_COLOURS[rng.integers(len(_BAG_COLOURS))], h, w, rng, x0, x1, 0.35)
        zip_row = y0 + max(2, round(0.32 * (y1 - y0)))  # a seam just below the top of the body
        if zip_row < h:
            tex[zip_row] *= 0.6
        return tex
    tex = _texture(_RAIL_COLOURS[rng.integers(len(_RAIL_COLOURS))], h, w, rng, 0, w, 0.0)
    edge = solid & ~np.vstack([np.zeros((1, w), bool), solid[:-1]])
    tex[edge] *= 1.25  # the top of every rail and bar catches the light
    return tex


def _extent(solid: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if not rows.size:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _object(kind: str, t: _Target, img_shape, goal: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """(alpha (H, W) float32, surface (H, W, 3) float32) of a procedural front occluder."""
    h, w = img_shape[:2]
    a, b, cols = _SHAPES[kind](t, h, w, rng)
    k = _pick(_coverage(t, a, b, cols), goal, rng)
    rows = (np.arange(h)[None, :] >= a[k][:, None]) & (np.arange(h)[None, :] < b[k][:, None])
    solid = (rows[:, :, None] & cols[k][:, None, :]).any(axis=0)
    box = _extent(solid) or (0, 0, w, h)
    return _soften(solid.astype(np.float32)), _draw_object(kind, solid, box, rng)


def _scaled_donor(donor: Donor, height: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The donor's person box resized to ``height`` px: (image float32 (h, w, 3), alpha (h, w))."""
    dm = np.asarray(donor.mask)
    m = dm >= 128
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if not rows.size:
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    hd = max(2, round(height))
    wd = max(1, round((x1 - x0) * hd / (y1 - y0)))
    img = Image.fromarray(np.ascontiguousarray(np.asarray(donor.image)[y0:y1, x0:x1]))
    msk = Image.fromarray(np.ascontiguousarray(dm[y0:y1, x0:x1]))
    return (
        np.asarray(img.resize((wd, hd), Image.Resampling.BILINEAR), np.float32),
        np.asarray(msk.resize((wd, hd), Image.Resampling.BILINEAR), np.float32) / np.float32(255.0),
    )


def _place(canvas_shape, part: np.ndarray, x: int, y: int) -> np.ndarray:
    """``part`` pasted at (x, y) (its top-left corner) on a zero canvas, clipped."""
    h, w = canvas_shape
    ph, pw = part.shape[:2]
    out = np.zeros((h, w, *part.shape[2:]), np.float32)
    cx0, cy0, cx1, cy1 = max(0, x), max(0, y), min(w, x + pw), min(h, y + ph)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0:cy1, cx0:cx1] = part[cy0 - y : cy1 - y, cx0 - x : cx1 - x]
    return out


def _person(kind: str, t: _Target, spec: OcclusionSpec, donor: Donor, shape, goal: float, rng):
    """(alpha, surface) of the donor pasted in front (aiming at ``goal``) or behind, or None."""
    h, w = shape[:2]
    front = kind == "person_front"
    s = rng.uniform(*(spec.front_scale if front else spec.behind_scale))
    scaled = _scaled_donor(donor, s * t.height)
    if scaled is None:
        return None
    dimg, dalpha = scaled
    hd, wd = dalpha.shape
    # Closer people stand lower in the image, farther ones higher (a camera looking down).
    yb = t.box[3] + (hd - t.height) * rng.uniform(0.5, 1.5) + t.height * rng.uniform(-0.03, 0.08)
    y = round(yb) - hd
    rows = _place((h, wd), (dalpha >= 0.5).astype(np.float32), 0, y)  # the donor's solid pixels, at x = 0
    # overlap(x) = sum over rows of the correlation of the target's mask and the donor's, per
    # left edge x in [-(wd - 1), w - 1] (one FFT for every shift)
    n = w + wd
    f = np.fft.rfft(t.m.astype(np.float32), n=n, axis=1) * np.conj(np.fft.rfft(rows, n=n, axis=1))
    corr = np.fft.irfft(f.sum(axis=0), n=n)
    xs = np.arange(-(wd - 1), w)
    overlap = np.round(corr[xs % n])
    if front:
        x = int(xs[_pick(overlap / t.area, goal, rng)])
    else:
        # a distractor: some of it behind the target, most of it visible
        colsum = np.concatenate([[0.0], np.cumsum(rows.sum(axis=0))])
        inside = colsum[np.clip(w - xs, 0, wd)] - colsum[np.clip(-xs, 0, wd)]
        visible = inside - overlap
        ok = np.flatnonzero((visible >= 0.4 * colsum[-1]) & (overlap > 0))
        x = int(xs[rng.choice(ok)] if ok.size else xs[np.argmax(visible)])
    return _place((h, w), _soften(dalpha), x, y), _place((h, w), dimg, x, y)


# -- the composite ---------------------------------------------------------------------------


def _unchanged(image: np.ndarray, mask: np.ndarray) -> Occluded:
    return Occluded(image.copy(), mask.copy())


def _check(image, mask) -> tuple[np.ndarray, np.ndarray]:
    image, mask = np.asarray(image), None if mask is None else np.asarray(mask)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SpecError("image", f"expected an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    if mask is None or mask.shape != image.shape[:2] or mask.dtype != np.uint8:
        got = "None" if mask is None else f"{mask.dtype} {mask.shape}"
        raise SpecError("mask", f"expected an {image.shape[:2]} uint8 mask like the image, got {got}")
    return image, mask


def _hidden_joints(joints: dict | None, alpha: np.ndarray) -> tuple[str, ...]:
    if not joints:
        return ()
    h, w = alpha.shape
    hidden = []
    for name in sorted(joints):
        u, v = joints[name][:2]
        if 0 <= u < w and 0 <= v < h and alpha[int(v), int(u)] >= 0.5:
            hidden.append(name)
    return tuple(hidden)


def occlude(
    image: np.ndarray,
    mask: np.ndarray,
    joints: dict | None,
    spec: OcclusionSpec,
    seed: int,
    camid: int,
    stem: str,
    donor: Donor | None = None,
) -> Occluded:
    """Occlude one crop (inputs are not modified).

    ``image`` (H, W, 3) uint8; ``mask`` (H, W) uint8 (255 = target); ``joints`` {name: [u, v]}
    in crop pixels or None; ``donor`` another identity's crop, needed when ``choose_kind``
    gives a person kind. An image that is not occluded (or has no person pixels, or a donor
    without any) comes back unchanged with ``kind`` None.
    """
    image, mask = _check(image, mask)
    kind = choose_kind(spec, seed, camid, stem)
    m = mask >= 128
    area = int(m.sum())
    if kind is None or area == 0:
        return _unchanged(image, mask)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    t = _Target(m, area, (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    rng = _rng(seed, camid, stem, 1)
    goal = rng.uniform(*spec.coverage)
    if kind in PERSON_KINDS:
        if donor is None:
            raise SpecError("donor", f"{stem}: occluder kind {kind} needs a donor crop of another identity")
        drawn = _person(kind, t, spec, donor, image.shape, goal, rng)
        if drawn is None:
            return _unchanged(image, mask)
    else:
        drawn = _object(kind, t, image.shape, goal, rng)
    alpha, surface = drawn
    if kind == "person_behind":
        alpha = alpha * (1.0 - mask.astype(np.float32) / np.float32(255.0))  # the target stays whole
    a = alpha[..., None]
    out = image.astype(np.float32) * (1.0 - a) + np.clip(surface, 0.0, 255.0) * a
    out_img = (out + 0.5).astype(np.uint8)
    hidden: tuple[str, ...] = ()
    if kind == "person_behind":
        new_mask = mask.copy()
    else:
        new_mask = (mask.astype(np.float32) * (1.0 - alpha)).astype(np.uint8)
        hidden = _hidden_joints(joints, alpha)
    visible = int((new_mask >= 128).sum())
    return Occluded(
        image=out_img,
        mask=new_mask,
        kind=kind,
        placement="behind" if kind == "person_behind" else "front",
        fraction=1.0 - visible / area,
        box=_extent(alpha >= 0.5),
        occluded_joints=hidden,
        donor=donor.stem if kind in PERSON_KINDS and donor is not None else None,
    )
