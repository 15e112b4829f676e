"""Hair (bald, short, medium, long, ponytail, bun) and facial hair as shells over the head
surface plus simple volumes (tails, buns, a curtain down the back)."""

from __future__ import annotations

import numpy as np

from synthreid.render.blender.person import meshutil
from synthreid.render.blender.person.body import Region, Surface, subset
from synthreid.render.blender.person.clothes import Layer
from synthreid.render.blender.person.skeleton import Skeleton
from synthreid.render.model.person import HairPlan, PersonPlan

# style -> hairline heights in head heights from the head centre at the back (nape), the side
# (sideburn, in front of the ear), the temple and the forehead; shell thickness in metres
CAPS = {
    "short": (-0.22, -0.06, 0.1, 0.22, 0.011),
    "medium": (-0.32, -0.16, 0.06, 0.2, 0.018),
    "long": (-0.34, -0.18, 0.06, 0.2, 0.02),
    "ponytail": (-0.26, -0.05, 0.09, 0.23, 0.01),
    "bun": (-0.26, -0.05, 0.09, 0.23, 0.01),
}
FRONT_AZ = [-1.0, -0.3, 0.1, 0.5, 0.8, 1.0]  # cos(azimuth from the nose) of the levels above


def _or(value, default):
    """A hair field's value, or its neutral default where the plan has none (bald)."""
    return default if value is None else value


def _head_frame(surf: Surface, skel: Skeleton):
    hc = skel.points["head_center"][0]
    rel = surf.verts - hc
    rxy = np.maximum(np.hypot(rel[:, 0], rel[:, 1]), 1e-9)
    front = -rel[:, 1] / rxy  # 1 = facing forward, -1 = back of the head
    on_head = surf.bone_mask("head", "neck")
    return hc, rel, front, on_head


def _rigid(n: int, surf: Surface, bone: str) -> np.ndarray:
    return meshutil.rigid_weights(n, surf.bones, bone)


def hairline(hair: HairPlan, style: str, hh: float, hw: float):
    """excess(points relative to the head centre) > 0 below the hairline of ``style`` with the
    character's fringe ('none' | 'bangs' | 'side' parting), ragged by a seeded noise."""
    back, side, temple, front_lv, _ = CAPS[style]
    fringe = _or(hair.fringe, "none")
    part = _or(hair.part, 1.0)
    seed = _or(hair.seed, 0)

    def excess(q):
        rxy = np.maximum(np.hypot(q[:, 0], q[:, 1]), 1e-9)
        f = -q[:, 1] / rxy
        lv = np.interp(f, FRONT_AZ, [back, back, side, temple, front_lv, front_lv])
        az = np.arctan2(q[:, 0], -q[:, 1])
        if fringe == "bangs":  # a straight fringe down to the brows, comb-toothed edge
            fr = np.clip((f - 0.45) / 0.3, 0, 1)
            lv = lv * (1 - fr) + (0.09 + 0.015 * np.sin(az * 40.0)) * fr
        elif fringe == "side":  # hair swept from a parting over one side of the forehead
            fr = np.clip((f - 0.35) / 0.35, 0, 1) * np.clip(0.5 + 2.5 * part * q[:, 0] / hw, 0, 1)
            lv = lv * (1 - fr) + (0.07 + 0.1 * np.clip(0.5 - part * q[:, 0] / hw, 0, 1)) * fr
        dirs = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-9)
        lv = lv + 0.035 * meshutil.smooth_noise(dirs, seed, 0.9) + 0.012 * np.sin(az * 23.0 + seed)
        return lv * hh - q[:, 2]

    return excess


