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
    return Surface(verts, faces, meshutil.vertex_normals(verts, faces), W, skel.bone_names(), part, t)


class Region:
    """Vertices a garment covers, cut cleanly: vertices just past a cut get a displacement
    that moves them onto it (so hems and cuffs are straight lines, not stair-steps)."""

    def __init__(self, surf: Surface):
        self.surf = surf
        n = len(surf.verts)
        self.inside = np.zeros(n, dtype=bool)
        self.disp = np.full((n, 3), np.nan)
        names = surf.bones
        self._seg = np.array([[0.0, 0.0, 0.0]] * len(names))

    def set_bones(self, bones: dict[str, tuple[np.ndarray, np.ndarray, str | None]]) -> Region:
        self._seg = np.array([bones[n][1] - bones[n][0] for n in self.surf.bones])
        return self

    def add(self, *bones: str, t_max=None, t_min=None, z_min=None, z_max=None) -> Region:
        s = self.surf
        m = s.bone_mask(*bones)
        t, z = s.t, s.verts[:, 2]
        d = np.zeros((len(t), 3))
        out = np.zeros(len(t), dtype=bool)
        seg = self._seg[s.part]
        if t_max is not None:
            o = t > t_max
            d[o] -= (t[o] - t_max)[:, None] * seg[o]
            out |= o
        if t_min is not None:
            o = t < t_min
            d[o] += (t_min - t[o])[:, None] * seg[o]
            out |= o
        if z_min is not None:
            o = z < z_min
            d[o, 2] += z_min - z[o]
            out |= o
        if z_max is not None:
            o = z > z_max
            d[o, 2] -= z[o] - z_max
            out |= o
        self.inside |= m & ~out
        moved = m & out
        self.disp[moved] = d[moved]
        return self


def subset(surf: Surface, region, offset: float | np.ndarray, min_corners: int = 4, max_move: float = 0.04):
    """Cut the faces of ``region`` (a Region, or a vertex mask needing ``min_corners`` of 4
    corners inside) and push them ``offset`` metres out along the normals:
    (verts, faces, weights, rest) of a layer."""
    if isinstance(region, Region):
        ok = region.inside | (np.isfinite(region.disp).all(1)
                              & (np.linalg.norm(np.nan_to_num(region.disp), axis=1) < max_move))
        fm = ok[surf.faces].all(1) & region.inside[surf.faces].any(1)
        disp = np.where(region.inside[:, None], 0.0, np.nan_to_num(region.disp))
    else:
        fm = region[surf.faces].sum(1) >= min_corners
        disp = np.zeros_like(surf.verts)
    faces = surf.faces[fm]
    used = np.unique(faces)
    remap = np.full(len(surf.verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    off = np.asarray(offset, float)
    off = off[used] if off.ndim else off
    rest = surf.verts[used] + disp[used]
    v = rest + surf.normals[used] * np.reshape(off, (-1, 1))
    return v, remap[faces], surf.weights[used], rest
