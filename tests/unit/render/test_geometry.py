"""Projection, crop rectangles and Blender border math on known cameras."""

import numpy as np
import pytest

from synthreid.render import geometry
from synthreid.render.sampling.camera import look_at


def test_intrinsics_match_blender_horizontal_fit():
    k = geometry.intrinsics(50.0, 36.0, 1920, 1080)
    assert k[0, 0] == pytest.approx(50 / 36 * 1920)
    assert k[1, 1] == k[0, 0]
    assert (k[0, 2], k[1, 2]) == (960.0, 540.0)


def test_projection_of_known_points():
    k = geometry.intrinsics(36.0, 36.0, 100, 100)  # f = 100 px
    # Camera at y = -10 looking along +y; world up is image up.
    rt = geometry.extrinsics(look_at([0, -10, 0], [0, 0, 0]), [0, -10, 0])
    uv = geometry.project([[0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 10, 2]], k, rt)
    np.testing.assert_allclose(uv, [[50, 50], [60, 50], [50, 40], [50, 40]], atol=1e-9)
    with pytest.raises(ValueError, match="behind"):
        geometry.project([[0, -20, 0]], k, rt)


def test_rect_from_points_margin_and_clamp():
    uv = np.array([[10.2, 20.7], [30.5, 80.1]])
    assert geometry.rect_from_points(uv, 100, 100) == (10, 20, 31, 81)
    # margin is a fraction of the larger side (59.4 px * 0.1 = 5.94 px)
    assert geometry.rect_from_points(uv, 100, 100, 0.1) == (4, 14, 37, 87)
    assert geometry.rect_from_points(np.array([[-5.0, -5.0], [120.0, 50.0]]), 100, 100) == (0, 0, 100, 50)
    with pytest.raises(ValueError):
        geometry.rect_from_points(np.array([[150.0, 10.0], [160.0, 20.0]]), 100, 100)


@pytest.mark.parametrize("size", [(1920, 1080), (641, 479), (97, 211)])
def test_border_roundtrip_is_exact(size):
    w, h = size
    rng = np.random.default_rng(0)
    for _ in range(2000):
        x0, x1 = sorted(rng.choice(w + 1, 2, replace=False))
        y0, y1 = sorted(rng.choice(h + 1, 2, replace=False))
        rect = (int(x0), int(y0), int(x1), int(y1))
        border = geometry.blender_border(rect, w, h)
        assert all(0.0 <= b <= 1.0 for b in border)
        # float32 storage in Blender must not change the truncated result either
        b32 = tuple(float(np.float32(b)) for b in border)
        assert geometry.border_to_rect(border, w, h) == rect
        assert geometry.border_to_rect(b32, w, h) == rect


def test_naive_border_would_be_off_by_one():
    """Without aiming at pixel centres, truncation loses pixels (the reason for the +0.5)."""
    w = 1000
    lost = sum(int(np.float32(x / w) * w) != x for x in range(w))
    assert lost > 0


def test_expand_to_aspect_keeps_rect_inside_and_centred():
    r = geometry.expand_to_aspect((40, 10, 60, 90), 0.5, 200, 100)
    x0, y0, x1, y1 = r
    assert (x1 - x0, y1 - y0) == (40, 80)
    assert x0 <= 40 and x1 >= 60 and y0 <= 10 and y1 >= 90
    # near the frame edge it shifts instead of leaving the frame
    r = geometry.expand_to_aspect((0, 0, 10, 80), 0.5, 200, 100)
    assert r[0] == 0 and r[2] == 40
