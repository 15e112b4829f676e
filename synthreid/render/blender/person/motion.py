"""Poses as per-bone rotations: the built-in walk cycle, standing, and BVH clips (pure numpy).

A pose is ``(L, lift)``: ``L[bone]`` is a (3, 3) rotation expressed in the rest pose's world
axes, applied relative to the bone's parent (world delta of a bone = D(parent) @ L(bone)); a
rotation times a scalar also scales the bone uniformly (hands hidden in pockets);
``lift`` is unused by the caller except for BVH root height (grounding puts feet on z = 0).
Axes: X = the person's left, -Y = forward, Z = up.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re

import numpy as np

from synthreid.errors import SpecError
from synthreid.render.model.person import PersonPlan
from synthreid.render.model.scene import StandPose

HAND_IN_POCKET = 0.2  # scale of a hand tucked into a pocket

GAIT_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "assets", "people", "gait", "walk.json")


def rx(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


@functools.cache
def gait_table() -> dict:
    with open(os.path.normpath(GAIT_FILE)) as fh:
        return json.load(fh)


def _curve(name: str, phase: float) -> float:
    g = gait_table()
    xs = np.array(g["phase"] + [1.0])
    ys = np.array(g[name] + [g[name][0]], dtype=float)
    # average of three nearby samples: a cheap periodic smoothing of the piecewise-linear curve
    return float(np.mean([np.interp((phase + d) % 1.0, xs, ys) for d in (-0.03, 0.0, 0.03)]))


def _base(character: PersonPlan) -> dict[str, np.ndarray]:
    stoop = character.body.stoop
    return {"spine": rx(stoop * 0.6), "chest": rx(stoop * 0.4), "neck": rx(-stoop * 0.6)}


def walk(character: PersonPlan, phase: float, head: float = 0.0) -> dict[str, np.ndarray]:
    """Rotations of the walk cycle at ``phase`` in [0, 1) (0 = right heel strike); ``head``
    turns the head (degrees, + = to the person's left). An arm carrying a handbag swings less."""
    gait = character.gait
    bag = character.accessories.handbag
    carry = {"L" if bag.side == "left" else "R"} if bag else set()
    stride, swing, elbow = gait.stride, gait.arm_swing, gait.elbow
    L = _base(character)
    yaw = _curve("pelvis_yaw", phase) * stride
    L["pelvis"] = rz(-yaw) @ ry(_curve("pelvis_roll", phase))
    L["spine"] = rz(yaw * 1.6) @ rx(gait_table()["trunk_lean"] + gait.lean) @ L["spine"]
    for side, sg, ph in (("R", -1.0, phase), ("L", 1.0, (phase + 0.5) % 1.0)):
        hip = _curve("hip", ph) * stride
        knee = _curve("knee", ph) * (0.6 + 0.4 * stride)
        L[f"thigh.{side}"] = rx(-hip)
        L[f"shin.{side}"] = rx(knee)
        L[f"foot.{side}"] = rx(-_curve("ankle", ph))
        sh = _curve("shoulder", ph) * swing * (0.35 if side in carry else 1.0)
        L[f"upperarm.{side}"] = ry(sg * 5.0) @ rx(-sh)
        L[f"forearm.{side}"] = rx(-(12.0 if side in carry else _curve("elbow", ph) * elbow))
    L["neck"] = rz(head) @ L["neck"]
    _hands(character, L)
    return L


def _hands(character: PersonPlan, L: dict[str, np.ndarray]) -> None:
    """Override the arms for a held phone (right forearm raised in front, head bowed) or hands
    in the front pockets (elbows out and back, wrists at the hips)."""
    hands = character.hands
    if hands == "phone":
        # elbow by the side, forearm turned in across the body: the hand sits in front of the
        # chest, inside the torso's outline from behind, and the head bows towards it
        L["upperarm.R"] = ry(-10.0) @ rx(-20.0)
        L["forearm.R"] = rz(40.0) @ rx(-100.0)
        L["hand.R"] = rx(10.0)
        L["neck"] = L["neck"] @ rx(12.0)
        L["head"] = rx(12.0)
    elif hands == "pockets":
        # elbows out and back, wrists at the front pockets; the hand tips back into the hip and
        # shrinks to a fifth (a uniform scale in L, see rig.Poser) so it vanishes in the pocket
        for side, sg in (("R", -1.0), ("L", 1.0)):
            L[f"upperarm.{side}"] = rz(-sg * 20.0) @ ry(sg * 5.0) @ rx(5.0)
            L[f"forearm.{side}"] = rz(-sg * 25.0) @ rx(-45.0)
            L[f"hand.{side}"] = HAND_IN_POCKET * (rz(-sg * 30.0) @ rx(40.0))


def stand(character: PersonPlan, pose: StandPose) -> dict[str, np.ndarray]:
    """A relaxed standing pose: weight on one leg, arms hanging, head turned."""
    L = _base(character)
    w = pose.weight
    arms = pose.arms_deg
    L["pelvis"] = ry(-3.0 * w)
    L["spine"] = ry(4.0 * w) @ L["spine"]
    L["neck"] = rz(pose.head_deg) @ L["neck"]
    for side, sg in (("R", -1.0), ("L", 1.0)):
        relaxed = max(0.0, sg * w)  # the unweighted leg bends a little
        L[f"thigh.{side}"] = rx(-4.0 * relaxed) @ ry(sg * 3.0 * w)
        L[f"shin.{side}"] = rx(10.0 * relaxed)
        L[f"foot.{side}"] = rx(-4.0 * relaxed)
        L[f"upperarm.{side}"] = ry(sg * (9.0 - arms)) @ rx(-3.0)
        L[f"forearm.{side}"] = rx(-8.0)
    _hands(character, L)
    return L


# ---- BVH --------------------------------------------------------------------------------
BVH_ALIASES = {
    "pelvis": ("hips", "pelvis", "root", "hip"),
    "spine": ("spine", "abdomen", "spine1", "lowerback"),
    "chest": ("spine2", "chest", "spine3", "upperchest", "chest2"),
    "neck": ("neck", "neck1"),
    "head": ("head",),
    "shoulder.{S}": ("{side}shoulder", "{s}collar", "{side}collar", "{s}clavicle", "{side}clavicle"),
    "upperarm.{S}": ("{side}arm", "{s}shldr", "{side}upperarm", "{s}upperarm", "{s}uparm"),
    "forearm.{S}": ("{side}forearm", "{s}forearm", "{side}lowerarm", "{s}lowerarm", "{s}elbow"),
    "hand.{S}": ("{side}hand", "{s}hand", "{s}wrist", "{side}wrist"),
    "thigh.{S}": (
        "{side}upleg",
        "{s}thigh",
        "{side}upperleg",
        "{side}thigh",
        "{s}upleg",
        "{s}hip",
        "{side}hip",
    ),
    "shin.{S}": ("{side}leg", "{s}shin", "{side}lowerleg", "{side}knee", "{s}knee", "{s}leg", "{side}shin"),
    "foot.{S}": ("{side}foot", "{s}foot", "{s}ankle", "{side}ankle"),
}
# BVH: Y up, the character faces +Z. Ours: Z up, faces -Y. Maps BVH coordinates to ours.
BVH_TO_WORLD = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


class BvhClip:
    """A parsed BVH file: joints (name, parent index, offset (3,), channels) and frames (F, C)."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            raise SpecError("people.motion_dir", f"{path}: cannot read BVH ({exc.strerror})") from exc
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[np.ndarray] = []
        self.channels: list[list[str]] = []
        self.ends: dict[int, np.ndarray] = {}
        tokens = re.findall(r"[^\s{}]+|[{}]", text)
        try:
            self._parse(tokens)
        except (IndexError, ValueError) as exc:
            raise SpecError("people.motion_dir", f"{path}: malformed BVH ({exc})") from exc

    def _parse(self, tk: list[str]) -> None:
        i, stack, last = 0, [], -1
        while i < len(tk) and tk[i].upper() != "MOTION":
            t = tk[i].upper()
            if t in ("ROOT", "JOINT"):
                self.names.append(tk[i + 1])
                self.parents.append(stack[-1] if stack else -1)
                self.offsets.append(np.zeros(3))
                self.channels.append([])
                last = len(self.names) - 1
                i += 2
            elif t == "END":
                i += 2
                last = -2
            elif t == "{":
                stack.append(last)
                i += 1
            elif t == "}":
                stack.pop()
                i += 1
            elif t == "OFFSET":
                off = np.array([float(x) for x in tk[i + 1 : i + 4]])
                if stack[-1] == -2:
                    self.ends[stack[-2]] = off
                else:
                    self.offsets[stack[-1]] = off
                i += 4
            elif t == "CHANNELS":
                n = int(tk[i + 1])
                self.channels[stack[-1]] = [c.lower() for c in tk[i + 2 : i + 2 + n]]
                i += 2 + n
            else:
                i += 1
        if not self.names:
            raise ValueError("no ROOT joint")
        i += 1
        nframes = int(tk[i + 1])  # "Frames:" N
        i += 2
        while tk[i].lower() != "time:":
            i += 1
        i += 2
        ncols = sum(len(c) for c in self.channels)
        vals = np.array([float(x) for x in tk[i : i + nframes * ncols]])
        if len(vals) != nframes * ncols:
            raise ValueError(f"expected {nframes} frames of {ncols} channels")
        self.frames = vals.reshape(nframes, ncols)

    def world_rotations(self, frame: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Global rotations (BVH axes) of every joint at ``frame`` and the root position."""
        row = self.frames[frame % len(self.frames)]
        col, glob, root = 0, [], np.zeros(3)
        for j, chans in enumerate(self.channels):
            R = np.eye(3)
            for c in chans:
                v = row[col]
                col += 1
                if c.endswith("rotation"):
                    R = R @ {"x": rx, "y": ry, "z": rz}[c[0]](v)
                elif j == 0:
                    root["xyz".index(c[0])] = v
            p = self.parents[j]
            glob.append(R if p < 0 else glob[p] @ R)
        return glob, root

    def child_direction(self, j: int) -> np.ndarray | None:
        """Rest direction (BVH axes) from joint j to its first child or end site."""
        for k, p in enumerate(self.parents):
            if p == j and np.linalg.norm(self.offsets[k]) > 1e-9:
                return self.offsets[k]
        return self.ends.get(j)


@functools.lru_cache(maxsize=32)
def load_clip(path: str, mtime: float) -> BvhClip:
    return BvhClip(path)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().split(":")[-1])


