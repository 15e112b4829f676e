"""Garment fit of procedural people: skirts and dresses cover the hips and thighs at every
walk phase, the phone pose, lapels and collars, hands in pockets."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from mathutils import Vector  # noqa: E402

from synthreid.render import spec as S  # noqa: E402
from synthreid.render.blender.person import clothes  # noqa: E402
from synthreid.render.sampling.people import sample_character  # noqa: E402
from synthreid.render.spec import DatasetSpec  # noqa: E402
from tests.blender.conftest import build_person, person_json, pose_plan  # noqa: E402

pytestmark = pytest.mark.blender

LEG_BONES = ("pelvis", "thigh", "shin")


@pytest.fixture(scope="module")
def base():
    for obj in list(bpy.data.objects):  # the factory scene's cube would block the rays
        bpy.data.objects.remove(obj)
    c = person_json(sample_character(DatasetSpec.preset("IV"), np.random.default_rng(7)))
    c["accessories"] = {k: None for k in S.ACCESSORIES}
    c["hands"] = "free"
    c["gait"]["stride"] = 1.25  # the longest sampled stride is the hardest case for a skirt
    return c


def leg_skin_hits(p, z0: float, z1: float, azimuths: int = 12, rows: int = 8) -> int:
    """Horizontal rays from all around at heights z0..z1 (metres): how many hit the body's
    hips or legs first (arms and hands do not count)."""
    sc = bpy.context.scene
    dg = bpy.context.evaluated_depsgraph_get()
    body, surf = p.parts["body"], p.surf
    dominant = np.argmax(surf.weights, axis=1)
    bad = 0
    for a in np.linspace(0, 2 * np.pi, azimuths, endpoint=False):
        d = Vector((-math.sin(a), math.cos(a), 0.0))
        for z in np.linspace(z0, z1, rows):
            for off in np.linspace(-0.12, 0.12, 7):
                o = Vector((3 * math.sin(a) + off * math.cos(a), -3 * math.cos(a) + off * math.sin(a), z))
                hit, _, _, face, obj, _ = sc.ray_cast(dg, o, d, distance=6.0)
                if hit and obj.original == body:
                    bone = surf.bones[int(np.bincount(dominant[surf.faces[face]]).argmax())]
                    bad += bone.split(".")[0] in LEG_BONES
    return bad


@pytest.mark.parametrize("kind", ["skirt_short", "skirt_knee", "skirt_long", "dress"])
def test_skirts_and_dresses_leave_no_skin_gap_while_walking(base, kind):
    c = copy.deepcopy(base)
    if kind == "dress":
        c["top"] = {
            "type": "dress",
            "color": [0.5, 0.1, 0.1],
            "texture": {"kind": "plain"},
            "sleeve": "short",
        }
        c["bottom"] = None
    else:
        c["bottom"] = {"type": kind, "color": [0.1, 0.1, 0.6], "texture": {"kind": "plain"}}
        c["top"]["tucked"] = False
    p = build_person(c)
    try:
        h, b = p.skel.height, p.skel.body
        hip, knee = b.leg_length, b.knee_height
        hem = knee - 0.02 * h if kind == "dress" else hip - clothes.SKIRT_HEM[kind] * (hip - knee)
        # the upper half between the hips and the hem (or the knee) must be covered: lower
        # down the hem rightly lifts over a knee swinging forward
        z0, z1 = hip - 0.5 * (hip - max(hem, knee)), hip + 0.04 * h
        for phase in np.linspace(0.0, 1.0, 6, endpoint=False):
            p.pose(pose_plan({"kind": "walk", "phase": float(phase)}))
            assert leg_skin_hits(p, z0, z1) == 0, f"skin between the waist and hem at phase {phase:.2f}"
    finally:
        p.remove()


def _first_hit(origin, direction):
    sc = bpy.context.scene
    hit, _, _, face, obj, _ = sc.ray_cast(
        bpy.context.evaluated_depsgraph_get(), Vector(origin), Vector(direction), distance=10.0
    )
    return (obj.original, face) if hit else (None, -1)


def _bone_of(p, face: int) -> str:
    """The bone most of a body face's vertices belong to."""
    dominant = np.argmax(p.surf.weights, axis=1)
    return p.surf.bones[int(np.bincount(dominant[p.surf.faces[face]]).argmax())]


def _centre(obj) -> np.ndarray:
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    return np.array([ev.matrix_world @ v.co for v in ev.data.vertices]).mean(0)


