"""The armature: creation from a Skeleton and posing from per-bone rotations."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from synthreid.render.blender.person.skeleton import Skeleton


def build_armature(skel: Skeleton, name: str = "person_rig"):
    """An armature object at the origin with one bone per skeleton bone (rest = skeleton)."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    vl = bpy.context.view_layer
    prev = vl.objects.active
    vl.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for bname, (head, tail, parent) in skel.bones.items():
            eb = data.edit_bones.new(bname)
            eb.head, eb.tail = head.tolist(), tail.tolist()
            eb.roll = 0.0
            if parent:
                eb.parent = data.edit_bones[parent]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        vl.objects.active = prev
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


class Poser:
    """Applies poses (rotations in rest world axes, see ``motion``) to an armature and keeps
    a numpy forward-kinematics copy used to put the feet on the floor."""

    def __init__(self, arm_obj, skel: Skeleton):
        self.obj, self.skel = arm_obj, skel
        self.names = skel.bone_names()
        self.rest = {b.name: np.array(b.matrix_local.to_3x3()) for b in arm_obj.data.bones}

    def world_deltas(self, L: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        D: dict[str, np.ndarray] = {}
        for n in self.names:
            p = self.skel.bones[n][2]
            D[n] = (D[p] if p else np.eye(3)) @ L.get(n, np.eye(3))
        return D

    def fk_point(self, D, heads_posed, point: np.ndarray, bone: str) -> np.ndarray:
        return D[bone] @ (point - self.skel.bones[bone][0]) + heads_posed[bone]

    def fk_points(self, D, heads_posed, pts: np.ndarray, bone: str) -> np.ndarray:
        """(M, 3) rest points bound rigidly to ``bone`` -> posed positions."""
        return (pts - self.skel.bones[bone][0]) @ D[bone].T + heads_posed[bone]

    def posed_heads(self, D, root: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for n in self.names:
            head, _, p = self.skel.bones[n]
            out[n] = head + root if not p else self.fk_point(D, out, head, p)
        return out

    def apply(self, L: dict[str, np.ndarray], ground_points: list[tuple[np.ndarray, str]]) -> None:
        """Set every bone, then lift/lower the root so the lowest ground point is at z = 0."""
        D = self.world_deltas(L)
        heads = self.posed_heads(D, np.zeros(3))
        zmin = min(float(self.fk_points(D, heads, p, b)[:, 2].min()) for p, b in ground_points)
        root = np.array([0.0, 0.0, -zmin])
        pbs = self.obj.pose.bones
        for n in self.names:
            R = self.rest[n]
            Ln = L.get(n, np.eye(3))
            s = float(np.cbrt(np.linalg.det(Ln)))  # a uniform scale folded into the rotation
            B = R.T @ (Ln / s) @ R
            pbs[n].rotation_quaternion = Matrix(B.tolist()).to_quaternion()
            pbs[n].scale = (s, s, s)
        pbs[self.names[0]].location = (self.rest[self.names[0]].T @ root).tolist()
