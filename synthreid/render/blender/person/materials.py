"""Procedural materials: skin, hair and fabric textures as shader-node setups (no images).

Patterns are computed from the mesh's 'rest' point attribute (rest-pose position in metres),
so a print stays on the chest and stripes stay on the cloth whatever the pose. A texture's
``scale`` is its period in metres.
"""

from __future__ import annotations

import math
import os

import bpy

from synthreid.errors import SpecError
from synthreid.render.model.person import TexturePlan


def _or(value, default):
    """A texture field's value, or its neutral default where the plan has none."""
    return default if value is None else value


class _Graph:
    def __init__(self, mat):
        self.nt = mat.node_tree
        self.nodes, self.links = self.nt.nodes, self.nt.links

    def node(self, kind: str, **props):
        n = self.nodes.new(kind)
        for k, v in props.items():
            setattr(n, k, v)
        return n

    def link(self, out, inp):
        self.links.new(out, inp)

    def math(self, op: str, a, b=None):
        n = self.node("ShaderNodeMath", operation=op)
        for i, v in enumerate((a, b)):
            if v is None:
                continue
            if isinstance(v, (int, float)):
                n.inputs[i].default_value = float(v)
            else:
                self.link(v, n.inputs[i])
        return n.outputs[0]

    def mix(self, fac, a, b):
        """Colour mix: a where fac = 0, b where fac = 1 (a, b: RGB lists or sockets)."""
        n = self.node("ShaderNodeMix", data_type="RGBA")
        for sock, v in ((n.inputs[0], fac), (n.inputs[6], a), (n.inputs[7], b)):
            if isinstance(v, (int, float)):
                sock.default_value = float(v)
            elif isinstance(v, (list, tuple)):
                sock.default_value = (*v[:3], 1.0)
            else:
                self.link(v, sock)
        return n.outputs[2]

    def rest(self):
        """(x, y, z) sockets of the rest position."""
        a = self.node("ShaderNodeAttribute", attribute_name="rest")
        s = self.node("ShaderNodeSeparateXYZ")
        self.link(a.outputs["Vector"], s.inputs[0])
        return a.outputs["Vector"], s.outputs[0], s.outputs[1], s.outputs[2]

    def bands(self, coord, period: float, duty: float, shift: float = 0.0):
        """1 where fract(coord / period + shift) < duty, else 0."""
        f = self.math("FRACT", self.math("ADD", self.math("DIVIDE", coord, period), shift))
        return self.math("LESS_THAN", f, duty)


def new_material(
    name: str,
    color,
    roughness: float = 0.8,
    texture: TexturePlan | None = None,
    anchor=(0.0, 0.0, 1.3),
    sheen: float = 0.0,
    specular: float = 0.3,
):
    """A Principled material of linear-RGB ``color`` with an optional procedural texture.

    ``anchor`` (metres): where a 'print' motif is centred (the chest, seen from the front).
    """
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    g = _Graph(mat)
    bsdf = g.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Specular IOR Level"].default_value = specular
    if sheen:
        bsdf.inputs["Sheen Weight"].default_value = sheen
    col = list(color)
    kind = texture.kind if texture is not None else "plain"
    if kind == "plain":
        bsdf.inputs["Base Color"].default_value = (*col[:3], 1.0)
        return mat
    out = _texture(g, kind, texture, col, anchor)
    g.link(out, bsdf.inputs["Base Color"])
    return mat


