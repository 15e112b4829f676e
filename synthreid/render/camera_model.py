"""A surveillance-camera model applied to finished crops (after rendering; numpy + Pillow only).

Real re-ID crops come from a detector on a surveillance frame: a colour cast and an exposure
per camera, vignetting, optical and motion blur, people 40-130 px tall that the re-ID
pipeline upscales, sensor noise, JPEG artefacts and imprecise boxes. This module turns a
clean render (image, mask, 2D joints in crop pixels) into such a crop.

Randomness: per camera id one set of parameters is drawn from ``default_rng([seed, TAG,
camid])`` (every image of a camera shares its colour cast, exposure, gamma, vignetting,
blur, noise level and JPEG quality); per image small variations of these (``image_jitter``
of each range's width) and the per-image choices (person height, motion direction, box
jitter, where the crop lies in the frame) come from ``default_rng([seed, TAG, camid,
stem hash])``. Same input and seed give identical bytes.

Order (as a camera and a re-ID pipeline would): detector box (crop / pad with edge
replication, resize to the output size; mask and joints follow) -> exposure, colour cast,
vignetting, gamma -> optical + motion blur -> downscale to the sampled person height ->
sensor noise -> JPEG round trip -> upscale back to the output size. Noise and JPEG blocks
act on the camera's pixels (the low-resolution person), as in a real camera; the upscale
is what a re-ID pipeline does to a small detection.

Units: pixel values 0-255 (noise sigma in these levels); blur sigma, motion length and
person height in output pixels; exposure in EV (stops); box shift and scale as fractions
of the crop box; image coordinates continuous, pixel i covering [i, i+1).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthreid.errors import SpecError
from synthreid.render.occlusion import OcclusionSpec, check_range

TAG = 0xCA3E  # separates the camera-model streams from any other use of the same seed
CUT_SIDES = ("bottom", "top", "left", "right")
CUT_WEIGHTS = (0.5, 0.2, 0.15, 0.15)  # detectors (and occluders) most often lose the feet

# field -> (lowest allowed, highest allowed, integer?) for the (lo, hi) range fields
_RANGES: dict[str, tuple[float, float, bool]] = {
    "person_height_px": (4.0, 4096.0, False),
    "blur_sigma": (0.0, 10.0, False),
    "motion_blur_px": (0.0, 20.0, False),
    "noise_sigma": (0.0, 64.0, False),
    "jpeg_quality": (1, 100, True),
    "exposure_ev": (-4.0, 4.0, False),
    "gamma": (0.2, 5.0, False),
    "vignetting": (0.0, 1.0, False),
    "box_scale": (0.5, 2.0, False),
    "box_cut_fraction": (0.0, 0.9, False),
}
# field -> (lowest, highest) for the scalar fields
_SCALARS: dict[str, tuple[float, float]] = {
    "colour_cast": (0.0, 0.5),
    "box_shift": (0.0, 0.5),
    "box_cut_prob": (0.0, 1.0),
    "image_jitter": (0.0, 1.0),
}


def _occlusion(value) -> OcclusionSpec | None:
    """An OcclusionSpec from itself or its table (None stays None); errors name ``occlusion``
    and the field."""
    if value is None:
        return None
    try:
        return OcclusionSpec.from_dict(value)
    except SpecError as exc:
        raise SpecError("occlusion", str(exc)) from exc


@dataclass(frozen=True)
class CameraModelSpec:
    """Ranges of the camera model; the defaults are the ``surveillance`` preset.

    person_height_px: height (px) of the person's mask extent on the camera's sensor; a crop
        whose person is taller is downscaled to it and upscaled back (never enlarged first).
    blur_sigma: optical Gaussian blur sigma (px), per camera.
    motion_blur_px: motion-blur streak length (px), per camera; its direction is per image.
    noise_sigma: Gaussian sensor noise std (levels of 255) at the sensor resolution, per camera.
    jpeg_quality: JPEG quality 1-100, per camera.
    colour_cast: largest relative deviation of the red and blue gains from green (white balance).
    exposure_ev: exposure offset in stops (image x 2**EV), per camera.
    gamma: tone-curve exponent applied as value**(1/gamma) (> 1 brightens the mid-tones).
    vignetting: darkening at the frame corner (0 = none, 0.4 = corners at 60 %).
    box_shift: detector box centre noise, uniform within +- this fraction of the box width/height.
    box_scale: detector box size factor (width and height drawn separately).
    box_cut_prob: probability that part of the person lies outside the box.
    box_cut_fraction: which fraction of the person's height (or width) is then cut off.
    image_jitter: per-image variation of each per-camera value, as a fraction of its range.
    occlusion: other people and objects composited into the scene before the camera
        (``render.occlusion``; applied by ``render.degrade``), or None for none.
    """

    person_height_px: tuple[float, float] = (40.0, 130.0)
    blur_sigma: tuple[float, float] = (0.0, 0.8)
    motion_blur_px: tuple[float, float] = (0.0, 2.0)
    noise_sigma: tuple[float, float] = (1.0, 5.0)
    jpeg_quality: tuple[int, int] = (40, 90)
    colour_cast: float = 0.08
    exposure_ev: tuple[float, float] = (-0.5, 0.5)
    gamma: tuple[float, float] = (0.85, 1.15)
    vignetting: tuple[float, float] = (0.0, 0.4)
    box_shift: float = 0.06
    box_scale: tuple[float, float] = (0.92, 1.12)
    box_cut_prob: float = 0.1
    box_cut_fraction: tuple[float, float] = (0.1, 0.3)
    image_jitter: float = 0.1
    occlusion: OcclusionSpec | None = None

    def __post_init__(self) -> None:
        for name, (lo_ok, hi_ok, integer) in _RANGES.items():
            object.__setattr__(self, name, check_range(name, getattr(self, name), lo_ok, hi_ok, integer))
        for name, (lo_ok, hi_ok) in _SCALARS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise SpecError(name, f"expected a number in [{lo_ok}, {hi_ok}], got {v!r}")
            if not lo_ok <= v <= hi_ok:
                raise SpecError(name, f"{v} outside the allowed [{lo_ok}, {hi_ok}]")
            object.__setattr__(self, name, float(v))
        object.__setattr__(self, "occlusion", _occlusion(self.occlusion))

    @classmethod
    def from_dict(cls, data: dict, source: str = "camera model") -> CameraModelSpec:
        """Spec from a mapping of field names (ranges as two-element lists); missing fields keep
        the surveillance defaults, unknown ones are errors naming them."""
        if not isinstance(data, dict):
            raise SpecError(source, f"expected a table of camera-model fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(
                unknown[0], f"{source}: unknown camera-model field (known: {', '.join(sorted(known))})"
            )
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> CameraModelSpec:
        """Spec from a TOML file: top-level fields, or a ``[camera_model]`` table."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SpecError(str(path), f"unreadable camera-model TOML ({exc})") from exc
        if set(data) == {"camera_model"}:
            data = data["camera_model"]
        return cls.from_dict(data, source=str(path))

    @classmethod
    def preset(cls, name: str) -> CameraModelSpec:
        if name not in PRESETS:
            raise SpecError(
                "preset", f"unknown camera-model preset {name!r} (have {', '.join(sorted(PRESETS))})"
            )
        return PRESETS[name]

    def to_dict(self) -> dict:
        """Fields as JSON values; ``occlusion`` only when set (so that specs without it keep
        the dicts, and the study cache keys, they had before it existed)."""
        out = {
            f.name: list(v) if isinstance(v, tuple) else v
            for f in fields(self)
            if f.name != "occlusion" and (v := getattr(self, f.name)) is not None
        }
        if self.occlusion is not None:
            out["occlusion"] = self.occlusion.to_dict()
        return out


