"""Hair (bald, short, medium, long, ponytail, bun) and facial hair as shells over the head
surface plus simple volumes (tails, buns, a curtain down the back)."""

from __future__ import annotations

import numpy as np

from synthreid.render.blender.person import meshutil
from synthreid.render.blender.person.body import Region, Surface, subset
from synthreid.render.blender.person.clothes import Layer
from synthreid.render.blender.person.skeleton import Skeleton

# style -> (hairline height at the back, at the front; in head heights from the head centre), shell m
CAPS = {"short": (-0.2, 0.2, 0.008), "medium": (-0.3, 0.18, 0.018), "long": (-0.3, 0.18, 0.018),
        "ponytail": (-0.3, 0.2, 0.008), "bun": (-0.3, 0.2, 0.008)}


def _head_frame(surf: Surface, skel: Skeleton):
    hc = skel.points["head_center"][0]
    rel = surf.verts - hc
    rxy = np.maximum(np.hypot(rel[:, 0], rel[:, 1]), 1e-9)
    front = -rel[:, 1] / rxy  # 1 = facing forward, -1 = back of the head
    on_head = surf.bone_mask("head", "neck")
    return hc, rel, front, on_head


def _rigid(n: int, surf: Surface, bone: str) -> np.ndarray:
    return meshutil.rigid_weights(n, surf.bones, bone)


def cap_layer(surf: Surface, skel: Skeleton, back: float, front_lv: float, shell: float) -> Layer:
    hh = skel.body["head_height"]
    hc, rel, front, on_head = _head_frame(surf, skel)
    def excess(p):  # > 0 below the hairline
        q = p - hc
        f = -q[:, 1] / np.maximum(np.hypot(q[:, 0], q[:, 1]), 1e-9)
        w = (f + 1) / 2
        return (back * (1 - w) ** 1.5 + front_lv * (1 - (1 - w) ** 1.5)) * hh - q[:, 2]

    r = Region(surf).add_fn(on_head, excess)
    off = shell * (0.6 + 0.4 * np.clip(surf.normals[:, 2] + 0.3, 0, 1))
    return Layer(*subset(surf, r, off))


def _face_point(surf: Surface, x: float, z: float) -> np.ndarray:
    """The point of the face surface at (x, z): depth averaged over the nearest front vertices."""
    v = surf.verts
    front = np.nonzero(surf.bone_mask("head") & (v[:, 1] < 0.0))[0]
    d2 = (v[front, 0] - x) ** 2 + (v[front, 2] - z) ** 2
    near = front[np.argsort(d2)[:3]]
    return np.array([x, float(v[near, 1].mean()), z])


def face(surf: Surface, skel: Skeleton) -> Layer:
    """Eyes, eyebrows and mouth: small dark shapes set into the face (rigid to the head)."""
    hw, hh = skel.body["head_width"], skel.body["head_height"]
    parts = []
    for s in ("l", "r"):
        ex = (0.22 if s == "l" else -0.22) * hw
        eye = _face_point(surf, ex, skel.eye_z)
        brow = _face_point(surf, ex * 1.05, skel.eye_z + 0.09 * hh)
        for c, half in ((eye + [0, 0.002, 0], [0.012 * hw / 0.15, 0.004, 0.007]),
                        (brow + [0, 0.0015, 0], [0.014 * hw / 0.15, 0.003, 0.003])):
            v, f = meshutil.superellipsoid(c, half, exponent=1.0, nu=8, nv=5)
            parts.append(Layer(v, f, _rigid(len(v), surf, "head"), v.copy()))
    mouth = _face_point(surf, 0.0, skel.chin_z + 0.25 * hh)
    v, f = meshutil.superellipsoid(mouth + [0, 0.002, 0], [0.018 * hw / 0.15, 0.004, 0.003], exponent=1.0,
                                   nu=8, nv=5)
    parts.append(Layer(v, f, _rigid(len(v), surf, "head"), v.copy()))
    return Layer.merge(parts)


