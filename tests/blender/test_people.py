"""Real Blender builds of procedural people: every garment/hair/accessory/texture builds and is
visible, sleeves cover the arms in a real render, posed geometry stays inside its box and on the
floor, bad characters raise clear errors, nothing leaks. Motion: test_people_motion.py."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402
from PIL import Image  # noqa: E402

from synthreid.render import spec as S  # noqa: E402
from synthreid.render.blender.person import COCO18  # noqa: E402
from synthreid.render.sampling.people import sample_character  # noqa: E402
from synthreid.render.spec import DatasetSpec  # noqa: E402
from tests.blender.conftest import build_person, person_json, pose_plan  # noqa: E402

pytestmark = pytest.mark.blender

CAM_DIST = 4.5


@pytest.fixture(scope="module")
def scene():
    """The current scene set up for tiny flat renders; everything is restored afterwards so
    other test modules sharing this Blender process keep their stage."""
    sc = bpy.context.scene
    saved = {
        "engine": sc.render.engine,
        "res": (sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage),
        "border": (sc.render.use_border, sc.render.use_crop_to_border),
        "filepath": sc.render.filepath,
        "samples": sc.cycles.samples,
        "denoise": sc.cycles.use_denoising,
        "filter": (sc.cycles.pixel_filter_type, sc.cycles.filter_width),
        "bounces": sc.cycles.max_bounces,
        "view": sc.view_settings.view_transform,
        "world": sc.world,
        "camera": sc.camera,
        "nodes": sc.use_nodes,
        "film": sc.render.film_transparent,
    }
    hidden = [o for o in sc.objects if not o.hide_render]
    for o in hidden:
        o.hide_render = True
    sc.render.engine = "CYCLES"
    sc.cycles.device = "CPU"
    sc.cycles.samples = 1
    sc.cycles.use_denoising = False
    sc.cycles.pixel_filter_type = "BOX"
    sc.cycles.filter_width = 0.01
    sc.cycles.max_bounces = 0
    sc.view_settings.view_transform = "Standard"
    sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = 64, 128, 100
    sc.render.use_border = False
    sc.render.film_transparent = False
    sc.use_nodes = False
    world = bpy.data.worlds.new("people_test_world")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs[1].default_value = 0.0
    sc.world = world
    cam = bpy.data.objects.new("people_test_cam", bpy.data.cameras.new("people_test_cam"))
    cam.data.lens = 50
    sc.collection.objects.link(cam)
    sc.camera = cam
    yield sc
    cam_data = cam.data
    bpy.data.objects.remove(cam)
    bpy.data.cameras.remove(cam_data)
    sc.world = saved["world"]
    bpy.data.worlds.remove(world)
    for o in hidden:
        o.hide_render = False
    sc.render.engine = saved["engine"]
    sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = saved["res"]
    sc.render.use_border, sc.render.use_crop_to_border = saved["border"]
    sc.render.filepath = saved["filepath"]
    sc.cycles.samples, sc.cycles.use_denoising = saved["samples"], saved["denoise"]
    sc.cycles.pixel_filter_type, sc.cycles.filter_width = saved["filter"]
    sc.cycles.max_bounces = saved["bounces"]
    sc.view_settings.view_transform = saved["view"]
    sc.camera, sc.use_nodes, sc.render.film_transparent = saved["camera"], saved["nodes"], saved["film"]


def look_from(sc, azimuth_deg: float, dist: float = CAM_DIST, z: float = 1.0):
    """Camera on a circle around the origin; azimuth 0 = in front of the person (at -Y)."""
    a = math.radians(azimuth_deg)
    sc.camera.location = (dist * math.sin(a), -dist * math.cos(a), z)
    sc.camera.rotation_euler = (math.radians(90), 0, a)
    bpy.context.view_layer.update()


@pytest.fixture(scope="module")
def base():
    c = person_json(sample_character(DatasetSpec.preset("IV"), np.random.default_rng(7)))
    c["accessories"] = {k: None for k in S.ACCESSORIES}
    c["facial_hair"] = None
    c["hands"] = "free"
    return c


def variant(base, **changes):
    c = copy.deepcopy(base)
    for k, v in changes.items():
        c[k] = v
    return c


def visible_fraction(sc, person, obj, azimuths=(0, 180, 90, 270), n=60) -> float:
    """Fraction of sampled vertices of ``obj`` that the camera sees first (ray cast) from
    any of the azimuths and that project inside the frame."""
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    co = np.array([ev.matrix_world @ v.co for v in ev.data.vertices])
    idx = np.random.default_rng(0).choice(len(co), size=min(n, len(co)), replace=False)
    seen = np.zeros(len(idx), bool)
    for az in azimuths:
        look_from(sc, az)
        origin = sc.camera.matrix_world.translation
        dg = bpy.context.evaluated_depsgraph_get()
        for k, i in enumerate(idx):
            p = Vector(co[i])
            uv = world_to_camera_view(sc, sc.camera, p)
            if not (0 <= uv.x <= 1 and 0 <= uv.y <= 1 and uv.z > 0):
                continue
            d = p - origin
            start, ours = origin.copy(), set(person.objects)
            for _ in range(8):  # skip anything in the scene that is not part of the person
                left = (p - start).length + 1e-3
                hit, loc, _, _, hobj, _ = sc.ray_cast(dg, start, d.normalized(), distance=left)
                if not hit or hobj is None or hobj.original in ours:
                    break
                start = loc + d.normalized() * 1e-4
            if hit and hobj is not None and hobj.original == obj:
                seen[k] = True
    return float(seen.mean())


CASES = (
    [
        (
            "top",
            {"top": {"type": t, "color": [0.6, 0.1, 0.1], "texture": {"kind": "plain"}, "sleeve": "short"}},
        )
        for t in S.TOPS
    ]
    + [
        ("bottom", {"bottom": {"type": b, "color": [0.1, 0.1, 0.6], "texture": {"kind": "plain"}}})
        for b in S.BOTTOMS
    ]
    + [("shoes", {"shoes": {"type": s, "color": [0.1, 0.1, 0.1], "sole_color": [1, 1, 1]}}) for s in S.SHOES]
    + [("hair", {"hair": {"style": h, "color": [0.1, 0.05, 0.02]}}) for h in S.HAIR if h != "bald"]
)


@pytest.mark.parametrize(
    "part,changes",
    CASES,
    ids=[f"{p}-{list(c.values())[0].get('type') or list(c.values())[0].get('style')}" for p, c in CASES],
)
def test_each_type_builds_and_is_visible(scene, base, part, changes):
    c = variant(base, **changes)
    if part == "bottom":
        c["top"] = dict(c["top"], type="tshirt", sleeve="short")
    if part == "top" and changes["top"]["type"] == "dress":
        c["bottom"] = None
    if part == "hair":
        c["accessories"] = {k: None for k in S.ACCESSORIES}
    p = build_person(c)
    try:
        p.pose(pose_plan({"kind": "walk", "phase": 0.3}))
        obj = p.parts[part]
        assert len(obj.data.vertices) > 20
        assert visible_fraction(scene, p, obj) > 0.2
    finally:
        p.remove()


@pytest.mark.parametrize("name", S.ACCESSORIES)
def test_each_accessory_builds_and_is_visible(scene, base, name):
    c = variant(base, hair={"style": "short", "color": [0.1, 0.1, 0.1]})
    acc = {
        "color": [0.9, 0.8, 0.1],
        "size": [0.3, 0.4, 0.15],
        "side": "left",
        "brim": 0.06,
        "kind": "clear",
        "backwards": False,
    }
    c["accessories"] = {k: (acc if k == name else None) for k in S.ACCESSORIES}
    p = build_person(c)
    try:
        p.pose(pose_plan({"kind": "stand"}))
        assert visible_fraction(scene, p, p.parts[name]) > 0.1
        assert name in p.parts and p.parts[name] in p.objects
    finally:
        p.remove()


@pytest.mark.parametrize("kind", S.TEXTURES)
def test_every_texture_builds_a_patterned_material(base, kind):
    tex = {
        "kind": kind,
        "scale": 0.05,
        "color2": [0.9, 0.9, 0.9],
        "color3": [0.1, 0.1, 0.9],
        "angle": 45.0,
        "seed": 3,
        "motif": "star",
    }
    c = variant(base, top={"type": "sweater", "color": [0.1, 0.1, 0.1], "texture": tex, "sleeve": "long"})
    p = build_person(c)
    try:
        nodes = p.parts["top"].data.materials[0].node_tree.nodes
        attrs = [n for n in nodes if n.type == "ATTRIBUTE"]
        if kind == "plain":  # no pattern in the colour (the wrinkle bump still reads 'rest')
            assert (
                not p.parts["top"]
                .data.materials[0]
                .node_tree.nodes["Principled BSDF"]
                .inputs["Base Color"]
                .is_linked
            )
        else:
            assert attrs and attrs[0].attribute_name == "rest"
            assert "rest" in p.parts["top"].data.attributes
            assert (
                p.parts["top"]
                .data.materials[0]
                .node_tree.nodes["Principled BSDF"]
                .inputs["Base Color"]
                .is_linked
            )
    finally:
        p.remove()


def test_facial_hair_visible(scene, base):
    c = variant(base, sex="male", facial_hair={"style": "beard", "color": [0.05, 0.03, 0.02]})
    p = build_person(c)
    try:
        assert visible_fraction(scene, p, p.parts["facial_hair"], azimuths=(0, 30, 330)) > 0.2
    finally:
        p.remove()


def _flat(name, rgb):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    nt = m.node_tree
    nt.nodes.clear()
    e = nt.nodes.new("ShaderNodeEmission")
    e.inputs[0].default_value = (*rgb, 1.0)
    o = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(e.outputs[0], o.inputs[0])
    return m


def render_flat(sc, person, tmp_path, name, skin=(1, 0, 0), other=(0, 1, 0)) -> np.ndarray:
    """Render with the skin pure red, everything else of the person pure green, world black."""
    mats = {"skin": _flat("t_skin", skin), "other": _flat("t_other", other)}
    for obj in person.objects:
        obj.data.materials[0] = mats["skin" if obj is person.parts["body"] else "other"]
    sc.render.filepath = str(tmp_path / f"{name}.png")
    bpy.ops.render.render(write_still=True)
    img = np.asarray(Image.open(sc.render.filepath).convert("RGB")).astype(int)
    for m in mats.values():
        bpy.data.materials.remove(m)
    return img


def _project(sc, pts) -> np.ndarray:
    W, H = sc.render.resolution_x, sc.render.resolution_y
    out = []
    for p in pts:
        uv = world_to_camera_view(sc, sc.camera, Vector(p))
        out.append((uv.x * W, (1 - uv.y) * H))
    return np.array(out)


def _arm_skin_pixels(sc, img, joints) -> int:
    """Skin-red pixels near the segments shoulder-elbow-wrist of both arms (hands excluded)."""
    H, W = img.shape[:2]
    yy, xx = np.mgrid[0:H, 0:W]
    pix = np.stack([xx + 0.5, yy + 0.5], -1).reshape(-1, 2)
    red = ((img[..., 0] > 128) & (img[..., 1] < 80)).reshape(-1)
    count = 0
    for s in ("l", "r"):
        sh, el, wr = _project(sc, [joints[f"{s}_shoulder"], joints[f"{s}_elbow"], joints[f"{s}_wrist"]])
        wr_in = el + (wr - el) * 0.75  # stop short of the wrist: hands are bare
        for a, b in ((sh, el), (el, wr_in)):
            d = b - a
            t = np.clip(((pix - a) @ d) / (d @ d), 0, 1)
            near = np.linalg.norm(pix - (a + t[:, None] * d), axis=1) < 1.5
            count += int((near & red & (t > 0.1)).sum())
    return count


def test_long_sleeves_cover_arms_in_render(scene, base, tmp_path):
    look_from(scene, 0, dist=3.2)
    counts = {}
    for kind, sleeve in (("longsleeve", "long"), ("tshirt", "short")):
        c = variant(
            base, top={"type": kind, "color": [0.5, 0.5, 0.5], "texture": {"kind": "plain"}, "sleeve": sleeve}
        )
        p = build_person(c)
        try:
            p.pose(pose_plan({"kind": "stand", "arms": 8.0}))
            img = render_flat(scene, p, tmp_path, kind)
            counts[kind] = _arm_skin_pixels(scene, img, p.joints_world())
            assert (img[..., 1] > 128).sum() > 300  # the person is in the frame
        finally:
            p.remove()
    assert counts["longsleeve"] == 0
    assert counts["tshirt"] > 10  # bare forearms are red: the check can see skin


@pytest.mark.parametrize(
    "pose",
    [
        {"kind": "walk", "phase": 0.1},
        {"kind": "walk", "phase": 0.62},
        {"kind": "stand", "weight": 0.8, "arms": 4.0, "head": 15.0},
    ],
)
def test_posed_person_within_bbox_on_floor(scene, base, tmp_path, pose):
    c = variant(
        base,
        accessories={k: None for k in S.ACCESSORIES}
        | {"backpack": {"color": [0.2, 0.2, 0.2], "size": [0.3, 0.4, 0.15]}},
    )
    p = build_person(c)
    try:
        p.pose(pose_plan(pose))
        v = p.world_vertices()
        assert v.shape[1] == 3 and len(v) > 1000
        assert abs(v[:, 2].min()) < 0.005  # standing on z = 0
        assert v[:, 2].max() == pytest.approx(c["height"], abs=0.12)
        lo, hi = v.min(0), v.max(0)
        joints = p.joints_world()
        assert set(joints) == set(COCO18)
        J = np.array(list(joints.values()))
        assert ((J >= lo - 1e-6) & (J <= hi + 1e-6)).all()
        look_from(scene, 35, dist=4.0, z=1.3)
        img = render_flat(scene, p, tmp_path, f"box{pose['kind']}", skin=(1, 1, 1), other=(1, 1, 1))
        mask = img.sum(-1) > 60
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        uv = _project(scene, corners)
        x0, y0 = uv.min(0)
        x1, y1 = uv.max(0)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 200
        assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1) + 1
        assert ys.min() >= np.floor(y0) - 1 and ys.max() <= np.ceil(y1) + 1
    finally:
        p.remove()


def test_bad_character_raises_clear_error(base):
    from synthreid.errors import SpecError
    from synthreid.render.model import PlanError

    with pytest.raises(PlanError, match="person.top.type"):
        build_person(variant(base, top={"type": "toga", "color": [1, 0, 0]}))
    with pytest.raises(PlanError, match="person.hair.style"):
        build_person(variant(base, hair={"style": "mohawk"}))
    p = build_person(base)
    try:
        with pytest.raises(SpecError, match="motion_dir"):
            p.pose(pose_plan({"kind": "bvh", "clip": "x.bvh", "frame": 0}))
        with pytest.raises(SpecError, match="not a WalkPose"):
            p.pose(dict(kind="dance"))
    finally:
        p.remove()


def test_same_character_same_geometry_and_remove_leaks_nothing(base):
    def counts():
        return {
            k: len(getattr(bpy.data, k))
            for k in ("objects", "meshes", "materials", "armatures", "actions", "node_groups", "images")
        }

    c = variant(
        base,
        accessories={
            k: {
                "color": [0.3, 0.3, 0.3],
                "size": [0.3, 0.4, 0.15],
                "side": "right",
                "brim": 0.05,
                "backwards": False,
                "kind": "clear",
            }
            for k in S.ACCESSORIES
            if k != "hat"
        }
        | {"hat": None},
        facial_hair={"style": "beard", "color": [0.1, 0.1, 0.1]},
        hair={"style": "bun", "color": [0, 0, 0]},
    )
    before = counts()
    a = build_person(c)
    a.pose(pose_plan({"kind": "walk", "phase": 0.4}))
    va = a.world_vertices()
    a.remove()
    b = build_person(c)
    b.pose(pose_plan({"kind": "walk", "phase": 0.4}))
    vb = b.world_vertices()
    b.remove()
    assert np.array_equal(va, vb)
    assert counts() == before


def test_phone_in_raised_right_hand_and_pockets(base):
    p = build_person(variant(base, hands="phone"))
    try:
        assert "phone" in p.parts
        p.pose(pose_plan({"kind": "stand", "weight": 0.0, "arms": 6.0, "head": 0.0}))
        j = p.joints_world()
        assert j["r_wrist"][2] > j["l_wrist"][2] + 0.25  # forearm raised in front
        assert j["r_wrist"][1] < j["l_wrist"][1] - 0.1
    finally:
        p.remove()
    p = build_person(variant(base, hands="pockets"))
    free = build_person(base)
    try:
        assert "phone" not in p.parts
        for q in (p, free):
            q.pose(pose_plan({"kind": "walk", "phase": 0.0}))
        jp, jf = p.joints_world(), free.joints_world()
        # hands stay at the hips instead of swinging: the wrists are close in depth
        assert abs(jp["r_wrist"][1] - jp["l_wrist"][1]) < abs(jf["r_wrist"][1] - jf["l_wrist"][1])
        assert jp["r_wrist"][2] > jf["r_wrist"][2]
    finally:
        p.remove()
        free.remove()


def test_print_image_material_and_no_image_leak(base, tmp_path):
    img_path = tmp_path / "print.png"
    Image.new("RGBA", (16, 8), (250, 20, 20, 255)).save(img_path)
    n_images = len(bpy.data.images)
    tex = {
        "kind": "print",
        "scale": 0.08,
        "color2": [1, 1, 1],
        "seed": 1,
        "motif": "disc",
        "image": str(img_path),
    }
    c = variant(base, top={"type": "tshirt", "color": [0.1, 0.1, 0.1], "texture": tex, "sleeve": "short"})
    a, b = build_person(c), build_person(c)
    try:
        nodes = a.parts["top"].data.materials[0].node_tree.nodes
        imgs = [n.image for n in nodes if n.type == "TEX_IMAGE"]
        assert len(imgs) == 1 and tuple(imgs[0].size) == (16, 8)
        assert len(bpy.data.images) == n_images + 1  # loaded once, shared
    finally:
        a.remove()
        assert len(bpy.data.images) == n_images + 1  # still used by b
        b.remove()
    assert len(bpy.data.images) == n_images
    with pytest.raises(Exception, match="print image not found"):
        build_person(variant(c, top={**c["top"], "texture": {**tex, "image": str(tmp_path / "missing.png")}}))


def test_hood_collar_and_fringe_change_geometry(base):
    def verts(c, part):
        p = build_person(c)
        try:
            return np.array([v.co[:] for v in p.parts[part].data.vertices])
        finally:
            p.remove()

    top = {"type": "sweater", "color": [0.2, 0.2, 0.2], "texture": {"kind": "plain"}, "sleeve": "long"}
    plain = verts(variant(base, top={**top, "hood": False}), "top")
    hooded = verts(variant(base, top={**top, "hood": True}), "top")
    assert hooded[:, 1].max() > plain[:, 1].max() + 0.02  # the hood sticks out behind the back
    hair = {"style": "short", "color": [0.1, 0.05, 0.02], "seed": 3}
    none = verts(variant(base, hair={**hair, "fringe": "none"}), "hair")
    bangs = verts(variant(base, hair={**hair, "fringe": "bangs"}), "hair")
    front = lambda v: v[v[:, 1] < np.percentile(v[:, 1], 10)]  # noqa: E731 - hair over the forehead
    assert front(bangs)[:, 2].min() < front(none)[:, 2].min() - 0.01  # bangs reach lower down the forehead