PRESETS: dict[str, CameraModelSpec] = {
    # issue 11: people 40-130 px tall, mild blur, noise, JPEG 40-90, per-camera colour cast and
    # exposure, detector-like boxes (10 % of them cutting off 10-30 % of the person)
    "surveillance": CameraModelSpec(),
    # the same camera, 30 % of the crops occluded by other people, posts, bins, railings or bags
    # hiding 10-45 % of the person (render.occlusion)
    "surveillance+occlusion": CameraModelSpec(occlusion=OcclusionSpec()),
}


@dataclass(frozen=True)
class CameraParams:
    """The consistent settings of one camera (drawn once per (seed, camid))."""

    camid: int
    exposure_ev: float
    gamma: float
    wb_gains: tuple[float, float, float]  # multipliers of R, G, B
    vignetting: float
    blur_sigma: float
    motion_blur_px: float
    noise_sigma: float
    jpeg_quality: int


@dataclass(frozen=True)
class ImageParams:
    """Everything applied to one image; ``to_dict`` is the label row's ``camera_model``."""

    camid: int
    exposure_ev: float
    gamma: float
    wb_gains: tuple[float, float, float]
    vignetting: float
    vignette_centre: tuple[float, float]  # crop centre in the frame, -1..1 (x right, y down)
    vignette_extent: float  # crop height as a fraction of the frame height
    blur_sigma: float
    motion_blur_px: float
    motion_angle_deg: float
    noise_sigma: float
    jpeg_quality: int
    person_height_px: float  # sampled sensor height of the person (px)
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in source-crop pixels
    cut: str | None  # which side of the person the box cuts off, if any
    out_size: tuple[int, int]  # width, height

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 4)
            elif isinstance(v, (tuple, list)):
                d[k] = [round(x, 4) if isinstance(x, float) else x for x in v]
        return d


