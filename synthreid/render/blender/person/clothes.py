"""Garments as their own layers: regions of the body surface pushed outward along the normals
(so they fit and deform with the same skin weights), plus flared cones for skirts, dresses and
coat tails. Each garment returns mesh arrays; ``build`` in the package turns them into objects.
"""

from __future__ import annotations

import numpy as np

from synthreid.render.blender.person import meshutil
from synthreid.render.blender.person.body import Region, Surface, subset
from synthreid.render.blender.person.skeleton import Skeleton
from synthreid.render.model.person import BottomPlan, ShoesPlan, TopPlan

TOP_OFFSET = {
    "tshirt": 0.006,
    "longsleeve": 0.006,
    "sweater": 0.011,
    "jacket": 0.016,
    "coat": 0.02,
    "dress": 0.005,
}
BOTTOM_OFFSET = {"trousers": 0.009, "jeans": 0.006, "shorts": 0.01}
WAISTBAND = 0.06  # height of trouser and skirt waistbands above the hip joints, in body heights
SKIRT_HEM = {"skirt_short": 0.45, "skirt_knee": 1.0, "skirt_long": 1.85}  # in hip-to-knee lengths
SLEEVE_T = {
    "none": (0.08, -1.0),
    "short": (0.45, -1.0),
    "three_quarter": (1.01, 0.55),
    "long": (1.01, 0.93),
}  # upper arm, forearm t


class Layer:
    """Arrays of one garment part: verts (N, 3), faces (F, 4), weights (N, B), rest (N, 3)."""

    def __init__(self, verts, faces, weights, rest):
        self.verts, self.faces, self.weights, self.rest = verts, faces, weights, rest

    @staticmethod
    def merge(layers: list[Layer]) -> Layer:
        off = np.cumsum([0] + [len(lay.verts) for lay in layers[:-1]])
        return Layer(
            np.vstack([lay.verts for lay in layers]),
            np.vstack([lay.faces + o for lay, o in zip(layers, off, strict=True)]),
            np.vstack([lay.weights for lay in layers]),
            np.vstack([lay.rest for lay in layers]),
        )


def _part(surf: Surface, *names: str) -> np.ndarray:
    return surf.bone_mask(*names)


def _sides(fmt: str) -> tuple[str, str]:
    return fmt.format("L"), fmt.format("R")


def torso_region(surf: Surface, skel: Skeleton, hem_z: float, sleeve: str, collar: float = 0.0) -> Region:
    """A top: torso from ``hem_z`` up to the neck, sleeves per ``sleeve``."""
    r = Region(surf).set_bones(skel.bones)
    neck_head, neck_tail, _ = skel.bones["neck"]
    collar_z = neck_head[2] + 0.015 * skel.height + max(collar, 0.0) * (neck_tail[2] - neck_head[2])
    r.add("spine", *_sides("shoulder.{}"))
    r.add("chest", "neck", z_max=collar_z)
    r.add("pelvis", *_sides("thigh.{}"), z_min=hem_z)
    ua, fa = SLEEVE_T[sleeve]
    r.add(*_sides("upperarm.{}"), t_max=ua)
    if fa > 0:
        r.add(*_sides("forearm.{}"), t_max=fa)
    return r


def legs_region(surf: Surface, skel: Skeleton, waist_z: float, thigh_t: float, shin_t: float) -> Region:
    r = Region(surf).set_bones(skel.bones)
    r.add("pelvis", z_max=waist_z)
    if thigh_t > 0:
        r.add(*_sides("thigh.{}"), t_max=thigh_t)
    if shin_t > 0:
        r.add(*_sides("shin.{}"), t_max=shin_t)
    return r


def _extents(surf: Surface, z: float, band: float = 0.02):
    """(rx, ry, cy): half width, half depth and depth centre of the body's slice at height z."""
    sel = np.abs(surf.verts[:, 2] - z) < band
    sel &= ~surf.bone_mask("upperarm.L", "upperarm.R", "forearm.L", "forearm.R", "hand.L", "hand.R")
    if sel.sum() < 12:
        return _extents(surf, z, band * 1.5) if band < 0.1 else (0.0, 0.0, 0.0)
    v = surf.verts[sel]
    return (
        float(np.abs(v[:, 0]).max()),
        float(np.ptp(v[:, 1]) / 2),
        float((v[:, 1].max() + v[:, 1].min()) / 2),
    )


