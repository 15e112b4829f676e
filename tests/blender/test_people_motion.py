"""Motion of procedural people in Blender: the walk cycle and BVH clips driving the rig."""

from __future__ import annotations

import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from synthreid.render import spec as S  # noqa: E402
from synthreid.render.sampling.people import sample_character  # noqa: E402
from synthreid.render.spec import DatasetSpec  # noqa: E402
from tests.blender.conftest import build_person, person_json, pose_plan  # noqa: E402

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def base():
    c = person_json(sample_character(DatasetSpec.preset("IV"), np.random.default_rng(7)))
    c["accessories"] = {k: None for k in S.ACCESSORIES}
    c["hands"] = "free"
    return c


def test_walk_cycle_swings_arms_against_legs_and_bends_knees(base):
    p = build_person(base)
    try:
        p.pose(
            pose_plan({"kind": "walk", "phase": 0.0})
        )  # right heel strike: right leg forward, right arm back
        j = p.joints_world()
        assert j["r_ankle"][1] < j["l_ankle"][1] - 0.2  # forward is -Y
        assert j["r_wrist"][1] > j["l_wrist"][1] + 0.05
        p.pose(pose_plan({"kind": "walk", "phase": 0.72}))  # right leg in swing: knee flexed
        j = p.joints_world()
        hip, knee, ankle = (np.array(j[k]) for k in ("r_hip", "r_knee", "r_ankle"))
        a, b = knee - hip, ankle - knee
        angle = math.degrees(math.acos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
        assert angle > 35
    finally:
        p.remove()


BVH = """HIERARCHY
ROOT Hips
{
 OFFSET 0 95 0
 CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
 JOINT Spine
 {
  OFFSET 0 15 0
  CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT Neck
  {
   OFFSET 0 40 0
   CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT Head
   {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
     OFFSET 0 20 0
    }
   }
  }
  JOINT LeftArm
  {
   OFFSET 18 35 0
   CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT LeftForeArm
   {
    OFFSET 30 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
     OFFSET 25 0 0
    }
   }
  }
 }
 JOINT LeftUpLeg
 {
  OFFSET 9 0 0
  CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT LeftLeg
  {
   OFFSET 0 -45 0
   CHANNELS 3 Zrotation Xrotation Yrotation
   End Site
   {
    OFFSET 0 -45 0
   }
  }
 }
}
MOTION
Frames: 2
Frame Time: 0.033333
0 95 0 0 0 0  0 0 0  0 0 0  0 0 0  0 0 0  0 0 0  0 0 0  0 0 0
0 95 0 0 0 0  0 0 0  0 0 0  0 0 0  0 0 0  0 0 0  0 -60 0  0 0 0
"""


def test_bvh_clip_drives_armature(base, tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "tpose.bvh").write_text(BVH)
    p = build_person(base, motion_dir=str(tmp_path / "clips"))
    try:
        p.pose(pose_plan({"kind": "bvh", "clip": "tpose.bvh", "frame": 0}))
        j0 = p.joints_world()
        # the clip's arm is horizontal (T-pose): our left arm follows, the right one keeps its rest
        assert abs(j0["l_wrist"][2] - j0["l_shoulder"][2]) < 0.05
        assert j0["l_wrist"][0] > j0["l_shoulder"][0] + 0.4
        assert j0["r_wrist"][2] < j0["r_shoulder"][2] - 0.4
        p.pose(pose_plan({"kind": "bvh", "clip": "tpose.bvh", "frame": 1}))
        j1 = p.joints_world()
        thigh = np.linalg.norm(np.subtract(j0["l_knee"], j0["l_hip"]))
        # hip flexed 60 deg: the knee comes forward (-Y) by thigh * sin 60
        assert j1["l_knee"][1] - j1["l_hip"][1] == pytest.approx(
            -thigh * math.sin(math.radians(60)), abs=0.03
        )
        assert abs(j1["r_knee"][1] - j1["r_hip"][1]) < 0.03
    finally:
        p.remove()


def test_bvh_joint_names_of_common_conventions(tmp_path):
    from synthreid.render.blender.person import motion

    def clip(names):
        body = "".join(
            f"JOINT {n}\n{{\nOFFSET 0 -10 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" for n in names[1:]
        )
        text = (
            f"HIERARCHY\nROOT {names[0]}\n{{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            + body
            + "End Site\n{\nOFFSET 0 0 0\n}\n"
            + "}\n" * len(names)
            + f"MOTION\nFrames: 1\nFrame Time: 0.03\n{' '.join(['0'] * 3 * len(names))}\n"
        )
        path = tmp_path / f"{names[0].replace(':', '_')}.bvh"
        path.write_text(text)
        return motion.BvhClip(str(path))

    mixamo = motion.map_joints(
        clip(["mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:LeftFoot"])
    )
    assert mixamo == {"pelvis": 0, "thigh.L": 1, "shin.L": 2, "foot.L": 3}
    cmu = motion.map_joints(clip(["Hips", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase"]))
    assert cmu == {"pelvis": 0, "thigh.R": 1, "shin.R": 2, "foot.R": 3}
    poser = motion.map_joints(clip(["hip", "abdomen", "chest", "neck", "head"]))
    assert poser == {"pelvis": 0, "spine": 1, "chest": 2, "neck": 3, "head": 4}
    # a zero-length end site must not produce NaN rotations
    assert np.isfinite(motion.align_directions(np.zeros(3), np.array([0.0, 0.0, 1.0]))).all()
    with pytest.raises(motion.SpecError, match="malformed BVH"):
        (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0\n")
        motion.BvhClip(str(tmp_path / "bad.bvh"))