def _stem_key(stem: str) -> int:
    return int.from_bytes(hashlib.sha256(stem.encode("utf-8")).digest()[:8], "little")


def _uniform(rng: np.random.Generator, lohi: tuple[float, float]) -> float:
    lo, hi = lohi
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


@functools.lru_cache(maxsize=256)
def camera_params(spec: CameraModelSpec, seed: int, camid: int) -> CameraParams:
    """The settings of camera ``camid`` (1-based) for ``seed``: the same for every image."""
    rng = np.random.default_rng([int(seed), TAG, int(camid)])
    # Red and blue gains relative to green, as an imperfect white balance would leave them.
    r, b = (1.0 + rng.uniform(-spec.colour_cast, spec.colour_cast, 2)).tolist()
    q_lo, q_hi = spec.jpeg_quality
    return CameraParams(
        camid=int(camid),
        exposure_ev=_uniform(rng, spec.exposure_ev),
        gamma=_uniform(rng, spec.gamma),
        wb_gains=(r, 1.0, b),
        vignetting=_uniform(rng, spec.vignetting),
        blur_sigma=_uniform(rng, spec.blur_sigma),
        motion_blur_px=_uniform(rng, spec.motion_blur_px),
        noise_sigma=_uniform(rng, spec.noise_sigma),
        jpeg_quality=int(rng.integers(q_lo, q_hi + 1)),
    )


def _jitter(rng: np.random.Generator, value: float, lohi: tuple[float, float], frac: float) -> float:
    lo, hi = lohi
    d = frac * (hi - lo)
    return float(np.clip(value + rng.uniform(-d, d), lo, hi)) if d > 0 else float(value)


def _person_box(mask: np.ndarray | None, w: int, h: int, threshold: int = 128) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1, exclusive) of the mask's person, or the whole crop."""
    if mask is not None:
        rows, cols = (
            np.flatnonzero((mask >= threshold).any(axis=1)),
            np.flatnonzero((mask >= threshold).any(axis=0)),
        )
        if rows.size and cols.size:
            return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    return 0, 0, w, h