def cone(
    surf: Surface, skel: Skeleton, z_top: float, z_hem: float, flare: float, extra: float, lead: float = 1.0
) -> Layer:
    """A skirt-like tube from ``z_top`` down to ``z_hem``, open at the hem. Its rings hug the
    body's own slices down to the widest point of the hips, then flare by ``flare`` metres.

    Lower rings follow the thighs, each side its own leg, so walking swings the hem; ``lead``
    (0..1) is how much of the thigh's turn they take (less lifts a short hem less).
    """
    n_rings, nu = 14, 28
    zs = np.linspace(z_top, z_hem, n_rings)
    rx, ry, cy = (np.array(v) for v in zip(*[_extents(surf, z) for z in zs], strict=True))
    widest = int(np.argmax(rx + ry))
    # below the widest slice the body splits into legs: keep the widest ring and flare from it
    rx[widest:], ry[widest:], cy[widest:] = rx[widest], ry[widest], cy[widest]
    rx, ry = np.maximum.accumulate(rx), np.maximum.accumulate(ry)
    frac = np.clip((zs[widest] - zs) / max(zs[widest] - z_hem, 1e-6), 0, 1)
    rx = rx + extra + flare * 1.15 * frac
    ry = ry + extra + flare * frac
    ang = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    verts = np.stack(
        [np.outer(rx, np.cos(ang)), cy[:, None] + np.outer(ry, np.sin(ang)), np.repeat(zs[:, None], nu, 1)],
        -1,
    ).reshape(-1, 3)
    faces = np.array(
        [
            [i * nu + j, (i + 1) * nu + j, (i + 1) * nu + (j + 1) % nu, i * nu + (j + 1) % nu]
            for i in range(n_rings - 1)
            for j in range(nu)
        ]
    )
    names = surf.bones
    W = np.zeros((len(verts), len(names)))
    # A rigid pelvis part above the hip joints; below them each half goes fully with its own
    # thigh (a linear blend of pelvis and thigh would lag behind the swinging leg and let it
    # poke out). Only a narrow seam at the front and back centre blends the two legs, so the
    # fabric stretches between the knees instead of leaving a gap.
    hip_z = float(skel.bones["thigh.L"][0][2])
    ramp = max(0.35 * (z_top - z_hem), 1e-3)
    follow = np.clip((hip_z + 0.25 * ramp - verts[:, 2]) / ramp, 0, 1) * lead
    seam = 0.4 * float(np.abs(verts[:, 0]).max() + 1e-9)
    side = np.clip(0.5 + 0.5 * verts[:, 0] / seam, 0, 1)
    W[:, names.index("pelvis")] = 1 - follow
    W[:, names.index("thigh.L")] = follow * side
    W[:, names.index("thigh.R")] = follow * (1 - side)
    return Layer(verts, faces, W, verts.copy())


def build_top(surf: Surface, skel: Skeleton, top: TopPlan, bottom: BottomPlan | None) -> Layer:
    kind = top.type
    h, b = skel.height, skel.body
    hip_z = b.leg_length
    fit = float(np.clip(top.fit, 0.6, 1.8))
    off = TOP_OFFSET.get(kind, 0.008) * fit
    # a dress bodice reaches the upper thighs, under the skirt cone, so no skin shows at the hips
    hem = {"jacket": hip_z - 0.02 * h, "coat": hip_z - 0.02 * h, "dress": hip_z - 0.03 * h}.get(
        kind, hip_z + 0.015 * h
    )
    tucked = bool(top.tucked) and bottom is not None and bottom.type not in SKIRT_HEM
    if tucked:  # ends just under the waistband of the bottom, which covers it
        hem = hip_z + 0.045 * h
    collar = {"sweater": 0.35, "jacket": 0.3, "coat": 0.45}.get(kind, 0.0)
    region = torso_region(surf, skel, hem, top.sleeve, collar)
    # over the waistband the top must sit outside the bottom
    under = BOTTOM_OFFSET.get(bottom.type, 0.008) * float(np.clip(bottom.fit, 0.6, 1.8)) if bottom else 0.0
    if tucked:
        # under the waistband the shirt lies inside the bottom; ramp out smoothly above it
        ramp = np.clip((surf.verts[:, 2] - (hip_z + WAISTBAND * h - 0.015)) / 0.02, 0.0, 1.0)
        offset = min(off, under * 0.35) * (1 - ramp) + off * ramp
    else:
        offset = np.where(surf.bone_mask("pelvis"), off + under, off)
    if kind in ("jacket", "coat"):
        offset = offset + 0.004 * np.clip(-surf.normals[:, 1], 0, 1)  # a looser front
    layers = [Layer(*subset(surf, region, offset))]
    if kind in ("jacket", "coat", "longsleeve", "tshirt") and not top.hood:
        layers.append(collar_band(surf, skel, kind, off))
    if kind in ("jacket", "coat") and top.open:
        layers.append(lapels(surf, skel, off + 0.004))
    if top.hood:
        layers.append(hood(surf, skel, off))
    if kind == "dress":
        knee = b.knee_height
        layers.append(cone(surf, skel, hip_z + 0.07 * h, knee - 0.02 * h, 0.06 * h / 1.75, 0.01))
    elif kind == "coat":
        knee = b.knee_height
        layers.append(cone(surf, skel, hip_z + 0.03 * h, knee + 0.01 * h, 0.035 * h / 1.75, off + 0.012))
    return Layer.merge(layers)


