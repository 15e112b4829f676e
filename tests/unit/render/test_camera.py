"""Hat-box camera sampling: uniform over the segment, tested with power against theta-uniform."""

import math

import numpy as np
import pytest
from scipy import stats

from synthreid.render.sampling import rng_for
from synthreid.render.sampling.camera import camera_id, look_at, polar_azimuth, sample_directions

N = 20000


def naive_theta_uniform(rng, t1, t2, n):
    """The wrong sampler the thesis warns about: theta uniform instead of cos(theta)."""
    theta = np.radians(rng.uniform(t1, t2, n))
    phi = rng.uniform(0, 2 * math.pi, n)
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)


def equal_area_chi2_pvalue(d, t1, t2, z_bins=10, phi_bins=12):
    """Chi-square p-value of counts on an equal-area grid (equal z-slices x equal phi-sectors)."""
    z_lo, z_hi = math.cos(math.radians(t2)), math.cos(math.radians(t1))
    z_edges = np.linspace(z_lo, z_hi, z_bins + 1)
    phi = np.arctan2(d[:, 1], d[:, 0]) % (2 * math.pi)
    counts, _, _ = np.histogram2d(d[:, 2], phi, bins=[z_edges, np.linspace(0, 2 * math.pi, phi_bins + 1)])
    return stats.chisquare(counts.ravel()).pvalue


def ks_pvalues(d, t1, t2):
    z_lo, z_hi = math.cos(math.radians(t2)), math.cos(math.radians(t1))
    pz = stats.kstest(d[:, 2], stats.uniform(loc=z_lo, scale=z_hi - z_lo).cdf).pvalue
    phi = np.arctan2(d[:, 1], d[:, 0]) % (2 * math.pi)
    pphi = stats.kstest(phi, stats.uniform(loc=0, scale=2 * math.pi).cdf).pvalue
    return pz, pphi


@pytest.mark.parametrize(("t1", "t2", "seed"), [(0.0, 90.0, 1), (30.0, 80.0, 2), (55.0, 85.0, 3)])
def test_hat_box_is_uniform_and_naive_is_rejected(t1, t2, seed):
    d = sample_directions(rng_for(seed, 9), t1, t2, N)
    assert equal_area_chi2_pvalue(d, t1, t2) > 0.001
    pz, pphi = ks_pvalues(d, t1, t2)
    assert pz > 0.001 and pphi > 0.001
    naive = naive_theta_uniform(rng_for(seed, 10), t1, t2, N)
    # Power: the same tests must reject theta-uniform sampling on the wide segments.
    if t2 - t1 >= 50:
        assert equal_area_chi2_pvalue(naive, t1, t2) < 1e-6
        assert ks_pvalues(naive, t1, t2)[0] < 1e-6


@pytest.mark.parametrize(("t1", "t2"), [(0.0, 0.0), (10.0, 20.0), (90.0, 180.0), (45.0, 45.0)])
def test_never_leaves_the_segment(t1, t2):
    d = sample_directions(rng_for(0, 1), t1, t2, 5000)
    theta = np.degrees(np.arccos(np.clip(d[:, 2], -1, 1)))
    assert np.all(theta >= t1 - 1e-9) and np.all(theta <= t2 + 1e-9)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)


def test_bad_angles_raise():
    with pytest.raises(ValueError):
        sample_directions(rng_for(0, 1), 60, 30)
    with pytest.raises(ValueError):
        sample_directions(rng_for(0, 1), 0, 190)


def test_camera_ids_bin_azimuth():
    assert camera_id(0.0, 6) == 1
    assert camera_id(59.99, 6) == 1
    assert camera_id(60.0, 6) == 2
    assert camera_id(359.9, 6) == 6
    assert camera_id(720.0 + 61, 6) == 2
    assert {camera_id(a, 4) for a in range(0, 360, 7)} == {1, 2, 3, 4}


def test_polar_azimuth_roundtrip():
    theta, phi = polar_azimuth([0.0, -1.0, 0.0])
    assert theta == pytest.approx(90.0) and phi == pytest.approx(270.0)


def test_look_at_points_forward():
    pos, target = np.array([3.0, -4.0, 2.0]), np.array([0.0, 0.0, 1.0])
    r = look_at(pos, target)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    cam = r @ (target - pos)
    np.testing.assert_allclose(cam[:2], 0.0, atol=1e-12)
    assert cam[2] > 0
    # World up maps to image up (negative y in OpenCV camera coordinates).
    assert (r @ np.array([0, 0, 1.0]))[1] < 0
    # Straight down still gives a valid rotation.
    r2 = look_at([0, 0, 10.0], [0, 0, 0.0])
    np.testing.assert_allclose(r2 @ r2.T, np.eye(3), atol=1e-12)