def image_params(
    spec: CameraModelSpec,
    seed: int,
    camid: int,
    stem: str,
    size: tuple[int, int],
    mask: np.ndarray | None = None,
    out_size: tuple[int, int] | None = None,
) -> ImageParams:
    """Parameters for one image of camera ``camid``: its camera's settings, varied a little.

    ``size`` is the source crop's (width, height); ``mask`` (H, W) uint8, 255 = person, places
    the person for the box cut and the person height; ``out_size`` defaults to ``size``.
    """
    w, h = size
    if w <= 0 or h <= 0:
        raise SpecError("size", f"expected a positive (width, height), got {size!r}")
    cam = camera_params(spec, seed, camid)
    rng = np.random.default_rng([int(seed), TAG, int(camid), _stem_key(stem)])
    j = spec.image_jitter
    q_lo, q_hi = spec.jpeg_quality
    dq = j * (q_hi - q_lo)
    quality = (
        int(np.clip(round(cam.jpeg_quality + rng.uniform(-dq, dq)), q_lo, q_hi))
        if dq > 0
        else cam.jpeg_quality
    )

    # Detector box: jittered centre and size around the source crop, then maybe shifted so that
    # part of the person falls outside (a detection that missed the feet, say).
    px0, py0, px1, py1 = _person_box(mask, w, h)
    cx = w / 2 + rng.uniform(-spec.box_shift, spec.box_shift) * w
    cy = h / 2 + rng.uniform(-spec.box_shift, spec.box_shift) * h
    bw, bh = w * _uniform(rng, spec.box_scale), h * _uniform(rng, spec.box_scale)
    x0, y0, x1, y1 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
    cut = None
    if rng.random() < spec.box_cut_prob:
        cut = str(rng.choice(CUT_SIDES, p=CUT_WEIGHTS))
        c = _uniform(rng, spec.box_cut_fraction)
        ph, pw = py1 - py0, px1 - px0
        if cut == "bottom":
            d = max(0.0, y1 - (py1 - c * ph))
            y0, y1 = y0 - d, y1 - d
        elif cut == "top":
            d = max(0.0, (py0 + c * ph) - y0)
            y0, y1 = y0 + d, y1 + d
        elif cut == "left":
            d = max(0.0, (px0 + c * pw) - x0)
            x0, x1 = x0 + d, x1 + d
        else:
            d = max(0.0, x1 - (px1 - c * pw))
            x0, x1 = x0 - d, x1 - d
    box = tuple(float(round(v)) for v in (x0, y0, x1, y1))
    ow, oh = out_size or size

    # Where the crop lies in the frame, for the vignette: a person of crop height h seen
    # person_height px tall fills about that fraction of a 576-line frame (PAL/D1 CCTV).
    person_h = _uniform(rng, spec.person_height_px)
    extent = float(min(1.0, person_h * (h / max(1, py1 - py0)) / 576.0))
    # centre of the crop in the frame (x as a fraction of the half-width, y of the half-height),
    # the crop kept inside the frame
    half_w = extent * (w / h) * 0.75
    centre = (
        float(rng.uniform(-1 + min(1.0, half_w), 1 - min(1.0, half_w))),
        float(rng.uniform(-1 + extent, 1 - extent)),
    )
    return ImageParams(
        camid=int(camid),
        exposure_ev=_jitter(rng, cam.exposure_ev, spec.exposure_ev, j),
        gamma=_jitter(rng, cam.gamma, spec.gamma, j),
        wb_gains=cam.wb_gains,
        vignetting=cam.vignetting,
        vignette_centre=centre,
        vignette_extent=extent,
        blur_sigma=_jitter(rng, cam.blur_sigma, spec.blur_sigma, j),
        motion_blur_px=_jitter(rng, cam.motion_blur_px, spec.motion_blur_px, j),
        motion_angle_deg=float(rng.uniform(0.0, 180.0)),
        noise_sigma=_jitter(rng, cam.noise_sigma, spec.noise_sigma, j),
        jpeg_quality=quality,
        person_height_px=person_h,
        box=box,  # type: ignore[arg-type]
        cut=cut,
        out_size=(int(ow), int(oh)),
    )


# -- geometry: detector box ------------------------------------------------------------------