def _ring_band(
    surf: Surface,
    skel: Skeleton,
    zs: np.ndarray,
    grow: np.ndarray,
    bone_w: dict[str, float],
    nu: int = 20,
    back: np.ndarray | None = None,
    slice_z: np.ndarray | None = None,
) -> Layer:
    """An open-ended tube through body slices at heights ``zs`` (or ``slice_z`` where given),
    each grown by ``grow`` metres; ``back`` (per ring, metres) raises the rings at the back,
    fading to nothing at the sides."""
    at = zs if slice_z is None else slice_z
    rx, ry, cy = (np.array(v) for v in zip(*[_extents(surf, z, 0.012) for z in at], strict=True))
    ang = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    lift = np.outer(np.zeros(len(zs)) if back is None else back, np.clip(np.sin(ang), 0, 1) ** 0.7)
    verts = np.stack(
        [
            np.outer(rx + grow, np.cos(ang)),
            cy[:, None] + np.outer(ry + grow, np.sin(ang)),
            zs[:, None] + lift,
        ],
        -1,
    ).reshape(-1, 3)
    n = len(zs)
    faces = np.array(
        [
            [i * nu + j, (i + 1) * nu + j, (i + 1) * nu + (j + 1) % nu, i * nu + (j + 1) % nu]
            for i in range(n - 1)
            for j in range(nu)
        ]
    )
    W = np.zeros((len(verts), len(surf.bones)))
    for b, w in bone_w.items():
        W[:, surf.bones.index(b)] = w
    return Layer(verts, faces, W, verts.copy())


def lapels(surf: Surface, skel: Skeleton, off: float) -> Layer:
    """Two lapels folded back on the chest along the edges of an open coat or jacket: strips
    from the collar down to the lowest button, widest at the top, lying ``off`` metres in
    front of the chest surface (matching the open front's overlay of half width 0.045 h/1.75)."""
    h = skel.height
    k = h / 1.75
    top_z = skel.shoulder_z - 0.005 * h
    bot_z = skel.bones["chest"][0][2] - 0.04 * h
    zs = np.linspace(top_z, bot_z, 7)
    t = (top_z - zs) / (top_z - bot_z)
    body = ~surf.bone_mask("upperarm.L", "upperarm.R", "forearm.L", "forearm.R", "hand.L", "hand.R")
    sv = surf.verts[body]
    verts = []
    for sg in (1.0, -1.0):
        for z, tt in zip(zs, t, strict=True):
            inner = 0.047 * k  # just outside the inner colour of the opening
            width = 0.055 * k * (1 - tt) + 0.004
            for x in (inner, inner + 0.5 * width, inner + width):
                near = sv[(np.abs(sv[:, 2] - z) < 0.025) & (np.abs(sv[:, 0] - sg * x) < 0.02)]
                y = float(near[:, 1].min()) if len(near) else float(sv[:, 1].min())
                verts.append([sg * x, y - off - 0.003 * (x == inner), z])
    verts = np.array(verts)
    nz = len(zs)
    faces = []
    for s in range(2):
        base = s * nz * 3
        for i in range(nz - 1):
            for j in range(2):
                a = base + i * 3 + j
                faces.append([a, a + 3, a + 4, a + 1] if s else [a, a + 1, a + 4, a + 3])
    W = np.zeros((len(verts), len(surf.bones)))
    W[:, surf.bones.index("chest")] = 0.8
    W[:, surf.bones.index("spine")] = 0.2
    return Layer(verts, np.array(faces), W, verts.copy())