def overlay(mat, color, region: str, params: dict) -> None:
    """Paint ``color`` over a material's base colour in a region of rest-pose space:
    'opening' = the front gap of an open jacket (|x| < half_width, in front of y0, z0 < z < z1);
    'sole' = everything below height z1; 'band' = z0 < z < z1 (belts, cuffs)."""
    g = _Graph(mat)
    bsdf = g.nodes["Principled BSDF"]
    base_in = bsdf.inputs["Base Color"]
    if base_in.is_linked:
        base = base_in.links[0].from_socket
    else:
        base = list(base_in.default_value)[:3]
    _, x, y, z = g.rest()
    if region == "sole":
        m = g.math("LESS_THAN", z, params["z1"])
    elif region == "band":
        m = g.math("MULTIPLY", g.math("GREATER_THAN", z, params["z0"]), g.math("LESS_THAN", z, params["z1"]))
    else:
        m = g.math("LESS_THAN", g.math("ABSOLUTE", x), params["half_width"])
        m = g.math("MULTIPLY", m, g.math("LESS_THAN", y, params["y0"]))
        m = g.math("MULTIPLY", m, g.math("GREATER_THAN", z, params["z0"]))
        m = g.math("MULTIPLY", m, g.math("LESS_THAN", z, params["z1"]))
    g.link(g.mix(m, base, list(color)), base_in)


def _texture(g: _Graph, kind: str, tex: TexturePlan, c1, anchor):
    s = _or(tex.scale, 0.05)
    c2 = list(_or(tex.color2, [1.0, 1.0, 1.0]))
    vec, x, y, z = g.rest()
    if kind == "stripes":
        ang = math.radians(_or(tex.angle, 0.0))
        coord = g.math("ADD", g.math("MULTIPLY", x, math.sin(ang)), g.math("MULTIPLY", z, math.cos(ang)))
        return g.mix(g.bands(coord, s, 0.45), c1, c2)
    if kind == "checks":
        n = g.node("ShaderNodeTexChecker")
        n.inputs["Scale"].default_value = 1.0 / s
        n.inputs["Color1"].default_value = (*c1[:3], 1.0)
        n.inputs["Color2"].default_value = (*c2[:3], 1.0)
        g.link(vec, n.inputs["Vector"])
        return n.outputs["Color"]
    if kind == "plaid":
        c3 = list(_or(tex.color3, c2))
        fx, fz = g.bands(x, s, 0.4), g.bands(z, s, 0.4)
        base = g.mix(g.math("MULTIPLY", g.math("ADD", fx, fz), 0.4), c1, c2)
        lines = g.math("MAXIMUM", g.bands(x, s, 0.07, 0.55), g.bands(z, s, 0.07, 0.55))
        return g.mix(g.math("MULTIPLY", lines, 0.8), base, c3)
    if kind == "dots":
        n = g.node("ShaderNodeTexVoronoi")
        n.inputs["Scale"].default_value = 1.0 / s
        n.inputs["Randomness"].default_value = 0.0
        g.link(vec, n.inputs["Vector"])
        return g.mix(g.math("LESS_THAN", n.outputs["Distance"], 0.28), c1, c2)
    if kind == "noise":
        n = g.node("ShaderNodeTexNoise", noise_dimensions="4D")
        n.inputs["Scale"].default_value = 1.0 / s
        n.inputs["Detail"].default_value = 3.0
        n.inputs["W"].default_value = float(_or(tex.seed, 0) % 100)
        g.link(vec, n.inputs["Vector"])
        fac = g.node("ShaderNodeMapRange")
        fac.inputs["From Min"].default_value = 0.45
        fac.inputs["From Max"].default_value = 0.55
        g.link(n.outputs["Fac"], fac.inputs["Value"])
        return g.mix(fac.outputs[0], c1, c2)
    if kind == "denim":
        w = g.node("ShaderNodeTexWave", wave_type="BANDS", bands_direction="DIAGONAL")
        w.inputs["Scale"].default_value = 1.0 / max(s, 1e-3) / 4.0
        g.link(vec, w.inputs["Vector"])
        n = g.node("ShaderNodeTexNoise")
        n.inputs["Scale"].default_value = 6.0
        g.link(vec, n.inputs["Vector"])
        lighter = [min(1.0, v * 1.8 + 0.03) for v in c1]
        weave = g.mix(g.math("MULTIPLY", w.outputs["Fac"], 0.35), c1, [v * 0.6 for v in c1])
        fade = g.math("MULTIPLY", g.math("MAXIMUM", g.math("SUBTRACT", n.outputs["Fac"], 0.5), 0.0), 1.6)
        return g.mix(fade, weave, lighter)
    if kind == "print" and tex.image:
        return _print_image(g, tex, c1, x, y, z, anchor)
    if kind == "print":
        return _print(g, tex, c1, c2, x, y, z, anchor)
    raise ValueError(f"unknown texture kind {kind!r}")