def map_joints(clip: BvhClip) -> dict[str, int]:
    """Our bone name -> BVH joint index, by common naming conventions (Mixamo, CMU, ...)."""
    idx = {_norm(n): i for i, n in enumerate(clip.names)}
    out = {}
    for bone, aliases in BVH_ALIASES.items():
        for S, side, s in (("L", "left", "l"), ("R", "right", "r")):
            for a in aliases:
                key = _norm(a.format(side=side, s=s))
                if key in idx:
                    out[bone.format(S=S)] = idx[key]
                    break
            if "{S}" not in bone:
                break
    return out


def align_directions(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction a to direction b."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-9 or nb < 1e-9:
        return np.eye(3)
    a, b = a / na, b / nb
    v, c = np.cross(a, b), float(a @ b)
    if c < -0.999999:
        axis = np.cross(a, [1.0, 0, 0])
        axis = axis if np.linalg.norm(axis) > 1e-6 else np.cross(a, [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K / (1 + c)


def bvh(skeleton, clip: BvhClip, frame: int) -> dict[str, np.ndarray]:
    """Rotations that make our bones point the way the clip's bones point at ``frame``."""
    jm = map_joints(clip)
    if "pelvis" not in jm:
        raise SpecError("people.motion_dir", f"{clip.path}: no hips/pelvis/root joint found")
    glob, _ = clip.world_rotations(frame)
    C = BVH_TO_WORLD
    D: dict[str, np.ndarray] = {}
    L: dict[str, np.ndarray] = {}
    for name, (head, tail, parent) in skeleton.bones.items():
        Dp = D[parent] if parent else np.eye(3)
        j = jm.get(name)
        if j is None:
            D[name] = Dp
        else:
            G = C @ glob[j] @ C.T
            d_clip = clip.child_direction(j)
            ours = tail - head
            if d_clip is None or name == "pelvis":
                A = np.eye(3)
            else:
                A = align_directions(ours, C @ d_clip)
            D[name] = G @ A
        L[name] = Dp.T @ D[name]
    return L