@pytest.mark.parametrize(
    "pose",
    [{"kind": "stand"}, {"kind": "walk", "phase": 0.0}, {"kind": "walk", "phase": 0.5}],
    ids=["stand", "walk0", "walk50"],
)
def test_phone_held_in_front_of_chest_head_bowed(base, pose):
    free = build_person(base)
    p = build_person(dict(base, hands="phone"))
    try:
        free.pose(pose_plan(pose))
        jf = free.joints_world()
        p.pose(pose_plan(pose))
        j = p.joints_world()
        sz = p.skel.shoulder_z
        half = abs(p.skel.bones["upperarm.R"][0][0])
        wrist, phone = np.array(j["r_wrist"]), _centre(p.parts["phone"])
        # in front of the chest, inside the torso's outline, at chest height
        assert abs(wrist[0]) < 0.6 * half and abs(phone[0]) < 0.6 * half
        assert sz - 0.35 < wrist[2] < sz
        ev = p.parts["body"].evaluated_get(bpy.context.evaluated_depsgraph_get())
        v = np.array([ev.matrix_world @ x.co for x in ev.data.vertices])
        torso = np.isin(
            np.argmax(p.surf.weights, axis=1), [p.surf.bones.index(b) for b in ("spine", "chest")]
        )
        chest = v[torso & (np.abs(v[:, 2] - wrist[2]) < 0.04) & (np.abs(v[:, 0]) < 0.08)]
        front = chest[:, 1].min()
        assert phone[1] < front - 0.03 and wrist[1] > front - 0.3  # in front, not at arm's length
        # from behind the phone and the raised hand are hidden by the torso
        obj, face = _first_hit((phone[0], 3.0, phone[2]), (0, -1, 0))
        assert obj is not None and obj != p.parts["phone"]
        if obj == p.parts["body"]:
            assert _bone_of(p, face).split(".")[0] not in ("hand", "forearm")
        # the head bows towards the phone
        assert j["nose"][1] < jf["nose"][1] - 0.02 and j["nose"][2] < jf["nose"][2] - 0.01
    finally:
        p.remove()
        free.remove()


def _hand_seen(p, azimuths: int = 8, n: int = 40) -> float:
    """Fraction of sampled hand vertices that some horizontal-ish camera ray reaches first."""
    surf = p.surf
    bones = [surf.bones.index(b) for b in ("hand.L", "hand.R")]
    idx = np.nonzero(np.isin(np.argmax(surf.weights, axis=1), bones))[0]
    idx = np.random.default_rng(0).choice(idx, size=min(n, len(idx)), replace=False)
    dg = bpy.context.evaluated_depsgraph_get()
    ev = p.parts["body"].evaluated_get(dg)
    co = np.array([ev.matrix_world @ ev.data.vertices[int(i)].co for i in idx])
    seen = np.zeros(len(idx), bool)
    for a in np.linspace(0, 2 * np.pi, azimuths, endpoint=False):
        eye = np.array([3 * math.sin(a), -3 * math.cos(a), 1.2])
        for k, x in enumerate(co):
            d = x - eye
            dist = float(np.linalg.norm(d))
            hit, loc, _, _, obj, _ = bpy.context.scene.ray_cast(
                dg, Vector(eye), Vector(d / dist), distance=dist + 0.01
            )
            seen[k] |= bool(hit) and obj.original == p.parts["body"] and (Vector(x) - loc).length < 0.004
    return float(seen.mean())


def test_hands_in_pockets_are_hidden(base):
    for hands, phases in (("pockets", (0.0, 0.3, 0.6)), ("free", (0.0,))):
        p = build_person(dict(base, hands=hands))
        try:
            for phase in phases:
                p.pose(pose_plan({"kind": "walk", "phase": phase}))
                seen = _hand_seen(p)
                if hands == "pockets":
                    assert seen < 0.05, f"{seen:.0%} of the hands visible at phase {phase}"
                else:
                    assert seen > 0.3  # the check itself can see hands
        finally:
            p.remove()


@pytest.mark.parametrize("kind", ["jacket", "coat"])
def test_open_coats_have_lapels_and_collars_show_from_behind(base, kind):
    tops = {
        o: {
            "type": kind,
            "color": [0.3, 0.3, 0.5],
            "texture": {"kind": "plain"},
            "sleeve": "long",
            "open": o,
            "inner": [0.9, 0.9, 0.9] if o else None,
        }
        for o in (True, False)
    }
    verts = {}
    for is_open, top in tops.items():
        p = build_person(dict(base, top=top, hair={"style": "bald"}))
        try:
            p.pose(pose_plan({"kind": "stand"}))
            obj = p.parts["top"]
            verts[is_open] = np.array([v.co for v in obj.data.vertices])
            # from behind, a level ray over the neck's base meets the raised back of the collar
            z = p.skel.bones["neck"][0][2] + 0.057 * p.skel.height
            hit, _ = _first_hit((0.0, 3.0, z), (0, -1, 0))
            assert hit == obj, f"no collar seen from behind ({hit and hit.name})"
        finally:
            p.remove()

    # lapels: extra garment surface in front of the chest beside the opening
    def lapel_count(v):
        return int(
            (
                (np.abs(v[:, 0]) > 0.05)
                & (np.abs(v[:, 0]) < 0.12)
                & (v[:, 1] < -0.05)
                & (v[:, 2] > base["height"] * 0.65)
            ).sum()
        )

    assert lapel_count(verts[True]) > lapel_count(verts[False]) + 10
