"""Procedural people in Blender: ``build_person(PersonPlan)`` -> ``Person``.

Only this package (under ``render/blender``) imports bpy. The person's plan and its poses are
the typed values of ``render.model`` (validated when they were made or read back).
"""

from __future__ import annotations

import os

import bpy
import numpy as np

from synthreid.errors import SpecError
from synthreid.render.blender.person import accessories, clothes, hair, materials, meshutil, motion, rig
from synthreid.render.blender.person.body import bake_surface
from synthreid.render.blender.person.skeleton import Skeleton
from synthreid.render.model.person import BottomPlan, PersonPlan
from synthreid.render.model.scene import BvhPose, PosePlan, StandPose, WalkPose

__all__ = ["Person", "build_person", "COCO18"]

COCO18 = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "r_eye",
    "l_eye",
    "r_ear",
    "l_ear",
)


def _free_uid() -> int:
    """The lowest person number whose datablock names are free.

    Names must not depend on how many people this process built before: Cycles orders objects
    (and so builds its BVH) by name and hashes names into per-object random numbers, so a
    process-wide counter made a warm worker render other bytes than a fresh one (issue 15).
    """
    taken = {
        name.split("_", 1)[0]
        for coll in (bpy.data.objects, bpy.data.meshes, bpy.data.materials, bpy.data.armatures)
        for name in coll.keys()
        if name.startswith("person")
    }
    uid = 0
    while f"person{uid}" in taken:
        uid += 1
    return uid