def cap_layer(surf: Surface, skel: Skeleton, style: str, hair: HairPlan) -> Layer:
    """The hair over the scalp: cut at the style's hairline, thicker at the crown and at the
    back, with a noisy surface so it does not read as a swim cap."""
    hh, hw = skel.body.head_height, skel.body.head_width
    hc, rel, front, on_head = _head_frame(surf, skel)
    ex = hairline(hair, style, hh, hw)
    r = Region(surf).add_fn(on_head, lambda p: ex(p - hc))
    shell = CAPS[style][4] * _or(hair.volume, 1.0)
    up = np.clip(rel[:, 2] / hh + 0.15, 0, 0.6)  # crown volume
    off = shell * (0.55 + 0.45 * np.clip(surf.normals[:, 2] + 0.3, 0, 1) + 0.6 * up)
    off *= 1.0 + 0.45 * meshutil.smooth_noise(rel, _or(hair.seed, 0) + 1, 0.06)
    if style in ("ponytail", "bun"):  # pulled back tight over the forehead
        off *= np.where(front > 0.3, 0.7, 1.0)
    return Layer(*subset(surf, r, off))


def _face_point(surf: Surface, x: float, z: float) -> np.ndarray:
    """The point of the face surface at (x, z): depth averaged over the nearest front vertices."""
    v = surf.verts
    front = np.nonzero(surf.bone_mask("head") & (v[:, 1] < 0.0))[0]
    d2 = (v[front, 0] - x) ** 2 + (v[front, 2] - z) ** 2
    near = front[np.argsort(d2)[:3]]
    return np.array([x, float(v[near, 1].mean()), z])


def face(surf: Surface, skel: Skeleton) -> tuple[Layer, Layer]:
    """(eyes and mouth, eyebrows): small shapes set into the face (rigid to the head); the
    brows are drawn in the hair colour by the caller."""
    hw, hh = skel.body.head_width, skel.body.head_height
    k = hw / 0.15
    dark, brows = [], []
    for s in ("l", "r"):
        sg = 1.0 if s == "l" else -1.0
        ex = sg * 0.22 * hw
        eye = _face_point(surf, ex, skel.eye_z)
        brow = _face_point(surf, ex * 1.05, skel.eye_z + 0.085 * hh)
        v, f = meshutil.superellipsoid(
            eye + [0, 0.002, 0], [0.013 * k, 0.004, 0.0075 * k], exponent=1.0, nu=8, nv=5
        )
        dark.append(Layer(v, f, _rigid(len(v), surf, "head"), v.copy()))
        # a brow slants down towards the temple
        a = np.radians(-8.0 * sg)
        rot = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
        v, f = meshutil.superellipsoid(
            brow + [0, 0.001, 0], [0.017 * k, 0.004, 0.0045 * k], exponent=0.8, nu=8, nv=5, rot=rot
        )
        brows.append(Layer(v, f, _rigid(len(v), surf, "head"), v.copy()))
    mouth = _face_point(surf, 0.0, skel.chin_z + 0.25 * hh)
    v, f = meshutil.superellipsoid(
        mouth + [0, 0.002, 0], [0.017 * k, 0.004, 0.0025], exponent=1.0, nu=8, nv=5
    )
    dark.append(Layer(v, f, _rigid(len(v), surf, "head"), v.copy()))
    return Layer.merge(dark), Layer.merge(brows)


