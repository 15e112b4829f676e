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
from synthreid.render.blender.person import build_person, clothes  # noqa: E402
from synthreid.render.sampling.people import sample_character  # noqa: E402
from synthreid.render.spec import DatasetSpec  # noqa: E402

pytestmark = pytest.mark.blender

LEG_BONES = ("pelvis", "thigh", "shin")


@pytest.fixture(scope="module")
def base():
    for obj in list(bpy.data.objects):  # the factory scene's cube would block the rays
        bpy.data.objects.remove(obj)
    c = sample_character(DatasetSpec.preset("IV"), np.random.default_rng(7))
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
        c["top"] = {"type": "dress", "color": [0.5, 0.1, 0.1], "texture": {"kind": "plain"}, "sleeve": "short"}
        c["bottom"] = None
    else:
        c["bottom"] = {"type": kind, "color": [0.1, 0.1, 0.6], "texture": {"kind": "plain"}}
        c["top"]["tucked"] = False
    p = build_person(c)
    try:
        h, b = p.skel.height, p.skel.body
        hip, knee = b["leg_length"], b["knee_height"]
        hem = knee - 0.02 * h if kind == "dress" else hip - clothes.SKIRT_HEM[kind] * (hip - knee)
        # the upper half between the hips and the hem (or the knee) must be covered: lower
        # down the hem rightly lifts over a knee swinging forward
        z0, z1 = hip - 0.5 * (hip - max(hem, knee)), hip + 0.04 * h
        for phase in np.linspace(0.0, 1.0, 6, endpoint=False):
            p.pose({"kind": "walk", "phase": float(phase)})
            assert leg_skin_hits(p, z0, z1) == 0, f"skin between the waist and hem at phase {phase:.2f}"
    finally:
        p.remove()
