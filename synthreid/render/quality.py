"""Image quality of a render against a reference render of the same plan, on the person only.

Used by the render quality guard (``perf/render_quality.py``): a faster render setting is kept
only if its images stay as close to a high-sample reference as today's setting does. Scores are
computed on the person mask of the reference (the background is a photograph pasted behind the
person and tells nothing about light transport on the person).

Units: images (H, W, 3) uint8, 0-255; masks (H, W) uint8, >= 128 = person. PSNR in dB with peak
255 (``inf`` for identical pixels); SSIM in [-1, 1], the mean of scikit-image's SSIM map (Gaussian
window, sigma 1.5, as Wang et al. 2004) over the mask's pixels, computed per channel and averaged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from synthreid.errors import DatasetError

MASK_THRESHOLD = 128


@dataclass(frozen=True)
class QualityScore:
    """One image against its reference: PSNR (dB) and SSIM on the mask, and the mask's pixel count."""

    stem: str
    psnr_db: float
    ssim: float
    mask_pixels: int


def _check(test: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if test.shape != ref.shape or test.ndim != 3 or test.shape[2] != 3:
        raise ValueError(
            f"images: expected two (H, W, 3) arrays of one shape, got {test.shape} and {ref.shape}"
        )
    if mask.shape != test.shape[:2]:
        raise ValueError(f"mask: expected shape {test.shape[:2]}, got {mask.shape}")
    sel = mask >= MASK_THRESHOLD
    if not sel.any():
        raise ValueError("mask: no person pixel (>= 128) to score")
    return sel


def masked_psnr(test: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, peak 255) of ``test`` against ``ref`` over the mask's pixels; inf if equal there."""
    sel = _check(test, ref, mask)
    diff = test.astype(np.float64)[sel] - ref.astype(np.float64)[sel]
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def masked_ssim(test: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM over the mask's pixels (the SSIM map is computed on the whole crop, so windows
    at the person's edge see the background as the eye does)."""
    sel = _check(test, ref, mask)
    _, smap = structural_similarity(
        ref, test, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5, full=True
    )
    return float(smap.mean(axis=2)[sel].mean())


def _load(path: Path, mode: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except OSError as exc:
        raise DatasetError(f"{path}: unreadable image ({exc})") from exc


def compare_datasets(test_root: str | Path, ref_root: str | Path) -> list[QualityScore]:
    """Score every image of ``test_root`` against the image of the same stem in ``ref_root``
    (two renders of one plan), on the reference's mask. Both folders need ``images/`` and the
    reference ``masks/``; a stem missing from either is an error naming it."""
    test_root, ref_root = Path(test_root), Path(ref_root)
    ref_images = {p.stem: p for p in sorted((ref_root / "images").glob("*")) if not p.name.startswith(".")}
    test_images = {p.stem: p for p in sorted((test_root / "images").glob("*")) if not p.name.startswith(".")}
    if not ref_images:
        raise DatasetError(f"{ref_root}/images: no reference image")
    if set(ref_images) != set(test_images):
        missing = sorted(set(ref_images) ^ set(test_images))
        raise DatasetError(f"{test_root}: images differ from the reference's (e.g. {missing[0]})")
    scores = []
    for stem, ref_path in ref_images.items():
        mask_path = ref_root / "masks" / f"{stem}.png"
        if not mask_path.is_file():
            raise DatasetError(f"{mask_path}: the reference has no mask for {stem}")
        ref, test, mask = _load(ref_path, "RGB"), _load(test_images[stem], "RGB"), _load(mask_path, "L")
        scores.append(
            QualityScore(
                stem,
                masked_psnr(test, ref, mask),
                masked_ssim(test, ref, mask),
                int((mask >= MASK_THRESHOLD).sum()),
            )
        )
    return scores


def summarize(scores: list[QualityScore]) -> tuple[float, float]:
    """(mean PSNR dB, mean SSIM) over images; the PSNR mean is taken over MSEs (pixel-weighted
    per image), so one identical image does not make it infinite."""
    if not scores:
        raise ValueError("scores: expected at least one image")
    mses = [255.0**2 / 10 ** (s.psnr_db / 10) if math.isfinite(s.psnr_db) else 0.0 for s in scores]
    mse = float(np.mean(mses))
    psnr = math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    return psnr, float(np.mean([s.ssim for s in scores]))
