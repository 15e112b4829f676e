"""The body: one smooth surface grown from the skeleton (skin modifier + subdivision, baked).

The skin modifier turns the skeleton's node graph into a single closed hull (branches at the
shoulders and hips included); subdividing it twice gives a smooth all-quad surface, which is
baked into a plain mesh so that garments can be cut from it and skinned with the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from synthreid.render.blender.person import meshutil
from synthreid.render.blender.person.skeleton import Skeleton

WEIGHT_FALLOFF = 0.012  # m: how far skin weights blend across a joint
SUBSURF_GROW = 1.12  # subdivision shrinks the skin hull; node radii are scaled up to compensate


@dataclass
class Surface:
    """The baked rest-pose body surface and what every vertex belongs to.

    verts (N, 3), faces (F, 4), normals (N, 3); weights (N, B) over ``bones``;
    part (N,) index of the dominant bone; t (N,) position along it (0 head .. 1 tail).
    """

    verts: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    weights: np.ndarray
    bones: list[str]
    part: np.ndarray
    t: np.ndarray

    def bone_mask(self, *names: str) -> np.ndarray:
        lut = np.zeros(len(self.bones), dtype=bool)
        lut[[self.bones.index(n) for n in names]] = True
        return lut[self.part]


def skin_weights(skel: Skeleton, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (N, B), dominant bone (N,), t along it (N,)) for rest-pose points.

    Each point blends only between its nearest bone and that bone's parent and children, so
    the torso never follows a swinging arm and one thigh never pulls the other.
    """
    names = skel.bone_names()
    D, T = skel.segment_distances(pts)
    near = D.argmin(1)
    nb = skel.neighbours()
    allowed = np.zeros((len(names), len(names)), dtype=bool)
    for i, n in enumerate(names):
        for m in nb[n]:
            allowed[i, names.index(m)] = True
    ok = allowed[near]
    dmin = D[np.arange(len(pts)), near][:, None]
    W = np.where(ok, np.exp(-(D - dmin) / WEIGHT_FALLOFF), 0.0)
    W[W < 0.04] = 0.0
    W /= W.sum(1, keepdims=True)
    part = W.argmax(1)
    return W, part, T[np.arange(len(pts)), part]


def bake_surface(skel: Skeleton, levels: int = 2) -> Surface:
    """Build the skin-modifier hull, subdivide, bake to arrays and delete the temporaries."""
    pos = np.array([n[0] for n in skel.nodes])
    me = bpy.data.meshes.new("_skin_tmp")
    me.vertices.add(len(pos))
    me.vertices.foreach_set("co", pos.astype(np.float32).ravel())
    e = np.array(skel.edges, dtype=np.int32)
    me.edges.add(len(e))
    me.edges.foreach_set("vertices", e.ravel())
    me.update()
    obj = bpy.data.objects.new("_skin_tmp", me)
    bpy.context.scene.collection.objects.link(obj)
    try:
        obj.modifiers.new("skin", "SKIN")
        sv = me.skin_vertices[0].data
        radii = np.array([n[1] for n in skel.nodes], dtype=np.float32) * SUBSURF_GROW
        sv.foreach_set("radius", radii.ravel())
        sv[0].use_root = True
        sub = obj.modifiers.new("sub", "SUBSURF")
        sub.levels = levels
        sub.quality = 1  # the skin hull is coarse: low-quality subdivision is indistinguishable
        dg = bpy.context.evaluated_depsgraph_get()
        baked = bpy.data.meshes.new_from_object(obj.evaluated_get(dg))
        verts, faces = meshutil.mesh_arrays(baked)
        bpy.data.meshes.remove(baked)
    finally:
        bpy.data.objects.remove(obj)
        bpy.data.meshes.remove(me)
    W, part, t = skin_weights(skel, verts)
    verts = sculpt(skel, verts, meshutil.vertex_normals(verts, faces), part)
    return Surface(verts, faces, meshutil.vertex_normals(verts, faces), W, skel.bone_names(), part, t)