def _crop_pad(arr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The integer ``box`` of ``arr`` (H, W[, C]); outside the array, edge pixels are replicated."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise SpecError("box", f"empty box {box!r}")
    h, w = arr.shape[:2]
    pad = (max(0, -y0), max(0, y1 - h)), (max(0, -x0), max(0, x1 - w))
    if any(p for pp in pad for p in pp):
        arr = np.pad(arr, pad + ((0, 0),) * (arr.ndim - 2), mode="edge")
        x0, x1, y0, y1 = x0 + pad[1][0], x1 + pad[1][0], y0 + pad[0][0], y1 + pad[0][0]
    return arr[y0:y1, x0:x1]


def crop_image(image: np.ndarray, box, out_size: tuple[int, int]) -> np.ndarray:
    """New (out_h, out_w, 3) uint8 image: ``box`` (x0, y0, x1, y1) of ``image``, edge-padded, resized."""
    part = _crop_pad(image, box)
    img = Image.fromarray(np.ascontiguousarray(part))
    return np.asarray(
        img.resize((int(out_size[0]), int(out_size[1])), Image.Resampling.BILINEAR)
        if img.size != tuple(out_size)
        else img
    ).copy()


def crop_mask(mask: np.ndarray, box, out_size: tuple[int, int]) -> np.ndarray:
    """New (out_h, out_w) uint8 mask, transformed exactly like ``crop_image`` transforms the image."""
    return crop_image(mask, box, out_size)


def transform_points(points: np.ndarray, box, out_size: tuple[int, int]) -> np.ndarray:
    """New (N, 2) array of (u, v) crop-pixel points mapped into the resized box (continuous coords)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    sx, sy = out_size[0] / (x1 - x0), out_size[1] / (y1 - y0)
    return np.stack([(pts[:, 0] - x0) * sx, (pts[:, 1] - y0) * sy], axis=1)


def transform_joints(joints: dict, box, out_size: tuple[int, int]) -> dict:
    """New {name: [u, v]} of a label row's ``joints2d_crop`` after the box transform (2 decimals)."""
    names = sorted(joints)
    if not names:
        return {}
    moved = transform_points(np.array([joints[n] for n in names], dtype=np.float64), box, out_size)
    return {n: [round(float(u), 2), round(float(v), 2)] for n, (u, v) in zip(names, moved, strict=True)}


# -- photometry ------------------------------------------------------------------------------


def apply_tone(img: np.ndarray, p: ImageParams) -> np.ndarray:
    """Exposure, colour cast and vignetting (on values 0-1), then the gamma curve; new float32 array."""
    h, w = img.shape[:2]
    gain = np.float32(2.0**p.exposure_ev) * np.asarray(p.wb_gains, dtype=np.float32)
    out = img.astype(np.float32) * (gain / 255.0)
    if p.vignetting > 0:
        # Radial falloff 1 - v r^2 over a 4:3 frame, in frame units (y -1..1, x -4/3..4/3, square
        # pixels; r = 1 at the corner); the crop covers 2 * extent of the frame height.
        e = p.vignette_extent
        step = 2 * e / h
        ys = p.vignette_centre[1] + (np.arange(h, dtype=np.float32) + 0.5 - h / 2) * step
        xs = p.vignette_centre[0] * 4 / 3 + (np.arange(w, dtype=np.float32) + 0.5 - w / 2) * step
        r2 = (xs[None, :] ** 2 + ys[:, None] ** 2) / (1 + 16 / 9)
        out *= (1.0 - np.float32(p.vignetting) * r2)[..., None]
    np.clip(out, 0.0, 1.0, out=out)
    if p.gamma != 1.0:
        np.power(out, np.float32(1.0 / p.gamma), out=out)
    return out


def _convolve_taps(img: np.ndarray, taps: list[tuple[int, int, float]]) -> np.ndarray:
    """Sum of shifted copies (dy, dx, weight) of ``img`` (H, W, C), edges replicated."""
    r = max(max(abs(dy), abs(dx)) for dy, dx, _ in taps)
    if r == 0:
        return img * np.float32(sum(wt for _, _, wt in taps))
    h, w = img.shape[:2]
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    out = np.zeros_like(img)
    for dy, dx, wt in taps:
        out += np.float32(wt) * padded[r + dy : r + dy + h, r + dx : r + dx + w]
    return out


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of std ``sigma`` px, radius ceil(3 sigma)."""
    r = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Normalised 2-D line kernel of ``length`` px at ``angle_deg`` (anti-aliased by bilinear splats)."""
    r = max(1, int(math.ceil(length / 2)))
    k = np.zeros((2 * r + 1, 2 * r + 1), dtype=np.float64)
    n = max(2, int(math.ceil(length * 4)))
    t = np.linspace(-length / 2, length / 2, n)
    a = math.radians(angle_deg)
    xs, ys = r + t * math.cos(a), r - t * math.sin(a)
    for x, y in zip(xs, ys, strict=True):
        ix, iy = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - ix, y - iy
        for ddy, ddx, wt in (
            (0, 0, (1 - fx) * (1 - fy)),
            (0, 1, fx * (1 - fy)),
            (1, 0, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            if 0 <= iy + ddy <= 2 * r and 0 <= ix + ddx <= 2 * r:
                k[iy + ddy, ix + ddx] += wt
    return k / k.sum()


def apply_blur(img: np.ndarray, sigma: float, motion_px: float, angle_deg: float) -> np.ndarray:
    """Optical Gaussian blur (separable) then motion blur of a float (H, W, C) image; new array."""
    out = img
    if sigma >= 0.3:  # below ~0.3 px a Gaussian changes no 8-bit value worth the time
        k = gaussian_kernel(sigma)
        r = len(k) // 2
        out = _convolve_taps(out, [(0, i - r, float(k[i])) for i in range(len(k))])
        out = _convolve_taps(out, [(i - r, 0, float(k[i])) for i in range(len(k))])
    if motion_px >= 1.0:
        k = motion_kernel(motion_px, angle_deg)
        r = k.shape[0] // 2
        ys, xs = np.nonzero(k > 1e-3)
        wsum = float(k[ys, xs].sum())
        out = _convolve_taps(
            out, [(int(y) - r, int(x) - r, float(k[y, x]) / wsum) for y, x in zip(ys, xs, strict=True)]
        )
    return out if out is not img else img.copy()


def add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """New float image (0-1) with Gaussian noise of ``sigma`` levels of 255."""
    if sigma <= 0:
        return img.copy()
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return img + noise


def jpeg_roundtrip(img: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """(decoded uint8 image, size of the JPEG in bytes) of ``img`` (uint8) encoded at ``quality``."""
    if not 1 <= int(quality) <= 100:
        raise SpecError("jpeg_quality", f"expected 1-100, got {quality!r}")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    n = buf.tell()
    buf.seek(0)
    with Image.open(buf) as dec:
        return np.asarray(dec.convert("RGB" if img.ndim == 3 else "L")).copy(), n


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def degrade_pixels(image: np.ndarray, p: ImageParams, person_px: float, seed: int, stem: str) -> np.ndarray:
    """The camera chain on an (H, W, 3) uint8 crop already at the output size; new uint8 array.

    ``person_px`` is the person's height in this crop (px); the crop is scaled by
    person_height / person_px (if below 1) for the sensor-resolution steps.
    """
    h, w = image.shape[:2]
    x = apply_tone(image, p)
    x = apply_blur(x, p.blur_sigma, p.motion_blur_px, p.motion_angle_deg)
    scale = min(1.0, p.person_height_px / max(1.0, person_px))
    lw, lh = max(1, round(w * scale)), max(1, round(h * scale))
    small = _to_uint8(x)
    if (lw, lh) != (w, h):
        small = np.asarray(Image.fromarray(small).resize((lw, lh), Image.Resampling.BILINEAR))
    # Noise gets its own stream, so that it does not shift with the number of pixels drawn above.
    rng = np.random.default_rng([int(seed), TAG, p.camid, _stem_key(stem), 1])
    noisy = _to_uint8(add_noise(small.astype(np.float32) / np.float32(255.0), p.noise_sigma, rng))
    out, _ = jpeg_roundtrip(noisy, p.jpeg_quality)
    if (lw, lh) != (w, h):
        out = np.asarray(Image.fromarray(out).resize((w, h), Image.Resampling.BILINEAR))
    return np.ascontiguousarray(out)


@dataclass(frozen=True)
class Degraded:
    """One degraded crop: image (H, W, 3) uint8, mask (H, W) uint8 or None, joints, parameters."""

    image: np.ndarray
    mask: np.ndarray | None
    joints: dict | None
    params: ImageParams


def degrade(
    image: np.ndarray,
    mask: np.ndarray | None,
    joints: dict | None,
    spec: CameraModelSpec,
    seed: int,
    camid: int,
    stem: str,
    out_size: tuple[int, int] | None = None,
) -> Degraded:
    """Apply the camera model to one crop (inputs are not modified).

    ``image`` (H, W, 3) uint8; ``mask`` (H, W) uint8 (255 = person) or None; ``joints``
    {name: [u, v]} in crop pixels (a label row's ``joints2d_crop``) or None.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SpecError("image", f"expected an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if mask is not None and np.asarray(mask).shape != (h, w):
        raise SpecError("mask", f"expected shape {(h, w)} like the image, got {np.asarray(mask).shape}")
    p = image_params(spec, seed, camid, stem, (w, h), mask, out_size)
    boxed = crop_image(image, p.box, p.out_size)
    new_mask = crop_mask(np.asarray(mask), p.box, p.out_size) if mask is not None else None
    new_joints = transform_joints(joints, p.box, p.out_size) if joints is not None else None
    # The whole person's height in output pixels (from the source mask: a box that cuts the
    # person must not make it look shorter to the sensor).
    _, py0, _, py1 = _person_box(None if mask is None else np.asarray(mask), w, h)
    person_px = (py1 - py0) * p.out_size[1] / (p.box[3] - p.box[1])
    return Degraded(degrade_pixels(boxed, p, person_px, seed, stem), new_mask, new_joints, p)