def face_tint(surf: Surface, skel: Skeleton) -> np.ndarray:
    """(N, 3) RGB multipliers of the skin colour per body vertex: shaded eye sockets, redder
    lips and a warm flush on the cheeks (1 elsewhere)."""
    hw, hh, hd = skel.body.head_width, skel.body.head_height, skel.head_depth
    v = surf.verts
    tint = np.ones((len(v), 3))
    face = np.nonzero(surf.bone_mask("head") & (v[:, 1] < -0.25 * hd))[0]
    if not len(face):
        return tint
    x, z = v[face, 0], v[face, 2]
    sx, sz = 0.14 * hw, 0.075 * hh

    def g(cx, cz, ax, az):
        return np.exp(-(((x - cx) / (sx * ax)) ** 2) - ((z - cz) / (sz * az)) ** 2)

    ez = skel.eye_z + 0.01 * hh
    sockets = np.maximum(g(0.22 * hw, ez, 1.0, 1.0), g(-0.22 * hw, ez, 1.0, 1.0))
    cheeks = np.maximum(
        g(0.27 * hw, skel.eye_z - 0.15 * hh, 1.3, 1.5), g(-0.27 * hw, skel.eye_z - 0.15 * hh, 1.3, 1.5)
    )
    lips = g(0.0, skel.chin_z + 0.25 * hh, 1.2, 0.45)
    t = np.ones((len(face), 3))
    t *= 1 - 0.5 * sockets[:, None]
    t *= 1 - 0.5 * cheeks[:, None] * np.array([-0.05, 0.18, 0.2])
    t *= 1 - 0.7 * lips[:, None] * np.array([0.3, 0.62, 0.6])
    tint[face] = t
    return tint


def drape(surf: Surface, skel: Skeleton, hair: HairPlan, long: bool) -> Layer:
    """Hair falling from the crown: an open C-shaped sheet around the back and sides of the
    head, behind the ears to the jaw (medium) or onto the shoulders and upper back (long);
    open in front for the face, with a ragged, layered lower edge."""
    b, h = skel.body, skel.height
    hh, hw, hd = b.head_height, b.head_width, skel.head_depth
    hc = skel.points["head_center"][0]
    vol = _or(hair.volume, 1.0)
    back_y = b.chest_depth / 2 + 0.02
    length = _or(hair.length, 1.0)
    z_end = (skel.shoulder_z - 0.09 * h * length) if long else skel.chin_z + (0.12 - 0.2 * length) * hh
    n_rings, nu = 10, 21
    s = np.linspace(0.0, 1.0, n_rings)
    zc = hc[2] + 0.12 * hh + (z_end - hc[2] - 0.12 * hh) * s
    if long:
        cy = hc[1] + (back_y - 0.015 - hc[1]) * s**1.5
        rx = hw * (0.58 + 0.06 * vol) + (0.11 * h / 1.75 - hw * 0.58) * s
        ry = hd * (0.58 + 0.04 * vol) + (0.03 - hd * 0.56) * s**1.5
        th0 = np.radians(58 + 40 * s)
    else:
        cy = hc[1] + 0.01 * s
        rx = hw * (0.53 + 0.04 * vol + 0.05 * vol * s)
        ry = hd * (0.55 + 0.03 * vol + 0.04 * s)
        th0 = np.radians(64 + 14 * s)
    u = np.linspace(0, 1, nu)
    th = th0[:, None] + (2 * np.pi - 2 * th0[:, None]) * u[None]
    seed = _or(hair.seed, 0)
    # strands: a lengthwise ripple of the radius and a ragged end, longer at the back
    wob = 1.0 + 0.05 * np.sin(u * 2 * np.pi * 5 + seed)[None] * s[:, None]
    ragged = (
        0.06 * np.sin(u * 2 * np.pi * 7.0 + seed)
        + 0.04 * np.sin(u * 2 * np.pi * 3.0 + 2 * seed)
        + 0.08 * np.sin(np.pi * u)
    ) * hh
    z = np.repeat(zc[:, None], nu, 1) - s[:, None] ** 2 * ragged[None]
    verts = np.stack(
        [rx[:, None] * np.sin(th) * wob, cy[:, None] - ry[:, None] * np.cos(th) * wob, z], -1
    ).reshape(-1, 3)
    faces = np.array(
        [
            [i * nu + j, i * nu + j + 1, (i + 1) * nu + j + 1, (i + 1) * nu + j]
            for i in range(n_rings - 1)
            for j in range(nu - 1)
        ]
    )
    W = np.zeros((len(verts), len(surf.bones)))
    low = np.clip((skel.chin_z - verts[:, 2]) / max(skel.chin_z - z_end, 1e-6), 0, 1) if long else 0.0
    W[:, surf.bones.index("head")] = 1 - low
    W[:, surf.bones.index("chest")] = low
    return Layer(verts, faces, W, verts.copy())