def collar_band(surf: Surface, skel: Skeleton, kind: str, off: float) -> Layer:
    """A collar: a ribbed band around the neckline (shirts) or a turned-down collar standing
    off the neck (jackets, coats)."""
    h = skel.height
    z0 = skel.bones["neck"][0][2] + 0.012 * h
    if kind in ("jacket", "coat"):
        # up the neck, then folded down and out: the fold shows above the shoulders from behind
        zs = z0 + np.array([-0.012, 0.0, 0.018, 0.03, 0.024, 0.014]) * h
        grow = off + np.array([0.004, 0.008, 0.012, 0.016, 0.02, 0.022]) * h / 1.75
        back = np.array([0.0, 0.004, 0.012, 0.018, 0.016, 0.01]) * h
        # the folded part takes the neck's slice, not the shoulders' it hangs in front of
        slice_z = np.where(np.arange(len(zs)) >= 3, zs[3], zs)
        return _ring_band(surf, skel, zs, grow, {"chest": 0.6, "neck": 0.4}, back=back, slice_z=slice_z)
    zs = z0 + np.array([-0.008, 0.0, 0.004]) * h
    grow = off + np.array([0.002, 0.004, 0.003]) * h / 1.75
    return _ring_band(surf, skel, zs, grow, {"chest": 0.6, "neck": 0.4})


def hood(surf: Surface, skel: Skeleton, off: float) -> Layer:
    """A hood lying on the upper back behind the neck (hoodies, hooded jackets), with its
    opening ring around the neck."""
    h = skel.height
    sz = skel.shoulder_z
    k = h / 1.75
    back_y = float(
        surf.verts[surf.bone_mask("chest", "neck") & (np.abs(surf.verts[:, 2] - sz) < 0.02), 1].max()
    )
    v, f = meshutil.superellipsoid(
        [0, back_y + 0.03 * k, sz - 0.005 * h],
        [0.1 * k, 0.045 * k, 0.085 * k],
        exponent=0.8,
        nu=14,
        nv=8,
        rot=_rx(-20.0),
    )
    back = Layer(v, f, meshutil.rigid_weights(len(v), surf.bones, "chest"), v.copy())
    z0 = skel.bones["neck"][0][2] + 0.01 * h
    ring = _ring_band(
        surf,
        skel,
        z0 + np.array([-0.01, 0.005, 0.02]) * h,
        off + np.array([0.006, 0.014, 0.02]) * k,
        {"chest": 0.6, "neck": 0.4},
    )
    return Layer.merge([back, ring])


def _rx(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def build_bottom(surf: Surface, skel: Skeleton, bottom: BottomPlan) -> Layer:
    kind = bottom.type
    h, b = skel.height, skel.body
    hip_z = b.leg_length
    waist = hip_z + WAISTBAND * h
    if kind in SKIRT_HEM:
        hem = hip_z - SKIRT_HEM[kind] * (hip_z - b.knee_height)
        hem = max(hem, 0.08 * h)
        pants = Layer(*subset(surf, legs_region(surf, skel, waist, 0.0, -1.0), 0.006))
        flare = {"skirt_short": 0.045, "skirt_knee": 0.055, "skirt_long": 0.08}[kind] * h / 1.75
        # a short hem turning fully with a thigh would lift off the thigh in front
        lead = 0.6 if kind == "skirt_short" else 1.0
        return Layer.merge([pants, cone(surf, skel, waist, hem, flare, 0.016, lead)])
    if kind == "shorts":
        thigh_t, shin_t = 0.55 if bottom.length is None else bottom.length, -1.0
    else:
        thigh_t, shin_t = 1.01, min(0.95, 0.94 if bottom.length is None else bottom.length)
    region = legs_region(surf, skel, waist, thigh_t, shin_t)
    off = BOTTOM_OFFSET.get(kind, 0.008) * float(np.clip(bottom.fit, 0.6, 1.8))
    legs = surf.bone_mask(*_sides("thigh.{}"), *_sides("shin.{}"))
    offset = np.where(legs, off * (1.6 if kind == "trousers" else 1.0), off)
    return Layer(*subset(surf, region, offset))


def build_shoes(surf: Surface, skel: Skeleton, shoes: ShoesPlan) -> Layer:
    kind = shoes.type
    shin_t = {"boots": 0.55, "shoes": 0.97, "trainers": 0.93}.get(kind, 0.95)
    region = Region(surf).set_bones(skel.bones).add(*_sides("foot.{}")).add(*_sides("shin.{}"), t_min=shin_t)
    off = np.full(len(surf.verts), 0.007 if kind != "boots" else 0.009)
    v, f, w, rest = subset(surf, region, off)
    low = v[:, 2] < 0.03
    v[low, 2] -= 0.016 if kind != "shoes" else 0.01  # the sole
    return Layer(v, f, w, rest)