def drape(surf: Surface, skel: Skeleton, long: bool) -> Layer:
    """Hair falling from the crown: an open C-shaped sheet around the back and sides of the
    head, to the jaw (medium) or over the upper back (long); open in front for the face."""
    b, h = skel.body, skel.height
    hh, hw, hd = b["head_height"], b["head_width"], skel.head_depth
    hc = skel.points["head_center"][0]
    back_y = b["chest_depth"] / 2 + 0.02
    z_end = skel.shoulder_z - 0.09 * h if long else skel.chin_z + 0.02 * hh
    n_rings, nu = 9, 17
    s = np.linspace(0.0, 1.0, n_rings)
    zc = hc[2] + 0.1 * hh + (z_end - hc[2] - 0.1 * hh) * s
    if long:
        cy = hc[1] + (back_y - 0.015 - hc[1]) * s**1.5
        rx = hw * 0.56 + (0.1 * h / 1.75 - hw * 0.56) * s
        ry = hd * 0.56 + (0.03 - hd * 0.56) * s**1.5
        th0 = np.radians(62 + 38 * s)
    else:
        cy = hc[1] + 0.01 * s
        rx = hw * (0.56 + 0.06 * s)
        ry = hd * (0.56 + 0.04 * s)
        th0 = np.radians(62 + 10 * s)
    u = np.linspace(0, 1, nu)
    th = th0[:, None] + (2 * np.pi - 2 * th0[:, None]) * u[None]
    verts = np.stack([rx[:, None] * np.sin(th), cy[:, None] - ry[:, None] * np.cos(th),
                      np.repeat(zc[:, None], nu, 1)], -1).reshape(-1, 3)
    faces = np.array([[i * nu + j, i * nu + j + 1, (i + 1) * nu + j + 1, (i + 1) * nu + j]
                      for i in range(n_rings - 1) for j in range(nu - 1)])
    W = np.zeros((len(verts), len(surf.bones)))
    low = np.clip((skel.chin_z - verts[:, 2]) / max(skel.chin_z - z_end, 1e-6), 0, 1) if long else 0.0
    W[:, surf.bones.index("head")] = 1 - low
    W[:, surf.bones.index("chest")] = low
    return Layer(verts, faces, W, verts.copy())


def build(surf: Surface, skel: Skeleton, character: dict) -> dict[str, Layer]:
    """Part name ('hair', 'facial_hair') -> mesh layer; empty for bald and clean-shaven."""
    out: dict[str, Layer] = {}
    b = skel.body
    hh, hw, hd, h = b["head_height"], b["head_width"], skel.head_depth, skel.height
    hc = skel.points["head_center"][0]
    style = (character.get("hair") or {}).get("style", "bald")
    if style in CAPS:
        back, front_lv, shell = CAPS[style]
        layers = [cap_layer(surf, skel, back, front_lv, shell)]
        if style in ("long", "medium"):
            layers.append(drape(surf, skel, long=style == "long"))
        elif style == "ponytail":
            path = np.array([hc + [0, 0.5 * hd, 0.05 * hh], hc + [0, 0.62 * hd, -0.2 * hh],
                             hc + [0, 0.62 * hd, -0.55 * hh], hc + [0, 0.58 * hd, -0.85 * hh]])
            v, f = meshutil.tube(path, np.array([0.022, 0.024, 0.018, 0.008]) * h / 1.7, nu=10)
            layers.append(Layer(v, f, _rigid(len(v), surf, "head"), v.copy()))
        elif style == "bun":
            v, f = meshutil.superellipsoid(hc + [0, 0.5 * hd, 0.3 * hh], [0.045, 0.04, 0.04], exponent=1.0,
                                           nu=14, nv=9)
            layers.append(Layer(v, f, _rigid(len(v), surf, "head"), v.copy()))
        out["hair"] = Layer.merge(layers)
    fh = character.get("facial_hair")
    if fh:
        _, rel, front, on_head = _head_frame(surf, skel)
        x, z = rel[:, 0], rel[:, 2]
        kind = fh.get("style", "beard")
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
