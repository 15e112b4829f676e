"""Accessories: backpack, shoulder bag, handbag, hat, cap and glasses.

Rigid pieces are rounded boxes bound to one bone; straps and cap domes are strips of the body
surface pushed out beyond any garment so they lie on top of the clothes.
"""

from __future__ import annotations

import numpy as np

from synthreid.render.blender.person import meshutil
from synthreid.render.blender.person.body import Surface, subset
from synthreid.render.blender.person.clothes import Layer
from synthreid.render.blender.person.skeleton import Skeleton
from synthreid.render.model.person import PersonPlan

OVER_CLOTHES = 0.03  # m: straps sit outside the thickest coat


def _rigid_box(surf: Surface, bone: str, center, half, exponent=0.3, rot=None, nu=16, nv=10) -> Layer:
    v, f = meshutil.superellipsoid(center, half, exponent, nu=nu, nv=nv, rot=rot)
    return Layer(v, f, meshutil.rigid_weights(len(v), surf.bones, bone), v.copy())


def _torso(surf: Surface) -> np.ndarray:
    return surf.bone_mask("spine", "chest", "shoulder.L", "shoulder.R", "pelvis")


def _surface_point(surf: Surface, x: float, z: float, side: float, out: float):
    """The torso surface point at (x, z) seen from the front (side -1) or back (+1), pushed
    ``out`` metres along y, and the skin weights of the nearest body vertex."""
    v = surf.verts
    if side == 0:  # over the shoulder: the highest torso point at this x near the coronal plane
        near = _torso(surf) & (np.abs(v[:, 0] - x) < 0.03) & (np.abs(v[:, 1]) < 0.05)
        idx = np.nonzero(near)[0] if near.any() else np.nonzero(_torso(surf))[0]
        i = idx[np.argmax(v[idx, 2])]
        return np.array([x, v[i, 1], v[i, 2] + out]), surf.weights[i]
    near = _torso(surf) & (np.abs(v[:, 0] - x) < 0.03) & (np.abs(v[:, 2] - z) < 0.03)
    if not near.any():
        near = _torso(surf)
    idx = np.nonzero(near)[0]
    i = idx[np.argmax(v[idx, 1] * side)]
    return np.array([x, v[i, 1] + side * out, z]), surf.weights[i]


def _strap(surf: Surface, pts_xz, sides, radius: float = 0.007) -> Layer:
    """A round strap through torso surface points (x, z, side) lying over any clothes."""
    pts, ws = zip(
        *[_surface_point(surf, x, z, sd, OVER_CLOTHES) for (x, z), sd in zip(pts_xz, sides, strict=True)],
        strict=True,
    )
    path = np.array(pts)
    v, f = meshutil.tube(path, radius, nu=6, closed_ends=True)
    nu = 6
    W = np.vstack([np.repeat(np.array(ws), nu, axis=0), ws[0][None], ws[-1][None]])
    return Layer(v, f, W, v.copy())


def _backpack(surf, skel, a) -> Layer:
    h = skel.height
    w, ht, d = a.size
    chest_z = skel.bones["chest"][0][2]
    cz = chest_z - 0.02 * h
    back = _surface_point(surf, 0.0, cz, 1.0, OVER_CLOTHES * 0.6)[0]
    pack = _rigid_box(surf, "chest", [0, back[1] + d / 2, cz], [w / 2, d / 2, ht / 2])
    layers = [pack]
    top_z = skel.shoulder_z + 0.012 * h
    for sx in (-1.0, 1.0):
        x = sx * 0.085 * h / 1.75
        zs = np.linspace(cz + ht * 0.35, chest_z - 0.09 * h, 6)
        pts = [(x, cz + ht * 0.4)] + [(x, top_z)] + [(x, z) for z in zs[1:]]
        sides = [1.0, 0.0] + [-1.0] * (len(zs) - 1)
        layers.append(_strap(surf, pts, sides))
    return Layer.merge(layers)


def _shoulder_bag(surf, skel, a) -> Layer:
    b, h = skel.body, skel.height
    w, ht, d = a.size
    sg = 1.0 if a.side == "left" else -1.0
    hip_z = b.leg_length + 0.05 * h
    side_x = float(np.abs(surf.verts[_torso(surf) & (np.abs(surf.verts[:, 2] - hip_z) < 0.03), 0]).max())
    center = [sg * (side_x + d / 2 + OVER_CLOTHES), 0.0, hip_z]
    bag = _rigid_box(surf, "pelvis", center, [d / 2, w / 2, ht / 2])
    x0, z0 = -sg * 0.075 * h / 1.75, skel.shoulder_z + 0.014 * h
    x1, z1 = sg * (side_x - 0.01), hip_z + ht / 2
    t = np.linspace(0, 1, 7)
    front = [(x0 + (x1 - x0) * u, z0 + (z1 - z0) * u) for u in t]
    strap_f = _strap(surf, front, [0.0] + [-1.0] * 6)
    strap_b = _strap(surf, front, [0.0] + [1.0] * 6)
    return Layer.merge([bag, strap_f, strap_b])