def sculpt(skel: Skeleton, verts: np.ndarray, normals: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Soft-tissue shapes the skin hull cannot make: bust, buttocks and belly as Gaussian
    bumps pushed out along the normals (torso vertices only, so arms stay untouched)."""
    b, h = skel.body, skel.height
    names = skel.bone_names()
    torso = np.isin(part, [names.index(n) for n in ("pelvis", "spine", "chest", "thigh.L", "thigh.R")])
    k = h / 1.75
    hip_z, chest_z = b.leg_length, skel.bones["chest"][0][2]
    fat = max(0.0, (b.waist_width / h - 0.14) * 4)

    def surface_y(x, z, side):  # front (side -1) or back (+1) of the torso at (x, z)
        near = torso & (np.abs(verts[:, 0] - x) < 0.03) & (np.abs(verts[:, 2] - z) < 0.03)
        if not near.any():
            return 0.0
        return float((verts[near, 1] * side).max() * side)

    bumps = []  # (centre, sigma, amplitude), metres
    if b.bust > 0:
        for sx in (-1, 1):
            x, z = sx * 0.085 * k, chest_z - 0.015 * h
            bumps.append(((x, surface_y(x, z, -1), z), 0.05 * k, b.bust * 1.3))
    glute = (0.012 + (0.008 if b.bust > 0 else 0.0) + 0.01 * fat) * k
    for sx in (-1, 1):
        x, z = sx * 0.06 * k, hip_z - 0.005 * h
        bumps.append(((x, surface_y(x, z, 1), z), 0.065 * k, glute))
    if b.belly > 0:
        z = (skel.bones["spine"][0][2] + hip_z) / 2 + 0.01 * h
        bumps.append(((0.0, surface_y(0.0, z, -1), z), 0.09 * k, b.belly * 0.6))
    out = verts.copy()
    for c, sigma, amp in bumps:
        d2 = ((verts - np.asarray(c)) ** 2).sum(1)
        out[torso] += normals[torso] * (amp * np.exp(-d2[torso] / (2 * sigma**2)))[:, None]
    # nose and ears on the head
    head = part == names.index("head")
    hh, hw = b.head_height, b.head_width
    hv = verts[head]
    if len(hv):
        face = []
        nz = skel.chin_z + 0.36 * hh
        near = np.abs(hv[:, 0]) < 0.015
        near &= np.abs(hv[:, 2] - nz) < 0.02
        if near.any():
            face.append(((0.0, float(hv[near, 1].min()), nz), 0.012 * k, 0.014 * k))
        for sx in (-1, 1):
            ez = skel.eye_z - 0.06 * hh
            side = (hv[:, 0] * sx > 0) & (np.abs(hv[:, 2] - ez) < 0.02) & (np.abs(hv[:, 1]) < 0.03)
            if side.any():
                face.append(
                    ((sx * float(np.abs(hv[side, 0]).max()), 0.01 * k, ez), 0.016 * k, 0.008 * k * hw / 0.15)
                )
        for c, sigma, amp in face:
            d2 = ((hv - np.asarray(c)) ** 2).sum(1)
            out[head] += normals[head] * (amp * np.exp(-d2 / (2 * sigma**2)))[:, None]
    return out


class Region:
    """Vertices a garment covers, cut cleanly along its hems and cuffs.

    Each rule adds the vertices of some bones and an "excess" function (<= 0 inside, > 0
    past the cut). Faces straddling a cut are kept and their outside corners are slid along
    the face edges to where the excess crosses zero, so hems are smooth lines on the surface.
    """

    def __init__(self, surf: Surface):
        self.surf = surf
        n = len(surf.verts)
        self.inside = np.zeros(n, dtype=bool)
        self.rule = np.full(n, -1, dtype=np.int64)  # index into self.fns for cut-off vertices
        self.fns: list = []
        self._bones: dict = {}

    def set_bones(self, bones: dict[str, tuple[np.ndarray, np.ndarray, str | None]]) -> Region:
        self._bones = bones
        return self

    def add_fn(self, mask: np.ndarray, excess, limit: float = 0.05) -> Region:
        """Vertices of ``mask`` with ``excess(points) <= 0`` are inside; those up to ``limit``
        past the cut may be slid onto it."""
        e = excess(self.surf.verts)
        self.inside |= mask & (e <= 0)
        cut = mask & (e > 0) & (e < limit) & ~self.inside
        self.rule[cut] = len(self.fns)
        self.fns.append(excess)
        return self

    def add(self, *bones: str, t_max=None, t_min=None, z_min=None, z_max=None) -> Region:
        """Add the vertices of ``bones`` that pass every given cut: ``t_*`` along each bone
        (0 head .. 1 tail), ``z_*`` height in metres."""

        def zex(p):
            e = np.full(len(p), -np.inf)
            if z_min is not None:
                e = np.maximum(e, z_min - p[:, 2])
            if z_max is not None:
                e = np.maximum(e, p[:, 2] - z_max)
            return e

        if t_max is None and t_min is None:
            if z_min is None and z_max is None:
                self.inside |= self.surf.bone_mask(*bones)
            else:
                self.add_fn(self.surf.bone_mask(*bones), zex)
            return self
        for b in bones:
            head, tail, _ = self._bones[b]
            seg = tail - head
            L = float(np.linalg.norm(seg))

            def fn(p, head=head, seg=seg, L=L):
                along = (p - head) @ seg / L  # metres along the bone from its head
                e = zex(p)
                if t_max is not None:
                    e = np.maximum(e, along - t_max * L)
                if t_min is not None:
                    e = np.maximum(e, t_min * L - along)
                return e

            self.add_fn(self.surf.bone_mask(b), fn)
        return self

    def slide(self, faces: np.ndarray) -> np.ndarray:
        """(N, 3) rest positions with the outside corners of ``faces`` slid onto their cuts."""
        v = self.surf.verts
        out = v.copy()
        acc = np.zeros_like(v)
        cnt = np.zeros(len(v))
        for c in range(4):
            for d in (1, 3, 2):  # edge neighbours first; the diagonal only as a fallback
                o, i = faces[:, c], faces[:, (c + d) % 4]
                sel = ~self.inside[o] & self.inside[i] & (self.rule[o] >= 0)
                if d == 2:
                    sel &= cnt[o] == 0
                for r in np.unique(self.rule[o[sel]]):
                    rs = sel & (self.rule[o] == r)
                    oo, ii = o[rs], i[rs]
                    eo, ei = self.fns[r](v[oo]), self.fns[r](v[ii])
                    s = np.clip(eo / np.maximum(eo - ei, 1e-9), 0.0, 1.0)
                    np.add.at(acc, oo, v[oo] + s[:, None] * (v[ii] - v[oo]))
                    np.add.at(cnt, oo, 1.0)
        moved = cnt > 0
        out[moved] = acc[moved] / cnt[moved, None]
        return out


def subset(surf: Surface, region, offset: float | np.ndarray, min_corners: int = 4):
    """Cut the faces of ``region`` (a Region, or a vertex mask needing ``min_corners`` of 4
    corners inside) and push them ``offset`` metres out along the normals:
    (verts, faces, weights, rest) of a layer."""
    if isinstance(region, Region):
        ok = region.inside | (region.rule >= 0)
        fm = ok[surf.faces].all(1) & region.inside[surf.faces].any(1)
        pos = region.slide(surf.faces[fm])
    else:
        fm = region[surf.faces].sum(1) >= min_corners
        pos = surf.verts
    faces = surf.faces[fm]
    used = np.unique(faces)
    remap = np.full(len(surf.verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    off = np.asarray(offset, float)
    off = off[used] if off.ndim else off
    rest = pos[used]
    v = rest + surf.normals[used] * np.reshape(off, (-1, 1))
    return v, remap[faces], surf.weights[used], rest