def _print_image(g: _Graph, tex: TexturePlan, c1, x, y, z, anchor):
    """A user image (appearance.textures_dir) on the front of the chest, ``2 * scale`` metres
    wide, aspect kept; transparent pixels (alpha) show the garment colour."""
    if not os.path.isfile(tex.image):
        raise SpecError("appearance.textures_dir", f"{tex.image}: print image not found")
    img = bpy.data.images.load(tex.image, check_existing=True)
    w, h = (max(1, v) for v in img.size)
    half_w = _or(tex.scale, 0.08)
    half_h = half_w * h / w
    ax, ay, az = (float(v) for v in anchor)
    u = g.math("ADD", g.math("DIVIDE", g.math("SUBTRACT", x, ax), 2 * half_w), 0.5)
    v = g.math("ADD", g.math("DIVIDE", g.math("SUBTRACT", z, az), 2 * half_h), 0.5)
    uv = g.node("ShaderNodeCombineXYZ")
    g.link(u, uv.inputs[0])
    g.link(v, uv.inputs[1])
    node = g.node("ShaderNodeTexImage", extension="CLIP", interpolation="Linear")
    node.image = img
    g.link(uv.outputs[0], node.inputs["Vector"])
    m = g.math("MULTIPLY", node.outputs["Alpha"], g.math("LESS_THAN", y, ay))
    return g.mix(m, c1, node.outputs["Color"])


def _print(g: _Graph, tex: TexturePlan, c1, c2, x, y, z, anchor):
    """A motif on the front of the chest: disc, ring, band, star, square or 'letters'."""
    r = _or(tex.scale, 0.08)
    ax, ay, az = (float(v) for v in anchor)
    qx = g.math("SUBTRACT", x, ax)
    qz = g.math("SUBTRACT", z, az)
    front = g.math("LESS_THAN", y, ay)
    dist = g.math("SQRT", g.math("ADD", g.math("MULTIPLY", qx, qx), g.math("MULTIPLY", qz, qz)))
    motif = _or(tex.motif, "disc")
    if motif == "ring":
        m = g.math("LESS_THAN", g.math("ABSOLUTE", g.math("SUBTRACT", dist, r * 0.75)), r * 0.2)
    elif motif == "band":
        m = g.math("LESS_THAN", g.math("ABSOLUTE", qz), r * 0.35)
    elif motif == "square":
        m = g.math("LESS_THAN", g.math("MAXIMUM", g.math("ABSOLUTE", qx), g.math("ABSOLUTE", qz)), r * 0.8)
    elif motif == "star":
        ang = g.math("ARCTAN2", qz, qx)
        lim = g.math(
            "MULTIPLY",
            g.math("ADD", g.math("MULTIPLY", g.math("COSINE", g.math("MULTIPLY", ang, 5.0)), 0.35), 0.65),
            r,
        )
        m = g.math("LESS_THAN", dist, lim)
    elif motif == "letters":
        box = g.math(
            "MULTIPLY",
            g.math("LESS_THAN", g.math("ABSOLUTE", qz), r * 0.22),
            g.math("LESS_THAN", g.math("ABSOLUTE", qx), r * 1.1),
        )
        m = g.math("MULTIPLY", box, g.bands(qx, r * 0.3, 0.6))
    else:
        m = g.math("LESS_THAN", dist, r)
    return g.mix(g.math("MULTIPLY", m, front), c1, c2)