def _handbag(surf, skel, a) -> Layer:
    w, ht, d = a.size
    s = "L" if a.side == "left" else "R"
    hand = skel.points[f"{s.lower()}_hand"][0]
    center = hand + [0, 0, -ht / 2 - 0.05]
    bag = _rigid_box(surf, f"hand.{s}", center, [d / 2, w / 2, ht / 2], exponent=0.35)
    path = np.array([hand + [0, -w * 0.3, -0.05], hand + [0, 0, 0.01], hand + [0, w * 0.3, -0.05]])
    v, f = meshutil.tube(path, 0.008, nu=6)
    handle = Layer(v, f, meshutil.rigid_weights(len(v), surf.bones, f"hand.{s}"), v.copy())
    return Layer.merge([bag, handle])


def _hat(surf, skel, a) -> Layer:
    b = skel.body
    hh, hw, hd = b.head_height, b.head_width, skel.head_depth
    hc = skel.points["head_center"][0]
    crown = _rigid_box(
        surf, "head", hc + [0, 0.02 * hd, 0.36 * hh], [hw * 0.56, hd * 0.55, hh * 0.24], exponent=0.5
    )
    brim = a.brim
    disc = _rigid_box(
        surf,
        "head",
        hc + [0, 0.02 * hd, 0.2 * hh],
        [hw * 0.55 + brim, hd * 0.55 + brim, 0.005],
        exponent=1.0,
        nu=24,
        nv=6,
    )
    return Layer.merge([crown, disc])


def _cap(surf, skel, a) -> Layer:
    b = skel.body
    hh, hd = b.head_height, skel.head_depth
    hc = skel.points["head_center"][0]
    rel = surf.verts - hc
    dome = surf.bone_mask("head") & (rel[:, 2] > 0.12 * hh)
    sgn = 1.0 if a.backwards else -1.0
    visor = _rigid_box(
        surf,
        "head",
        hc + [0, sgn * (0.5 * hd + 0.035), 0.14 * hh],
        [0.075, 0.05, 0.005],
        exponent=1.0,
        nu=20,
        nv=6,
    )
    return Layer.merge([Layer(*subset(surf, dome, 0.022, min_corners=3)), visor])


def _glasses(surf, skel, a) -> Layer:
    hw = skel.body.head_width
    parts = []
    for s in ("l", "r"):
        eye = skel.points[f"{s}_eye"][0]
        parts.append(
            _rigid_box(surf, "head", eye + [0, -0.012, 0], [0.021, 0.003, 0.015], exponent=0.6, nu=12, nv=6)
        )
        sx = 1.0 if s == "l" else -1.0
        ear = skel.points[f"{s}_ear"][0]
        mid = (eye + ear) / 2 + [sx * 0.012, 0, 0.004]
        length = abs(ear[1] - eye[1]) + 0.012
        parts.append(
            _rigid_box(
                surf,
                "head",
                [sx * (hw * 0.5 + 0.004), mid[1], eye[2] + 0.004],
                [0.002, length / 2, 0.003],
                exponent=0.5,
                nu=8,
                nv=4,
            )
        )
    le, re_ = skel.points["l_eye"][0], skel.points["r_eye"][0]
    parts.append(
        _rigid_box(
            surf,
            "head",
            (le + re_) / 2 + [0, -0.013, 0.006],
            [abs(le[0]) * 0.5, 0.002, 0.002],
            exponent=0.5,
            nu=8,
            nv=4,
        )
    )
    return Layer.merge(parts)


def phone(surf: Surface, skel: Skeleton) -> Layer:
    """A phone in the right hand, screen up towards the face (rigid to the hand)."""
    hand = skel.points["r_hand"][0]
    return _rigid_box(
        surf, "hand.R", hand + [0.0, -0.02, 0.0], [0.036, 0.006, 0.074], exponent=0.25, nu=12, nv=6
    )


BUILDERS = {
    "backpack": _backpack,
    "shoulder_bag": _shoulder_bag,
    "handbag": _handbag,
    "hat": _hat,
    "cap": _cap,
    "glasses": _glasses,
}


def build(surf: Surface, skel: Skeleton, character: PersonPlan) -> dict[str, tuple[Layer, list, float]]:
    """Accessory name -> (layer, linear RGB colour, roughness) for those the person has."""
    out = {}
    for name, a in character.accessories.worn():
        rough = 0.15 if name == "glasses" else 0.6
        out[name] = (BUILDERS[name](surf, skel, a), list(a.color), rough)
    if character.hands == "phone":
        out["phone"] = (phone(surf, skel), [0.02, 0.02, 0.025], 0.2)
    return out