def _ponytail(surf: Surface, skel: Skeleton, hair: HairPlan) -> Layer:
    b, h = skel.body, skel.height
    hh, hd = b.head_height, skel.head_depth
    hc = skel.points["head_center"][0]
    k = h / 1.7 * _or(hair.volume, 1.0)
    drop = _or(hair.length, 1.0)
    path = np.array(
        [
            hc + [0, 0.48 * hd, 0.12 * hh],
            hc + [0, 0.66 * hd, 0.02 * hh],
            hc + [0, 0.72 * hd, -0.3 * hh],
            hc + [0, 0.7 * hd, -(0.3 + 0.5 * drop) * hh],
            hc + [0, 0.66 * hd, -(0.3 + 0.9 * drop) * hh],
        ]
    )
    v, f = meshutil.tube(path, np.array([0.02, 0.026, 0.03, 0.022, 0.006]) * k, nu=10)
    tail = Layer(v, f, _rigid(len(v), surf, "head"), v.copy())
    v, f = meshutil.superellipsoid(
        path[0] + [0, 0.008, 0], [0.022 * k, 0.016 * k, 0.02 * k], exponent=1.0, nu=10, nv=6
    )  # the gathered knot
    return Layer.merge([tail, Layer(v, f, _rigid(len(v), surf, "head"), v.copy())])


def _bun(surf: Surface, skel: Skeleton, hair: HairPlan) -> Layer:
    hh, hd = skel.body.head_height, skel.head_depth
    hc = skel.points["head_center"][0]
    r = 0.048 * skel.height / 1.7 * _or(hair.volume, 1.0)
    v, f = meshutil.superellipsoid(
        hc + [0, 0.42 * hd, 0.42 * hh], [r, r * 0.9, r * 0.8], exponent=1.0, nu=14, nv=9
    )
    v = v + (v - v.mean(0)) * 0.12 * meshutil.smooth_noise(v, _or(hair.seed, 0), 0.03)[:, None]
    return Layer(v, f, _rigid(len(v), surf, "head"), v.copy())


def build(surf: Surface, skel: Skeleton, character: PersonPlan) -> dict[str, Layer]:
    """Part name ('hair', 'facial_hair') -> mesh layer; empty for bald and clean-shaven."""
    out: dict[str, Layer] = {}
    b = skel.body
    hh, hw = b.head_height, b.head_width
    hair = character.hair
    style = hair.style
    if style in CAPS:
        layers = [cap_layer(surf, skel, style, hair)]
        if style in ("long", "medium"):
            layers.append(drape(surf, skel, hair, long=style == "long"))
        elif style == "ponytail":
            layers.append(_ponytail(surf, skel, hair))
        elif style == "bun":
            layers.append(_bun(surf, skel, hair))
        out["hair"] = Layer.merge(layers)
    fh = character.facial_hair
    if fh:
        _, rel, front, on_head = _head_frame(surf, skel)
        x, z = rel[:, 0], rel[:, 2]
        kind = fh.style
        if kind == "moustache":
            m = on_head & (front > 0.55) & (np.abs(x) < 0.3 * hw) & (z < -0.12 * hh) & (z > -0.24 * hh)
            off = 0.004
        elif kind == "goatee":
            m = on_head & (front > 0.5) & (np.abs(x) < 0.22 * hw) & (z < -0.14 * hh)
            off = 0.005
        else:
            m = on_head & (front > -0.1) & (z < -0.1 * hh) & (surf.part == surf.bones.index("head"))
            off = 0.0015 if kind == "stubble" else 0.007
        if m.any():
            out["facial_hair"] = Layer(*subset(surf, m, off, min_corners=3))
    return out
