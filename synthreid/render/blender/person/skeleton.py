"""The rest-pose skeleton of a character: bones and skin-modifier nodes (pure numpy).

Frame: metres, Z up, the person stands on z = 0 facing -Y; their left is +X (Blender's
``.L`` side). Bones are (head, tail, parent) in armature space, which is world space
because the armature object sits at the origin unrotated.
"""

from __future__ import annotations

import math

import numpy as np

from synthreid.render.model.person import PersonPlan

ARM_ABDUCTION = math.radians(9.0)  # rest arms hang slightly away from the torso (clean skin hull)
SIDES = (("L", 1.0), ("R", -1.0))


class Skeleton:
    """Joint positions, bones and skin nodes derived from ``PersonPlan.body``.

    ``bones``: name -> (head (3,), tail (3,), parent | None), parents listed before children.
    ``nodes``: list of (position (3,), (rx, ry) half extents, bone name); ``edges``: index pairs.
    ``radius``: bone -> (radius at head, radius at tail) used to weight the skin.
    ``points``: named landmarks (eyes, ears, nose, heels, toes, ...) with their bone.
    """

    def __init__(self, character: PersonPlan):
        b = character.body
        self.height = h = float(character.height)
        self.body = b
        hh = b.head_height
        chin = h - hh
        self.shoulder_z = sz = chin - b.neck_length
        chest_z = sz - 0.1 * h
        waist_z = 0.6 * h
        hip_z = b.leg_length
        neck_top = chin + 0.12 * hh
        sw = b.shoulder_width / 2
        self.bones: dict[str, tuple[np.ndarray, np.ndarray, str | None]] = {}
        self.radius: dict[str, tuple[float, float]] = {}
        self.points: dict[str, tuple[np.ndarray, str]] = {}
        P = lambda *v: np.array(v, dtype=np.float64)  # noqa: E731

        def bone(name, head, tail, parent, r0, r1):
            self.bones[name] = (np.asarray(head, float), np.asarray(tail, float), parent)
            self.radius[name] = (float(r0), float(r1))

        half = lambda w: w / 2  # noqa: E731
        bone(
            "pelvis",
            P(0, 0, hip_z),
            P(0, 0, waist_z),
            None,
            half(b.hip_width) * 0.8,
            half(b.waist_width),
        )
        bone(
            "spine",
            P(0, 0, waist_z),
            P(0, 0, chest_z),
            "pelvis",
            half(b.waist_width),
            half(b.chest_width),
        )
        bone(
            "chest",
            P(0, 0, chest_z),
            P(0, 0.0, sz + 0.01 * h),
            "spine",
            half(b.chest_width),
            half(b.chest_width) * 0.8,
        )
        bone("neck", P(0, 0.0, sz + 0.01 * h), P(0, 0.0, neck_top), "chest", b.neck_radius, b.neck_radius)
        bone("head", P(0, 0.0, neck_top), P(0, 0.0, h), "neck", hh * 0.4, hh * 0.4)

        nodes: list = []
        edges: list = []

        def node(pos, rx, ry, bname, link=None):
            nodes.append((np.asarray(pos, float), (float(rx), float(ry)), bname))
            if link is not None:
                edges.append((link, len(nodes) - 1))
            return len(nodes) - 1

        hd = hh * 0.78  # head depth front-back
        n_hip = node(P(0, 0.005, hip_z + 0.01 * h), half(b.hip_width), half(b.hip_depth), "pelvis")
        n_waist = node(P(0, 0.0, waist_z), half(b.waist_width), half(b.waist_depth), "spine", n_hip)
        n_belly = node(
            P(0, -b.belly * 0.6, (waist_z + hip_z) / 2 + 0.02 * h),
            half(b.waist_width) * 1.02,
            half(b.waist_depth) + b.belly * 0.5,
            "pelvis",
            n_hip,
        )
        edges.append((n_belly, n_waist))
        edges.remove((n_hip, n_waist))
        n_chest = node(
            P(0, -b.bust * 0.5, chest_z),
            half(b.chest_width),
            half(b.chest_depth) + b.bust * 0.5,
            "chest",
            n_waist,
        )
        n_sh = node(
            P(0, 0.01 * h, sz - 0.012 * h),
            half(b.chest_width) * 0.8,
            half(b.chest_depth) * 0.75,
            "chest",
            n_chest,
        )
        n_nb = node(P(0, 0.006 * h, sz + 0.02 * h), b.neck_radius * 1.1, b.neck_radius * 1.05, "neck", n_sh)
        n_nt = node(P(0, 0.004 * h, neck_top - 0.02 * hh), b.neck_radius, b.neck_radius, "neck", n_nb)
        hwr, hdr = b.head_width / 2, hd / 2
        n_jaw = node(P(0, -0.12 * hdr, chin + 0.12 * hh), hwr * 0.6, hdr * 0.55, "head", n_nt)
        n_hm = node(P(0, 0.0, chin + 0.5 * hh), hwr, hdr, "head", n_jaw)
        n_cr = node(P(0, 0.04 * hdr, chin + 0.78 * hh), hwr * 0.92, hdr * 0.95, "head", n_hm)
        node(P(0, 0.05 * hdr, h - 0.015 * hh), hwr * 0.45, hdr * 0.5, "head", n_cr)

        eye_z = chin + 0.52 * hh
        for s, sg in SIDES:
            self.points[f"{s.lower()}_eye"] = (P(sg * 0.3 * b.head_width, -0.47 * hd, eye_z), "head")
            self.points[f"{s.lower()}_ear"] = (
                P(sg * 0.5 * b.head_width, 0.02 * hd, eye_z - 0.05 * hh),
                "head",
            )
        self.points["nose"] = (P(0, -0.58 * hd, chin + 0.4 * hh), "head")
        self.points["head_center"] = (P(0, 0.02 * hd, chin + 0.55 * hh), "head")
        self.eye_z, self.head_depth, self.chin_z = eye_z, hd, chin

        ua, fa, hand = b.upper_arm, b.forearm, b.hand
        ar = b.arm_radius
        dirv = P(math.sin(ARM_ABDUCTION), 0, -math.cos(ARM_ABDUCTION))
        for s, sg in SIDES:
            d = dirv * P(sg, 1, 1)
            shj = P(sg * sw, 0.01 * h, sz)
            elb = shj + d * ua + P(0, 0.01 * h, 0)
            wri = elb + d * fa + P(0, -0.012 * h, 0)
            tip = wri + d * hand
            bone(f"shoulder.{s}", P(sg * 0.02 * h, 0.01 * h, sz), shj, "chest", ar * 1.2, ar * 1.3)
            bone(f"upperarm.{s}", shj, elb, f"shoulder.{s}", ar * 1.25, ar * 0.85)
            bone(f"forearm.{s}", elb, wri, f"upperarm.{s}", ar * 0.9, ar * 0.6)
            bone(f"hand.{s}", wri, tip, f"forearm.{s}", ar * 0.7, ar * 0.5)
            n_a = node(shj, ar * 1.35, ar * 1.3, f"upperarm.{s}", n_sh)
            n_e = node(elb, ar * 0.82, ar * 0.82, f"forearm.{s}", n_a)
            n_f = node(elb + d * fa * 0.35, ar * 0.88, ar * 0.8, f"forearm.{s}", n_e)
            n_w = node(wri, ar * 0.6, ar * 0.45, f"hand.{s}", n_f)
            n_p = node(wri + d * hand * 0.4, ar * 0.95, ar * 0.38, f"hand.{s}", n_w)
            node(wri + d * hand * 0.85, ar * 0.75, ar * 0.3, f"hand.{s}", n_p)
            node(
                wri + d * hand * 0.38 + P(0, -0.3 * hand, 0), ar * 0.28, ar * 0.28, f"hand.{s}", n_p
            )  # thumb
            self.points[f"{s.lower()}_wrist"] = (wri, f"hand.{s}")
            self.points[f"{s.lower()}_hand"] = (wri + d * hand * 0.45, f"hand.{s}")

        hj, kh, ah, fl = b.hip_joint_width / 2, b.knee_height, b.ankle_height, b.foot_length
        tr, cr = b.thigh_radius, b.calf_radius
        for s, sg in SIDES:
            hip = P(sg * hj, 0, hip_z)
            knee = P(sg * hj * 0.88, -0.005 * h, kh)
            ankle = P(sg * hj * 0.82, 0.01 * h, ah)
            toe = P(sg * hj * 0.86, ankle[1] - 0.72 * fl, 0.02 * h / 1.75)
            bone(f"thigh.{s}", hip, knee, "pelvis", tr, cr * 1.05)
            bone(f"shin.{s}", knee, ankle, f"thigh.{s}", cr * 1.05, cr * 0.6)
            bone(f"foot.{s}", ankle, toe, f"shin.{s}", cr * 0.6, 0.02)
            n_t = node(P(sg * hj * 1.02, 0.0, hip_z - 0.045 * h), tr, tr * 0.95, f"thigh.{s}", n_hip)
            n_k = node(knee, cr * 1.12, cr * 1.1, f"shin.{s}", n_t)
            n_c = node(knee + P(0, 0.012 * h, -0.1 * kh), cr * 1.05, cr * 1.1, f"shin.{s}", n_k)
            n_a = node(ankle, cr * 0.62, cr * 0.62, f"foot.{s}", n_c)
            n_m = node(P(ankle[0], ankle[1] - 0.38 * fl, 0.02 * h), fl * 0.17, fl * 0.12, f"foot.{s}", n_a)
            node(P(toe[0], toe[1] + 0.06 * fl, 0.014 * h), fl * 0.16, fl * 0.08, f"foot.{s}", n_m)
            node(P(ankle[0], ankle[1] + 0.1 * fl, 0.02 * h), fl * 0.1, fl * 0.1, f"foot.{s}", n_a)
            self.points[f"{s.lower()}_heel"] = (P(ankle[0], ankle[1] + 0.14 * fl, 0.0), f"foot.{s}")
            self.points[f"{s.lower()}_toe"] = (P(toe[0], toe[1] - 0.02 * fl, 0.0), f"foot.{s}")
        self.nodes, self.edges = nodes, edges
        self.joints = {
            "neck": (self.bones["neck"][0], "neck"),
            **{f"{s.lower()}_shoulder": (self.bones[f"upperarm.{s}"][0], f"upperarm.{s}") for s, _ in SIDES},
            **{f"{s.lower()}_elbow": (self.bones[f"forearm.{s}"][0], f"forearm.{s}") for s, _ in SIDES},
            **{f"{s.lower()}_wrist": (self.bones[f"hand.{s}"][0], f"hand.{s}") for s, _ in SIDES},
            **{f"{s.lower()}_hip": (self.bones[f"thigh.{s}"][0], f"thigh.{s}") for s, _ in SIDES},
            **{f"{s.lower()}_knee": (self.bones[f"shin.{s}"][0], f"shin.{s}") for s, _ in SIDES},
            **{f"{s.lower()}_ankle": (self.bones[f"foot.{s}"][0], f"foot.{s}") for s, _ in SIDES},
        }

    def bone_names(self) -> list[str]:
        return list(self.bones)

    def neighbours(self) -> dict[str, set[str]]:
        """Bones that may share skin weights with each bone (itself, parent, children)."""
        nb = {n: {n} for n in self.bones}
        for n, (_, _, p) in self.bones.items():
            if p:
                nb[n].add(p)
                nb[p].add(n)
        return nb

    def segment_distances(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(D, T): (N, B) distance from each point to each bone's capsule surface and the
        (N, B) parameter t in [0, 1] of the closest point along the bone."""
        names = self.bone_names()
        heads = np.array([self.bones[n][0] for n in names])
        tails = np.array([self.bones[n][1] for n in names])
        r = np.array([self.radius[n] for n in names])
        seg = tails - heads
        L2 = np.maximum((seg**2).sum(1), 1e-12)
        rel = pts[:, None, :] - heads[None]
        proj = np.einsum("nbk,bk->nb", rel, seg)
        t = np.clip(proj / L2, 0.0, 1.0)
        # |rel - t seg|^2 expanded, so no (N, B, 3) closest-point array is needed
        d2 = np.einsum("nbk,nbk->nb", rel, rel) - 2.0 * t * proj + t * t * L2
        d = np.sqrt(np.maximum(d2, 0.0))
        rad = r[None, :, 0] * (1 - t) + r[None, :, 1] * t
        return d - rad, t
