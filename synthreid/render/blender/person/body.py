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
SUBSURF_GROW = 1.22  # subdivision shrinks the skin hull; node radii are scaled up to compensate


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
        idx = [self.bones.index(n) for n in names]
        return np.isin(self.part, idx)

    def t_of(self, name: str) -> np.ndarray:
        return self.t


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
        dg = bpy.context.evaluated_depsgraph_get()
        baked = bpy.data.meshes.new_from_object(obj.evaluated_get(dg))
        verts, faces = meshutil.mesh_arrays(baked)
        bpy.data.meshes.remove(baked)
    finally:
        bpy.data.objects.remove(obj)
        bpy.data.meshes.remove(me)
    W, part, t = skin_weights(skel, verts)
    return Surface(verts, faces, meshutil.vertex_normals(verts, faces), W, skel.bone_names(), part, t)


def subset(surf: Surface, vmask: np.ndarray, offset: float | np.ndarray, min_corners: int = 4):
    """Cut the faces whose corners lie in ``vmask`` (at least ``min_corners`` of 4) and push
    them ``offset`` metres out along the normals: (verts, faces, weights, rest) of a layer."""
    fm = vmask[surf.faces].sum(1) >= min_corners
    faces = surf.faces[fm]
    used = np.unique(faces)
    remap = np.full(len(surf.verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    off = np.asarray(offset, float)
    off = off[used] if off.ndim else off
    v = surf.verts[used] + surf.normals[used] * np.reshape(off, (-1, 1))
    return v, remap[faces], surf.weights[used], surf.verts[used]
