"""Camera placement on a hemisphere segment (thesis §2.1.2), pure numpy.

World frame: Z up, metres. A direction's polar angle theta is measured from +Z
(0 deg = straight above, 90 deg = level), its azimuth phi from +X towards +Y in [0, 2 pi).
"""

from __future__ import annotations

import math

import numpy as np

from synthreid.render.model.scene import CameraPlan
from synthreid.render.sampling import uniforms


def sample_directions(rng: np.random.Generator, theta1_deg: float, theta2_deg: float, n: int | None = None):
    """Unit vectors uniform over the sphere segment theta1 <= theta <= theta2.

    Archimedes' hat-box theorem: the projection of a sphere onto its circumscribed cylinder
    preserves area, so z = cos(theta) uniform in [cos theta2, cos theta1] and phi uniform
    give a uniform density on the segment (sampling theta uniformly would crowd the pole).
    Returns an array (3,) for ``n=None`` or (n, 3).
    """
    if not 0.0 <= theta1_deg <= theta2_deg <= 180.0:
        raise ValueError(f"need 0 <= theta1 <= theta2 <= 180 degrees, got {theta1_deg}, {theta2_deg}")
    size = 1 if n is None else n
    z_lo, z_hi = math.cos(math.radians(theta2_deg)), math.cos(math.radians(theta1_deg))
    z = rng.uniform(z_lo, z_hi, size)
    phi = rng.uniform(0.0, 2.0 * math.pi, size)
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    d = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)
    return d[0] if n is None else d


def polar_azimuth(direction) -> tuple[float, float]:
    """(theta, phi) in degrees of a unit vector; phi in [0, 360)."""
    x, y, z = (float(v) for v in direction)
    theta = math.degrees(math.acos(max(-1.0, min(1.0, z))))
    phi = math.degrees(math.atan2(y, x)) % 360.0
    return theta, phi


def camera_id(azimuth_deg: float, bins: int) -> int:
    """1-based camera id of an azimuth: equal bins of 360/bins degrees starting at phi = 0."""
    return int((azimuth_deg % 360.0) // (360.0 / bins)) % bins + 1


def look_at(position, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """World-to-camera rotation (3x3) in the OpenCV convention (x right, y down, z forward).

    Falls back to +Y as the up hint when looking (almost) straight along ``up``.
    """
    position = np.asarray(position, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - position
    norm = np.linalg.norm(forward)
    if norm == 0:
        raise ValueError("camera position equals its target")
    forward /= norm
    up = np.asarray(up, dtype=np.float64)
    if abs(float(forward @ up)) > 0.999:
        up = np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def _direction_then(
    rng: np.random.Generator, theta1_deg: float, theta2_deg: float, *then: tuple[float, float]
) -> tuple[tuple[float, float, float], list[float]]:
    """``sample_directions(rng, theta1, theta2)`` as floats (the same draws and float
    operations: libm cos/sin/sqrt, as numpy's float64 loops without AVX-512), and after it one
    uniform draw per (lo, hi) of ``then``, all from one generator call (``uniforms``)."""
    if not 0.0 <= theta1_deg <= theta2_deg <= 180.0:
        raise ValueError(f"need 0 <= theta1 <= theta2 <= 180 degrees, got {theta1_deg}, {theta2_deg}")
    z_bounds = math.cos(math.radians(theta2_deg)), math.cos(math.radians(theta1_deg))
    z, phi, *rest = uniforms(rng, (z_bounds, (0.0, 2.0 * math.pi), *then))
    r = math.sqrt(1.0 - z * z)  # >= +0.0: |z| <= 1 (numpy's clip at 0 changes nothing)
    return (r * math.cos(phi), r * math.sin(phi), z), rest


def _direction(rng: np.random.Generator, theta1_deg: float, theta2_deg: float) -> tuple[float, float, float]:
    """``sample_directions(rng, theta1, theta2)`` as floats (``_direction_then``)."""
    return _direction_then(rng, theta1_deg, theta2_deg)[0]


def sample_camera(rng: np.random.Generator, camera_spec, target) -> CameraPlan:
    """One camera pose: position on the segment around ``target`` (m) at a sampled distance."""
    lo, hi = camera_spec.distance
    varies = hi > lo  # a fixed distance takes no draw
    d, rest = _direction_then(rng, *camera_spec.polar, *(((lo, hi),) if varies else ()))
    dist = rest[0] if varies else float(lo)
    tx, ty, tz = (float(t) for t in target)
    theta, phi = polar_azimuth(d)
    return CameraPlan(
        position_m=(tx + dist * d[0], ty + dist * d[1], tz + dist * d[2]),
        target_m=(tx, ty, tz),
        distance_m=dist,
        polar_deg=theta,
        azimuth_deg=phi,
        camid=camera_id(phi, camera_spec.camera_ids),
    )
