"""Pinhole projection, crop rectangles and Blender render borders (pure numpy).

Conventions: pixel coordinates (u, v) are continuous, origin at the top-left corner of the
frame, u right, v down; pixel (i, j) covers [i, i+1) x [j, j+1), so its centre is at
(i + 0.5, j + 0.5). Rectangles are integer pixel bounds ``(x0, y0, x1, y1)`` with x1/y1
exclusive. Camera frames follow OpenCV (x right, y down, z forward); world is Z-up, metres.
"""

from __future__ import annotations

import math

import numpy as np


def intrinsics(focal_mm: float, sensor_width_mm: float, width: int, height: int) -> np.ndarray:
    """3x3 K of a camera with horizontal sensor fit and square pixels (Blender's AUTO fit
    for landscape frames); principal point at the frame centre."""
    f = focal_mm / sensor_width_mm * width
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def extrinsics(rotation_w2c: np.ndarray, position) -> np.ndarray:
    """3x4 [R | t] mapping world points to OpenCV camera coordinates (t = -R C)."""
    r = np.asarray(rotation_w2c, dtype=np.float64)
    c = np.asarray(position, dtype=np.float64)
    return np.hstack([r, (-r @ c)[:, None]])


def project(points_world, k: np.ndarray, rt: np.ndarray) -> np.ndarray:
    """(N, 2) pixel coordinates of (N, 3) world points; raises if any point is behind the camera."""
    p = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    cam = p @ rt[:, :3].T + rt[:, 3]
    if np.any(cam[:, 2] <= 1e-9):
        raise ValueError("a point lies behind the camera")
    uv = cam[:, :2] / cam[:, 2:3]
    return uv @ k[:2, :2].T + k[:2, 2]


def rect_from_points(
    uv: np.ndarray, width: int, height: int, margin: float = 0.0
) -> tuple[int, int, int, int]:
    """Smallest integer pixel rectangle containing all projected points, grown by
    ``margin`` x the box's larger side on each side, clamped to the frame.

    Raises ValueError when the points lie completely outside the frame.
    """
    uv = np.asarray(uv, dtype=np.float64)
    umin, vmin = uv.min(axis=0)
    umax, vmax = uv.max(axis=0)
    pad = margin * max(umax - umin, vmax - vmin)
    x0 = max(0, math.floor(umin - pad))
    y0 = max(0, math.floor(vmin - pad))
    x1 = min(width, math.ceil(umax + pad))
    y1 = min(height, math.ceil(vmax + pad))
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the projected points lie outside the frame")
    return int(x0), int(y0), int(x1), int(y1)


def expand_to_aspect(rect, aspect: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Grow ``rect`` symmetrically so that w / h is as close to ``aspect`` as integers allow,
    shifting it inside the frame where possible (the person stays centred, nothing is cut)."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    if w / h < aspect:
        new_w, new_h = min(width, round(h * aspect)), h
    else:
        new_w, new_h = w, min(height, round(w / aspect))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    nx0 = int(round(cx - new_w / 2.0))
    ny0 = int(round(cy - new_h / 2.0))
    nx0 = min(max(0, nx0), width - new_w)
    ny0 = min(max(0, ny0), height - new_h)
    return nx0, ny0, nx0 + new_w, ny0 + new_h


def blender_border(rect, width: int, height: int) -> tuple[float, float, float, float]:
    """Render border (min_x, max_x, min_y, max_y) in [0, 1] yielding exactly ``rect``.

    Blender converts the border to pixels by truncation (int(border * size)) with y measured
    from the bottom, so each edge aims at the centre of its pixel: a float error of a few
    ulps can then never move an edge by a whole pixel.
    """
    x0, y0, x1, y1 = rect
    return (
        (x0 + 0.5) / width,
        min(1.0, (x1 + 0.5) / width) if x1 < width else 1.0,
        (height - y1 + 0.5) / height,
        min(1.0, (height - y0 + 0.5) / height) if y0 > 0 else 1.0,
    )


def border_to_rect(border, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel rectangle Blender renders for a border (its truncation rule, y flipped)."""
    bx0, bx1, by0, by1 = border
    x0, x1 = int(bx0 * width), int(bx1 * width)
    yb0, yb1 = int(by0 * height), int(by1 * height)
    return x0, height - yb1, x1, height - yb0


def scaled_resolution(width: int, height: int, factor: float) -> tuple[int, int]:
    """Frame size ``factor`` times (width, height), at least 1 px each (same field of view)."""
    return max(1, round(width * factor)), max(1, round(height * factor))
