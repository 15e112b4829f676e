"""The user's own rigged characters: import (glTF / FBX), height, posing, joints, clean-up, render."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from synthreid.errors import SpecError  # noqa: E402
from synthreid.render.blender.person import COCO18  # noqa: E402
from synthreid.render.sampling.people import sample_character  # noqa: E402
from tests.blender.conftest import build_person, person_json, pose_plan, render_one, small_spec  # noqa: E402

pytestmark = pytest.mark.blender

# A Mixamo-named T-pose rig, Blender axes (Z up, facing -Y, left = +X), ~1.77 units tall.
_SPINE = [
    ("Hips", (0, 0, 0.95), (0, 0, 1.05), None),
    ("Spine", (0, 0, 1.05), (0, 0, 1.2), "Hips"),
    ("Spine1", (0, 0, 1.2), (0, 0, 1.3), "Spine"),
    ("Spine2", (0, 0, 1.3), (0, 0, 1.42), "Spine1"),
    ("Neck", (0, 0, 1.42), (0, 0, 1.52), "Spine2"),
    ("Head", (0, 0, 1.52), (0, 0, 1.75), "Neck"),
]
_LIMBS = [
    ("Shoulder", (0.02, 0, 1.4), (0.18, 0, 1.4), "Spine2"),
    ("Arm", (0.18, 0, 1.4), (0.45, 0, 1.4), "Shoulder"),
    ("ForeArm", (0.45, 0, 1.4), (0.7, 0, 1.4), "Arm"),
    ("Hand", (0.7, 0, 1.4), (0.8, 0, 1.4), "ForeArm"),
    ("UpLeg", (0.1, 0, 0.95), (0.1, 0, 0.52), "Hips"),
    ("Leg", (0.1, 0, 0.52), (0.1, 0, 0.1), "UpLeg"),
    ("Foot", (0.1, 0, 0.1), (0.1, -0.12, 0.04), "Leg"),
    ("ToeBase", (0.1, -0.12, 0.04), (0.1, -0.2, 0.04), "Foot"),
]


def _bones(rename=lambda n: f"mixamorig:{n}"):
    out = [(rename(n), h, t, p and rename(p)) for n, h, t, p in _SPINE]
    for side, sg in (("Left", 1.0), ("Right", -1.0)):
        for n, h, t, p in _LIMBS:
            par = p if p in ("Hips", "Spine2") else f"{side}{p}"
            out.append((rename(f"{side}{n}"), (sg * h[0], h[1], h[2]), (sg * t[0], t[1], t[2]), rename(par)))
    return out


def _box(head, tail, r):
    """8 vertices around the segment and 6 quads."""
    head, tail = np.array(head, float), np.array(tail, float)
    d = tail - head
    d /= np.linalg.norm(d)
    a = np.cross(d, [0, 0, 1.0]) if abs(d[2]) < 0.9 else np.cross(d, [1.0, 0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(d, a)
    ring = [r * (sa * a + sb * b) for sa, sb in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
    verts = [head + o for o in ring] + [tail + o for o in ring]
    faces = [(0, 1, 2, 3), (7, 6, 5, 4)] + [(i, (i + 1) % 4, 4 + (i + 1) % 4, 4 + i) for i in range(4)]
    return verts, faces


def make_character(folder, stem="hero", rename=lambda n: f"mixamorig:{n}"):
    """Build, export (.glb, and .fbx when the exporter exists) and delete a tiny skinned rig."""
    folder.mkdir(parents=True, exist_ok=True)
    before = {
        k: set(getattr(bpy.data, k)) for k in ("objects", "meshes", "armatures", "materials", "actions")
    }
    data = bpy.data.armatures.new(f"{stem}_rig")
    arm = bpy.data.objects.new(f"{stem}_rig", data)
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for name, h, t, p in _bones(rename):
        eb = data.edit_bones.new(name)
        eb.head, eb.tail = h, t
        if p:
            eb.parent = data.edit_bones[p]
    bpy.ops.object.mode_set(mode="OBJECT")
    verts, faces, groups = [], [], []
    for name, h, t, _ in _bones(rename):
        r = 0.1 if name.endswith(rename("Head")) else 0.04
        v, f = _box(h, t, r)
        faces += [tuple(i + len(verts) for i in face) for face in f]
        groups.append((name, list(range(len(verts), len(verts) + 8))))
        verts += [tuple(x) for x in v]
    me = bpy.data.meshes.new(f"{stem}_body")
    me.from_pydata(verts, [], faces)
    me.materials.append(bpy.data.materials.new(f"{stem}_skin"))
    body = bpy.data.objects.new(f"{stem}_body", me)
    bpy.context.scene.collection.objects.link(body)
    body.parent = arm
    for name, idx in groups:
        body.vertex_groups.new(name=name).add(idx, 1.0, "REPLACE")
    body.modifiers.new("rig", "ARMATURE").object = arm
    for o in bpy.context.view_layer.objects:
        o.select_set(o in (arm, body))
    paths = [folder / f"{stem}.glb"]
    bpy.ops.export_scene.gltf(filepath=str(paths[0]), use_selection=True, export_animations=False)
    if hasattr(bpy.ops.export_scene, "fbx"):
        paths.append(folder / f"{stem}.fbx")
        bpy.ops.export_scene.fbx(
            filepath=str(paths[1]), use_selection=True, add_leaf_bones=False, bake_anim=False
        )
    for k, old in before.items():
        coll = getattr(bpy.data, k)
        bpy.data.batch_remove([d for d in coll if d not in old])
    return paths


@pytest.fixture(scope="module")
def chars(tmp_path_factory):
    folder = tmp_path_factory.mktemp("meshes")
    make_character(folder)
    return folder


def _character(chars, file="hero.glb", seed=4):
    spec = small_spec(people={"meshes_dir": str(chars)})
    c = person_json(sample_character(spec, np.random.default_rng(seed)))
    c["mesh"] = {"file": file, "root": str(chars)}
    c["hands"] = "free"
    return c


def _counts():
    kinds = ("objects", "meshes", "materials", "images", "armatures", "actions", "collections", "node_groups")
    return {k: len(getattr(bpy.data, k)) for k in kinds}


def test_export_made_files(chars):
    assert (chars / "hero.glb").stat().st_size > 0


@pytest.mark.parametrize("file", ["hero.glb", "hero.fbx"])
def test_height_feet_and_facing(chars, file):
    if not (chars / file).exists():
        pytest.skip(f"{file} exporter missing")
    c = _character(chars, file)
    p = build_person(c)
    try:
        assert {"pelvis", "head", "thigh.L", "shin.R", "upperarm.L", "forearm.R", "foot.L"} <= set(p.bone_map)
        p.pose(pose_plan({"kind": "stand", "weight": 0.0, "arms": 6.0, "head": 0.0}))
        v = p.world_vertices()
        height = v[:, 2].max() - v[:, 2].min()
        assert abs(height - c["height"]) / c["height"] < 0.02
        assert abs(v[:, 2].min()) < 1e-4
        assert abs(v[:, 0].mean()) < 0.05
        j = p.joints_world()
        assert j["l_shoulder"][0] > j["r_shoulder"][0]  # the person's left is +X: facing -Y
        assert j["nose"][1] < j["neck"][1]
        # T-pose arms were retargeted to our standing pose: hanging below the shoulders
        assert j["l_wrist"][2] < j["l_shoulder"][2] - 0.3 * c["height"] * 0.3
    finally:
        p.remove()


@pytest.mark.parametrize("file", ["hero.glb", "hero.fbx"])
def test_walk_phases_move_arms_and_legs_and_joints(chars, file):
    if not (chars / file).exists():
        pytest.skip(f"{file} exporter missing")
    p = build_person(_character(chars, file))
    try:
        p.pose(pose_plan({"kind": "walk", "phase": 0.0}))
        v0, j0 = p.world_vertices(), p.joints_world()
        p.pose(pose_plan({"kind": "walk", "phase": 0.5}))
        v1, j1 = p.world_vertices(), p.joints_world()
        assert list(j0) == list(COCO18)
        moved = np.linalg.norm(v1 - v0, axis=1)
        # arm (hands high, off-centre) and leg (low) vertices both move by centimetres
        assert moved[(v0[:, 2] < 0.3) & (np.abs(v0[:, 0]) > 0.03)].max() > 0.1
        assert moved[(v0[:, 2] > 0.6 * v0[:, 2].max()) & (np.abs(v0[:, 0]) > 0.25)].max() > 0.05
        assert j0["r_ankle"][1] < j0["l_ankle"][1] - 0.1  # phase 0: right heel strike, forward is -Y
        assert j1["l_ankle"][1] < j1["r_ankle"][1] - 0.1
        for j in (j0, j1):
            assert j["r_ankle"][2] < j["r_hip"][2] and j["l_ankle"][2] < j["l_hip"][2]
            assert j["nose"][2] > j["neck"][2]
        assert abs(v1[:, 2].min()) < 1e-4
    finally:
        p.remove()


def test_remove_leaves_no_datablock(chars):
    before = _counts()
    p = build_person(_character(chars))
    assert _counts() != before
    p.remove()
    assert _counts() == before


def test_missing_file_and_missing_bones_are_clear_errors(chars, tmp_path):
    before = _counts()
    with pytest.raises(SpecError, match="meshes_dir"):
        build_person(_character(chars, "nope.glb"))
    bad = tmp_path / "bad"
    bad.mkdir()
    make_character(bad, "odd", rename=lambda n: f"bone_{n[::-1]}")  # unrecognised bone names
    with pytest.raises(SpecError, match="no bone found for pelvis"):
        build_person(_character(bad, "odd.glb"))
    assert _counts() == before


def test_render_session_renders_user_character(chars, tmp_path, session_factory):
    from PIL import Image

    spec = small_spec(
        characters=1,
        images_per_character=1,
        splits={"test": 0, "val": 0},
        people={"meshes_dir": str(chars), "mesh_probability": 1.0},
    )
    session = session_factory(spec)
    try:
        label = render_one(session, spec, 0, 0, tmp_path)
    finally:
        session.close()
    assert label["character"]["person"]["mesh"]["file"] in ("hero.glb", "hero.fbx")
    img = np.asarray(Image.open(tmp_path / label["image"]))
    mask = np.asarray(Image.open(tmp_path / label["mask"]))
    assert img.size > 0 and mask.max() > 0 and (mask > 0).mean() > 0.02


@pytest.mark.parametrize(
    "name, ours",
    [
        ("mixamorig:LeftForeArm", "forearm.L"),
        ("upper_arm.R", "upperarm.R"),
        ("DEF-thigh.L", "thigh.L"),
        ("l_foot", "foot.L"),
        ("Bip01 Pelvis", "pelvis"),
        ("RightUpLeg", "thigh.R"),
        ("lShldr", "upperarm.L"),
    ],
)
def test_bone_names_map_to_ours(name, ours):
    from synthreid.render.blender.person.usermesh import map_bones

    assert map_bones([name]) == {ours: name}


def test_bvh_clip_drives_user_rig(chars, tmp_path):
    from tests.blender.test_people_motion import BVH  # T-pose left arm; frame 1 flexes the left hip 60 deg

    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "tpose.bvh").write_text(BVH)
    p = build_person(_character(chars), motion_dir=str(tmp_path / "clips"))
    try:
        p.pose(pose_plan({"kind": "bvh", "clip": "tpose.bvh", "frame": 0}))
        j0 = p.joints_world()
        assert abs(j0["l_wrist"][2] - j0["l_shoulder"][2]) < 0.05
        assert j0["r_wrist"][2] < j0["r_shoulder"][2] - 0.3
        p.pose(pose_plan({"kind": "bvh", "clip": "tpose.bvh", "frame": 1}))
        j1 = p.joints_world()
        assert j1["l_knee"][1] < j1["l_hip"][1] - 0.2  # knee forward (-Y)
        assert abs(j1["r_knee"][1] - j1["r_hip"][1]) < 0.05
    finally:
        p.remove()
