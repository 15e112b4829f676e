"""The user's own rigged characters (``people.meshes_dir``): import, normalise, pose, query.

``UserPerson`` implements the ``Person`` interface for a glTF (.glb/.gltf) or FBX (.fbx) file:
it imports the file with Blender's bundled importers, scales the character to the sampled
height (metres, the mesh's full rest height including any shoes), centres it on x = y = 0
with its lowest vertex on z = 0, turns it to face -Y, and maps its bones to ours by name
(Mixamo, CMU, Poser, Blender ``.L/.R`` and common names; see ``motion.BVH_ALIASES``).

Posing choice: our motion module always drives the rig (walk / stand / bvh poses retargeted
by bone direction), and any animation stored in the file is ignored. That way a walk phase
means the same for every person in a dataset and labels stay comparable.
"""

from __future__ import annotations

import os
import re
import types

import bpy
import numpy as np
from mathutils import Matrix

from synthreid.errors import SpecError
from synthreid.render.blender.person import COCO18, meshutil, motion
from synthreid.render.blender.person.skeleton import Skeleton
from synthreid.render.model.person import PersonPlan
from synthreid.render.model.scene import BvhPose, PosePlan, StandPose, WalkPose

# datablock collections an importer may add to; everything new in them belongs to the person
DATA_KINDS = (
    "objects",
    "meshes",
    "materials",
    "images",
    "textures",
    "node_groups",
    "armatures",
    "actions",
    "cameras",
    "lights",
    "collections",
    "curves",
)
REQUIRED = (
    "pelvis",
    "head",
    "thigh.L",
    "thigh.R",
    "shin.L",
    "shin.R",
    "upperarm.L",
    "upperarm.R",
    "forearm.L",
    "forearm.R",
)
_PREFIXES = ("mixamorig", "bip001", "bip01", "def-", "def_", "orig_")
_SIDE_SUFFIX = re.compile(r"^(.*?)[._\s-](l|r|left|right)$")
_SIDE_PREFIX = re.compile(r"^(l|r|left|right)[._\s-](.*)$")
HEAD_FRACTION = 1.0 / 7.5  # head height / body height, for face landmarks without face bones


def clean_bone_name(name: str) -> str:
    """Normalise a rig's bone name so that ``motion.map_joints`` recognises it:
    namespace and rig prefixes dropped, side suffixes (``upper_arm.L``) moved to the front
    (``leftupper_arm``)."""
    n = name.split(":")[-1].strip().lower()
    for p in _PREFIXES:
        if n.startswith(p):
            n = n[len(p) :].lstrip("_:- ")
    side = None
    m = _SIDE_PREFIX.match(n)
    if m:
        side, n = m.group(1), m.group(2)
    else:
        m = _SIDE_SUFFIX.match(n)
        if m:
            n, side = m.group(1), m.group(2)
    if side is not None:
        n = ("left" if side.startswith("l") else "right") + n
    return n


def map_bones(names: list[str]) -> dict[str, str]:
    """Our bone name (pelvis, thigh.L, ...) -> the rig's bone name."""
    found = motion.map_joints(types.SimpleNamespace(names=[clean_bone_name(n) for n in names]))
    return {ours: names[i] for ours, i in found.items()}


def _snapshot() -> dict[str, set[int]]:
    return {k: {d.as_pointer() for d in getattr(bpy.data, k)} for k in DATA_KINDS}


def _rot(M: np.ndarray) -> np.ndarray:
    """The rotation part of a 4x4 (or 3x3) matrix with uniform scale."""
    R = np.asarray(M, dtype=np.float64)[:3, :3]
    u, _, vt = np.linalg.svd(R)
    return u @ vt


def resolve_file(character: PersonPlan, meshes_dir: str | None = None) -> str:
    """Absolute path of the person's ``mesh`` (file, root); ``meshes_dir`` overrides the root."""
    m = character.mesh
    if m is None:
        raise SpecError("person.mesh", "missing: this person is procedural (build_person builds it)")
    root = meshes_dir or m.root
    if not root:
        raise SpecError("people.meshes_dir", "needed to find person.mesh.file")
    path = os.path.join(root, m.file)
    if not os.path.isfile(path):
        raise SpecError("people.meshes_dir", f"{path}: character file not found")
    return path