class Person:
    """A rigged, clothed person at the origin, on z = 0, facing -Y.

    ``objects``: every mesh object (body, garments, hair, accessories); ``armature``: the rig;
    ``parts``: name -> object (body, top, bottom, shoes, hair, facial_hair, <accessory>).
    """

    def __init__(self, character: PersonPlan, motion_dir: str | None = None):
        self.character = character
        self.motion_dir = motion_dir
        self.uid = _free_uid()
        self.objects: list = []
        self.parts: dict = {}
        self.materials: list = []
        self.skel = Skeleton(character)
        self.armature = rig.build_armature(self.skel, f"person{self.uid}_rig")
        try:
            self._build()
        except BaseException:
            self.remove()
            raise
        self.poser = rig.Poser(self.armature, self.skel)
        self.pose(StandPose())

    # ---- construction -----------------------------------------------------------------
    def _mat(self, mat):
        self.materials.append(mat)
        return mat

    def _add(self, part: str, layer, mat, rest: bool = True):
        if layer is None or len(layer.faces) == 0:
            return None
        name = f"person{self.uid}_{part}"
        me = meshutil.mesh_from_arrays(name, layer.verts, layer.faces)
        me.materials.append(mat)
        obj = meshutil.attach(
            name, me, self.armature, layer.weights, self.surf.bones, rest=layer.rest if rest else None
        )
        self.objects.append(obj)
        self.parts[part] = obj
        return obj

    def _build(self) -> None:
        c, skel = self.character, self.skel
        self.surf = surf = bake_surface(skel)
        u = self.uid
        hair_c = c.hair
        # Skin and fabric noise take the plan's hair seed; bald people have none and take 0 (not
        # this process's person count, which made pixels depend on what was rendered before).
        seed = hair_c.seed if hair_c.seed is not None else 0
        skin = self._mat(materials.skin_material(f"person{u}_skin", c.skin, seed))
        body = self._add("body", clothes.Layer(surf.verts, surf.faces, surf.weights, surf.verts), skin)
        tint = body.data.attributes.new("tint", "FLOAT_VECTOR", "POINT")
        tint.data.foreach_set("vector", hair.face_tint(surf, skel).astype(np.float32).ravel())
        eyes, brows = hair.face(surf, skel)
        features = [0.12 * v for v in c.skin]
        self._add("face", eyes, self._mat(materials.new_material(f"person{u}_face", features, 0.3)))
        brow_c = hair_c.color if hair_c.style != "bald" else [0.3 * v for v in c.skin]
        brow_c = [min(v, 0.6 * s_) for v, s_ in zip(brow_c, c.skin, strict=True)]
        self._add("brows", brows, self._mat(materials.new_material(f"person{u}_brows", brow_c, 0.6)))
        chest = skel.bones["chest"][0] + np.array([0.0, 0.0, 0.02 * skel.height])
        top, bottom, shoes = c.top, c.bottom, c.shoes
        top_mat = self._mat(
            materials.new_material(f"person{u}_top", top.color, 0.85, top.texture, anchor=chest, sheen=0.2)
        )
        if top.open and top.inner:
            h = skel.height
            materials.overlay(
                top_mat,
                top.inner,
                "opening",
                {
                    "half_width": 0.045 * h / 1.75,
                    "y0": -0.02 * h,
                    "z0": skel.body.leg_length + 0.03 * h,
                    "z1": skel.shoulder_z + 0.005 * h,
                },
            )
        elif top.type in ("jacket", "coat"):  # closed: a zip line down the front
            h = skel.height
            materials.overlay(
                top_mat,
                [v * 0.35 for v in top.color],
                "opening",
                {
                    "half_width": 0.0035 * h / 1.75,
                    "y0": -0.02 * h,
                    "z0": skel.body.leg_length - 0.1 * h,
                    "z1": skel.shoulder_z + 0.03 * h,
                },
            )
        materials.wrinkles(top_mat, 0.25, 0.07, seed)
        self._add("top", clothes.build_top(surf, skel, top, bottom), top_mat)
        if bottom:
            bmat = self._mat(
                materials.new_material(f"person{u}_bottom", bottom.color, 0.85, bottom.texture, anchor=chest)
            )
            self._bottom_details(bmat, bottom)
            materials.wrinkles(bmat, 0.3, 0.08, seed + 1)
            self._add("bottom", clothes.build_bottom(surf, skel, bottom), bmat)
        if shoes:
            shoe_mat = self._mat(materials.new_material(f"person{u}_shoes", shoes.color, 0.5))
            materials.overlay(shoe_mat, shoes.sole_color, "sole", {"z1": 0.016 * skel.height / 1.75})
            self._add("shoes", clothes.build_shoes(surf, skel, shoes), shoe_mat)
        hcol = hair_c.color
        hmat = None
        for part, layer in hair.build(surf, skel, c).items():
            hmat = hmat or self._mat(materials.hair_material(f"person{u}_hair", hcol, seed))
            if part == "facial_hair":
                fmat = self._mat(materials.hair_material(f"person{u}_facial", c.facial_hair.color, seed))
                self._add(part, layer, fmat)
            else:
                self._add(part, layer, hmat)
        for part, (layer, color, rough) in accessories.build(surf, skel, c).items():
            self._add(part, layer, self._mat(materials.new_material(f"person{u}_{part}", color, rough)))
        self.ground = self._ground_points()

    def _bottom_details(self, mat, bottom: BottomPlan) -> None:
        """A belt at the waistband (hidden under untucked tops anyway) and rolled cuffs."""
        skel, h = self.skel, self.skel.height
        waist = skel.body.leg_length + clothes.WAISTBAND * h
        if bottom.belt:
            materials.overlay(mat, bottom.belt, "band", {"z0": waist - 0.022 * h, "z1": waist + 0.01})
        if bottom.cuffs:
            knee, ankle = skel.bones["shin.L"][0][2], skel.bones["shin.L"][1][2]
            length = bottom.length if bottom.length is not None else 0.94
            hem = knee + (ankle - knee) * min(0.95, length)
            inner = [min(1.0, v * 1.5 + 0.04) for v in bottom.color]
            materials.overlay(mat, inner, "band", {"z0": hem - 0.01, "z1": hem + 0.028 * h})

    def _ground_points(self) -> list[tuple[np.ndarray, str]]:
        """Sole vertices of each foot (of the shoes when worn) in the rest pose, at most 48 per
        foot: after posing, the lowest of them is put on z = 0."""
        obj = self.parts.get("shoes") or self.parts["body"]
        n = len(obj.data.vertices)
        co = np.empty(n * 3, np.float32)
        obj.data.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3).astype(np.float64)
        pts = []
        for s, sg in (("L", 1.0), ("R", -1.0)):
            ankle = self.skel.bones[f"foot.{s}"][0]
            side = np.nonzero((co[:, 0] * sg > 0) & (co[:, 2] < 0.4 * ankle[2]))[0]
            if len(side):
                side = side[np.argsort(co[side, 2])[:48]]
                pts.append((co[side], f"foot.{s}"))
        return pts or [(np.zeros((1, 3)), "pelvis")]

    # ---- posing -------------------------------------------------------------------------
    def pose(self, pose: PosePlan) -> None:
        """Apply a pose (walk | stand | bvh); feet end on z = 0."""
        if isinstance(pose, WalkPose):
            L = motion.walk(self.character, pose.phase % 1.0, pose.head_deg)
        elif isinstance(pose, StandPose):
            L = motion.stand(self.character, pose)
        elif isinstance(pose, BvhPose):
            if not self.motion_dir:
                raise SpecError("people.motion_dir", "a 'bvh' pose needs build_person(..., motion_dir=...)")
            path = os.path.join(self.motion_dir, pose.clip)
            if not os.path.isfile(path):
                raise SpecError("people.motion_dir", f"{path}: BVH clip not found")
            clip = motion.load_clip(path, os.path.getmtime(path))
            L = motion.bvh(self.skel, clip, pose.frame)
        else:
            raise SpecError("pose", f"{pose!r} is not a WalkPose, StandPose or BvhPose")
        self.poser.apply(L, self.ground)
        bpy.context.view_layer.update()

    # ---- queries ------------------------------------------------------------------------
    def world_vertices(self) -> np.ndarray:
        """(N, 3) float64 world coordinates of every evaluated (posed) vertex of the person."""
        return meshutil.evaluated_world_vertices(self.objects)

    def joints_world(self) -> dict[str, list[float]]:
        """COCO-18 joints in world coordinates for the current pose."""
        arm = self.armature
        W = np.array(arm.matrix_world)
        cache: dict[str, np.ndarray] = {}

        def deform(bone: str) -> np.ndarray:
            if bone not in cache:
                cache[bone] = (
                    W
                    @ np.array(arm.pose.bones[bone].matrix)
                    @ np.linalg.inv(np.array(arm.data.bones[bone].matrix_local))
                )
            return cache[bone]

        pts = {**self.skel.joints, **self.skel.points}
        out = {}
        for name in COCO18:
            p, bone = pts[name]
            out[name] = [float(v) for v in (deform(bone) @ np.append(p, 1.0))[:3]]
        return out

    def remove(self) -> None:
        """Delete every datablock made for this person (objects, meshes, materials, rig)."""
        for obj in list(self.objects):
            me = obj.data
            bpy.data.objects.remove(obj)
            if me is not None and me.users == 0:
                bpy.data.meshes.remove(me)
        self.objects.clear()
        self.parts.clear()
        images = set()
        for mat in self.materials:
            if mat.name in bpy.data.materials and mat.users == 0:
                images.update(n.image for n in mat.node_tree.nodes if n.type == "TEX_IMAGE" and n.image)
                bpy.data.materials.remove(mat)
        for img in images:  # print images are shared between people: only the last user removes them
            if img.users == 0:
                bpy.data.images.remove(img)
        self.materials.clear()
        if self.armature is not None:
            data = self.armature.data
            bpy.data.objects.remove(self.armature)
            if data.users == 0:
                bpy.data.armatures.remove(data)
            self.armature = None


def build_person(character: PersonPlan, motion_dir: str | None = None, meshes_dir: str | None = None):
    """Create the rigged, clothed person in the current scene (see ``Person``); a person with
    a ``mesh`` is the user's own rigged file (``usermesh.UserPerson``, same interface;
    ``meshes_dir`` overrides the folder stored in the plan)."""
    if character.mesh is not None:
        from synthreid.render.blender.person.usermesh import UserPerson

        return UserPerson(character, motion_dir, meshes_dir)
    return Person(character, motion_dir)
