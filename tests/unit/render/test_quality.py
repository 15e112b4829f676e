"""Masked PSNR/SSIM of the render quality guard."""

import math

import numpy as np
import pytest
from PIL import Image

from synthreid.errors import DatasetError
from synthreid.render.quality import QualityScore, compare_datasets, masked_psnr, masked_ssim, summarize


def _scene(seed=0, h=64, w=32):
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(120, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[10:54, 8:24] = 255
    return img, mask


def test_identical_person_is_infinite_psnr_and_unit_ssim():
    img, mask = _scene()
    other = img.copy()
    other[mask < 128] = 0  # the background does not count
    assert masked_psnr(other, img, mask) == math.inf
    assert masked_ssim(img, img, mask) == pytest.approx(1.0)


def test_noise_on_the_person_lowers_both_and_matches_the_psnr_formula():
    img, mask = _scene()
    rng = np.random.default_rng(1)
    noisy = img.astype(float)
    noisy[mask >= 128] += rng.normal(0, 8, (int((mask >= 128).sum()), 3))
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    mse = np.mean((noisy.astype(float) - img.astype(float))[mask >= 128] ** 2)
    assert masked_psnr(noisy, img, mask) == pytest.approx(10 * math.log10(255**2 / mse))
    assert 25 < masked_psnr(noisy, img, mask) < 40
    more = np.clip(noisy.astype(float) + rng.normal(0, 16, noisy.shape), 0, 255).astype(np.uint8)
    assert masked_psnr(more, img, mask) < masked_psnr(noisy, img, mask)
    assert masked_ssim(more, img, mask) < masked_ssim(noisy, img, mask) < 1.0


def test_bad_inputs_name_what_is_wrong():
    img, mask = _scene()
    with pytest.raises(ValueError, match="mask: no person"):
        masked_psnr(img, img, np.zeros_like(mask))
    with pytest.raises(ValueError, match="mask: expected shape"):
        masked_ssim(img, img, mask[:10])
    with pytest.raises(ValueError, match="images"):
        masked_psnr(img[:10], img, mask)


def test_summary_averages_mse_not_decibels():
    scores = [QualityScore("a", math.inf, 1.0, 10), QualityScore("b", 20.0, 0.5, 10)]
    psnr, ssim = summarize(scores)
    assert psnr == pytest.approx(20.0 + 10 * math.log10(2))
    assert ssim == pytest.approx(0.75)


def _write(root, stem, img, mask):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(root / "images" / f"{stem}.png")
    Image.fromarray(mask).save(root / "masks" / f"{stem}.png")


def test_compare_datasets_pairs_stems_and_refuses_mismatches(tmp_path):
    img, mask = _scene()
    _write(tmp_path / "ref", "00000_c1_0000", img, mask)
    _write(tmp_path / "test", "00000_c1_0000", 255 - img, mask)
    (score,) = compare_datasets(tmp_path / "test", tmp_path / "ref")
    assert score.stem == "00000_c1_0000" and score.mask_pixels == 44 * 16 and score.psnr_db < 15
    _write(tmp_path / "test", "00000_c1_0001", img, mask)
    with pytest.raises(DatasetError, match="00000_c1_0001"):
        compare_datasets(tmp_path / "test", tmp_path / "ref")