class UserPerson:
    """A user's rigged character at the origin, on z = 0, facing -Y (the ``Person`` interface).

    ``objects``: the imported mesh objects; ``armature``: the imported rig; ``bone_map``: our
    bone name -> the rig's bone name; ``path``: the imported file.
    """

    def __init__(self, character: PersonPlan, motion_dir: str | None = None, meshes_dir: str | None = None):
        self.character, self.motion_dir = character, motion_dir
        self.path = resolve_file(character, meshes_dir)
        self.objects: list = []
        self.parts: dict = {}
        self.armature = None
        self._created: dict[str, set[int]] = {}
        try:
            self._import()
            self._setup()
        except BaseException:
            self.remove()
            raise
        self.pose(StandPose())

    # ---- construction -----------------------------------------------------------------
    def _import(self) -> None:
        ext = os.path.splitext(self.path)[1].lower()
        before = _snapshot()
        try:
            if ext in (".glb", ".gltf"):
                bpy.ops.import_scene.gltf(filepath=self.path)
            elif ext == ".fbx":
                bpy.ops.import_scene.fbx(filepath=self.path, use_anim=False)
            else:
                raise SpecError("character.mesh.file", f"{self.path}: expected .glb, .gltf or .fbx")
        except RuntimeError as exc:
            raise SpecError("people.meshes_dir", f"{self.path}: import failed ({exc})") from exc
        finally:
            after = _snapshot()
            self._created = {k: after[k] - before[k] for k in DATA_KINDS}
        new = [o for o in bpy.data.objects if o.as_pointer() in self._created["objects"]]
        for o in new:
            if o.type in ("CAMERA", "LIGHT"):  # the stage has its own camera and lights
                o.hide_render = True
            o.animation_data_clear()  # file animation ignored: our motion drives the rig
        arms = [o for o in new if o.type == "ARMATURE"]
        if not arms:
            raise SpecError("people.meshes_dir", f"{self.path}: no armature (rig) found")
        self.armature = max(arms, key=lambda o: len(o.data.bones))
        self.objects = [o for o in new if o.type == "MESH" and len(o.data.vertices) and self._rigged(o)]
        if not self.objects:
            raise SpecError("people.meshes_dir", f"{self.path}: no mesh skinned to or parented under the rig")
        for o in new:  # helpers such as the glTF importer's bone-shape icosphere stay out of renders
            if o.type == "MESH" and o not in self.objects:
                o.hide_render = True
                o.hide_set(True)
        self.parts = {"body": self.objects[0]}
        self._top = [o for o in new if o.parent is None]

    def _rigged(self, obj) -> bool:
        """True for a mesh deformed by the rig or parented under it."""
        if any(m.type == "ARMATURE" and m.object == self.armature for m in obj.modifiers):
            return True
        p = obj.parent
        while p is not None:
            if p == self.armature:
                return True
            p = p.parent
        return False

    def _setup(self) -> None:
        arm = self.armature
        self.bone_map = map_bones([b.name for b in arm.data.bones])
        missing = [b for b in REQUIRED if b not in self.bone_map]
        if missing:
            raise SpecError(
                "people.meshes_dir",
                f"{self.path}: no bone found for {', '.join(missing)} "
                "(see docs/assets.md for recognised names)",
            )
        for pb in arm.pose.bones:
            pb.rotation_mode = "QUATERNION"
            pb.location, pb.scale = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
            pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        arm.data.pose_position = "REST"
        bpy.context.view_layer.update()
        v = self.world_vertices()
        lo, hi = v.min(axis=0), v.max(axis=0)
        if hi[2] - lo[2] < 1e-6:
            raise SpecError("people.meshes_dir", f"{self.path}: the mesh has no height")
        s = self.character.height / float(hi[2] - lo[2])
        T = Matrix.Scale(s, 4) @ Matrix.Translation((-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]))
        if self._facing_plus_y():
            T = Matrix.Rotation(np.pi, 4, "Z") @ T
        for o in self._top:
            o.matrix_world = T @ o.matrix_world
        arm.data.pose_position = "POSE"
        bpy.context.view_layer.update()
        self._base = {o.name: o.matrix_world.copy() for o in self._top}
        self._rest_info()

    def _facing_plus_y(self) -> bool:
        """True when the feet (else the toes/face side) point to +Y: the file faces backwards."""
        W = np.array(self.armature.matrix_world)
        d = np.zeros(3)
        for side in ("L", "R"):
            b = self.armature.data.bones.get(self.bone_map.get(f"foot.{side}", ""))
            if b is not None:
                d += W[:3, :3] @ (np.array(b.tail_local) - np.array(b.head_local))
        return bool(d[1] > 1e-6 * max(1.0, np.linalg.norm(d)))

    def _rest_info(self) -> None:
        arm = self.armature
        W = np.array(arm.matrix_world)
        self._W = W
        self._order = []
        stack = [b for b in arm.data.bones if b.parent is None]
        while stack:  # parents before children
            b = stack.pop()
            self._order.append(b.name)
            stack.extend(b.children)
        rev = {v: k for k, v in self.bone_map.items()}
        self._ours = rev  # the rig's bone -> our bone
        self._rest_rot = {b.name: _rot(W @ np.array(b.matrix_local)) for b in arm.data.bones}
        self.skel = Skeleton(self.character)
        heads = {b.name: (W @ np.append(np.array(b.head_local), 1.0))[:3] for b in arm.data.bones}
        tails = {b.name: (W @ np.append(np.array(b.tail_local), 1.0))[:3] for b in arm.data.bones}
        self._align = {}
        for rig_name, ours in rev.items():
            if ours == "pelvis" or self.skel is None:
                self._align[rig_name] = np.eye(3)
            else:
                h, t, _ = self.skel.bones[ours]
                self._align[rig_name] = motion.align_directions(tails[rig_name] - heads[rig_name], t - h)
        self._joints = self._rest_joints(heads, tails)

    def _rest_joints(self, heads: dict, tails: dict) -> dict[str, tuple[np.ndarray, str]]:
        """COCO-18 joints in the normalised rest pose, each bound to a rig bone."""
        bm = self.bone_map
        J: dict[str, tuple[np.ndarray, str]] = {}
        head = bm["head"]
        J["neck"] = (heads[bm["neck"]], bm["neck"]) if "neck" in bm else (heads[head], head)
        for s, side in (("L", "l"), ("R", "r")):
            J[f"{side}_shoulder"] = (heads[bm[f"upperarm.{s}"]], bm[f"upperarm.{s}"])
            J[f"{side}_elbow"] = (heads[bm[f"forearm.{s}"]], bm[f"forearm.{s}"])
            hand = bm.get(f"hand.{s}")
            J[f"{side}_wrist"] = (
                (heads[hand], hand) if hand else (tails[bm[f"forearm.{s}"]], bm[f"forearm.{s}"])
            )
            J[f"{side}_hip"] = (heads[bm[f"thigh.{s}"]], bm[f"thigh.{s}"])
            J[f"{side}_knee"] = (heads[bm[f"shin.{s}"]], bm[f"shin.{s}"])
            foot = bm.get(f"foot.{s}")
            J[f"{side}_ankle"] = (heads[foot], foot) if foot else (tails[bm[f"shin.{s}"]], bm[f"shin.{s}"])
        # face landmarks: eye bones if the rig has them, else fixed fractions of the head height
        H = self.character.height
        hh = H * HEAD_FRACTION
        c = heads[head]
        eyes = {clean_bone_name(n): n for n in heads if "eye" in n.lower() and "brow" not in n.lower()}
        for side, sg in (("l", 1.0), ("r", -1.0)):
            full = "left" if side == "l" else "right"
            bone = eyes.get(f"{full}eye")
            J[f"{side}_eye"] = (
                (heads[bone], bone)
                if bone
                else (np.array([c[0] + sg * 0.16 * hh, c[1] - 0.42 * hh, H - 0.5 * hh]), head)
            )
            J[f"{side}_ear"] = (np.array([c[0] + sg * 0.4 * hh, c[1], H - 0.52 * hh]), head)
        J["nose"] = (np.array([c[0], c[1] - 0.5 * hh, H - 0.63 * hh]), head)
        return J

    # ---- posing -------------------------------------------------------------------------
    def _rotations(self, pose: PosePlan) -> dict[str, np.ndarray]:
        if isinstance(pose, WalkPose):
            return motion.walk(self.character, pose.phase % 1.0, pose.head_deg)
        if isinstance(pose, StandPose):
            return motion.stand(self.character, pose)
        if isinstance(pose, BvhPose):
            if not self.motion_dir:
                raise SpecError("people.motion_dir", "a 'bvh' pose needs build_person(..., motion_dir=...)")
            path = os.path.join(self.motion_dir, pose.clip)
            if not os.path.isfile(path):
                raise SpecError("people.motion_dir", f"{path}: BVH clip not found")
            return motion.bvh(self.skel, motion.load_clip(path, os.path.getmtime(path)), pose.frame)
        raise SpecError("pose", f"{pose!r} is not a WalkPose, StandPose or BvhPose")

    def pose(self, pose: PosePlan) -> None:
        """Apply a pose (walk | stand | bvh): our rotations for our
        skeleton become, per mapped rig bone, ``D(ours) @ align(rig rest dir -> our rest dir)``
        in world axes; unmapped bones follow their parent. The lowest vertex ends on z = 0."""
        L = self._rotations(pose)
        D: dict[str, np.ndarray] = {}
        if self.skel is not None:
            for n, (_, _, p) in self.skel.bones.items():
                D[n] = (D[p] if p else np.eye(3)) @ L.get(n, np.eye(3))
        arm = self.armature
        Du: dict[str, np.ndarray] = {}
        for name in self._order:
            b = arm.data.bones[name]
            parent = b.parent.name if b.parent else None
            Dp = Du[parent] if parent else np.eye(3)
            ours = self._ours.get(name)
            Du[name] = D.get(ours, np.eye(3)) @ self._align[name] if ours else Dp
            R = self._rest_rot[name]
            B = R.T @ Dp.T @ Du[name] @ R
            arm.pose.bones[name].rotation_quaternion = Matrix(B.tolist()).to_quaternion()
        for o in self._top:
            o.matrix_world = self._base[o.name]
        bpy.context.view_layer.update()
        zmin = float(self.world_vertices()[:, 2].min())
        for o in self._top:
            o.matrix_world = Matrix.Translation((0.0, 0.0, -zmin)) @ self._base[o.name]
        bpy.context.view_layer.update()

    # ---- queries ------------------------------------------------------------------------
    def world_vertices(self) -> np.ndarray:
        """(N, 3) float64 world coordinates of every evaluated (posed) vertex."""
        return meshutil.evaluated_world_vertices(self.objects)

    def joints_world(self) -> dict[str, list[float]]:
        """COCO-18 joints in world coordinates for the current pose."""
        arm = self.armature
        W = np.array(arm.matrix_world)
        Wi = np.linalg.inv(W)
        # rest points were taken at the base placement; the grounding shift moves them along
        shift = W @ np.linalg.inv(self._W)
        out = {}
        for name in COCO18:
            p, bone = self._joints[name]
            M = (
                W
                @ np.array(arm.pose.bones[bone].matrix)
                @ np.linalg.inv(np.array(arm.data.bones[bone].matrix_local))
                @ Wi
            )
            out[name] = [float(v) for v in (M @ shift @ np.append(p, 1.0))[:3]]
        return out

    def remove(self) -> None:
        """Delete every datablock the import created (objects, meshes, materials, images,
        textures, node groups, armatures, actions, cameras, lights, collections)."""
        ids = []
        for kind, ptrs in self._created.items():
            ids.extend(d for d in getattr(bpy.data, kind) if d.as_pointer() in ptrs)
        if ids:
            bpy.data.batch_remove(ids)
        self._created = {}
        self.objects, self.parts, self.armature = [], {}, None