def _noise(g: _Graph, vec, scale, detail: float = 2.0, w: float = 0.0):
    """Fac socket of a 4D noise texture over ``vec`` (scale: float or per-axis (3,) 1/metres)."""
    if isinstance(scale, (int, float)):
        scale = (scale, scale, scale)
    m = g.node("ShaderNodeVectorMath", operation="MULTIPLY")
    g.link(vec, m.inputs[0])
    m.inputs[1].default_value = tuple(float(v) for v in scale)
    n = g.node("ShaderNodeTexNoise", noise_dimensions="4D")
    n.inputs["Scale"].default_value = 1.0
    n.inputs["Detail"].default_value = detail
    n.inputs["W"].default_value = w
    g.link(m.outputs[0], n.inputs["Vector"])
    return n.outputs["Fac"]


def _bump(g: _Graph, bsdf, height, strength: float, distance: float = 0.01) -> None:
    b = g.node("ShaderNodeBump")
    b.inputs["Strength"].default_value = strength
    b.inputs["Distance"].default_value = distance
    g.link(height, b.inputs["Height"])
    g.link(b.outputs["Normal"], bsdf.inputs["Normal"])


def wrinkles(mat, strength: float = 0.3, period: float = 0.06, seed: int = 0) -> None:
    """Soft cloth folds: a low-frequency noise bump over the rest position (period in metres),
    stretched along the height so folds run around limbs and the torso."""
    g = _Graph(mat)
    vec, *_ = g.rest()
    _bump(
        g,
        g.nodes["Principled BSDF"],
        _noise(g, vec, (1 / period, 1 / period, 2.5 / period), 2.0, seed % 97),
        strength,
    )


def skin_material(name: str, color, seed: int = 0):
    """Skin: blotchy colour and roughness variation times the body mesh's per-vertex 'tint'
    attribute (RGB multipliers: eye sockets, lips, flushed cheeks; see hair.face_tint).
    No subsurface scattering: invisible at person-crop sizes and it costs render time."""
    mat = new_material(name, color, roughness=0.5, specular=0.4)
    g = _Graph(mat)
    bsdf = g.nodes["Principled BSDF"]
    vec, *_ = g.rest()
    c = list(color)
    blotch = _noise(g, vec, 1 / 0.03, 3.0, seed % 89)
    base = g.mix(blotch, [v * 0.9 for v in c], [min(1.0, v * 1.08) for v in c])
    rough = g.node("ShaderNodeMapRange")
    rough.inputs["To Min"].default_value, rough.inputs["To Max"].default_value = 0.38, 0.62
    g.link(blotch, rough.inputs["Value"])
    g.link(rough.outputs[0], bsdf.inputs["Roughness"])
    tint = g.node("ShaderNodeAttribute", attribute_name="tint")
    mul = g.node("ShaderNodeVectorMath", operation="MULTIPLY")
    g.link(base, mul.inputs[0])
    g.link(tint.outputs["Vector"], mul.inputs[1])
    g.link(mul.outputs[0], bsdf.inputs["Base Color"])
    return mat


def hair_material(name: str, color, seed: int = 0):
    """Hair: strand-like streaks (noise stretched along the height) in the colour and the
    bump, anisotropic highlights and a little sheen so it does not look like plastic."""
    mat = new_material(name, color, roughness=0.42, specular=0.5, sheen=0.3)
    g = _Graph(mat)
    bsdf = g.nodes["Principled BSDF"]
    bsdf.inputs["Anisotropic"].default_value = 0.75
    vec, *_ = g.rest()
    streak = _noise(g, vec, (260.0, 260.0, 22.0), 2.0, seed % 83)
    c = list(color)
    g.link(
        g.mix(streak, [v * 0.5 for v in c], [min(1.0, v * 1.45 + 0.01) for v in c]), bsdf.inputs["Base Color"]
    )
    _bump(g, bsdf, streak, 0.45, 0.004)
    return mat
