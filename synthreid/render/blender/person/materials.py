"""Procedural materials: skin, hair and fabric textures as shader-node setups (no images).

Patterns are computed from the mesh's 'rest' point attribute (rest-pose position in metres),
so a print stays on the chest and stripes stay on the cloth whatever the pose. A texture's
``scale`` is its period in metres.
"""

from __future__ import annotations

import math

import bpy


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


def new_material(name: str, color, roughness: float = 0.8, texture: dict | None = None,
                 anchor=(0.0, 0.0, 1.3), sheen: float = 0.0, specular: float = 0.3):
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
    kind = (texture or {}).get("kind", "plain")
    if kind == "plain":
        bsdf.inputs["Base Color"].default_value = (*col[:3], 1.0)
        return mat
    out = _texture(g, kind, texture, col, anchor)
    g.link(out, bsdf.inputs["Base Color"])
    return mat


def overlay(mat, color, region: str, params: dict) -> None:
    """Paint ``color`` over a material's base colour in a region of rest-pose space:
    'opening' = the front gap of an open jacket (|x| < half_width, in front of y0, z0 < z < z1);
    'sole' = everything below height z1."""
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
    else:
        m = g.math("LESS_THAN", g.math("ABSOLUTE", x), params["half_width"])
        m = g.math("MULTIPLY", m, g.math("LESS_THAN", y, params["y0"]))
        m = g.math("MULTIPLY", m, g.math("GREATER_THAN", z, params["z0"]))
        m = g.math("MULTIPLY", m, g.math("LESS_THAN", z, params["z1"]))
    g.link(g.mix(m, base, list(color)), base_in)


def _texture(g: _Graph, kind: str, tex: dict, c1, anchor):
    s = float(tex.get("scale", 0.05))
    c2 = list(tex.get("color2", [1.0, 1.0, 1.0]))
    vec, x, y, z = g.rest()
    if kind == "stripes":
        ang = math.radians(float(tex.get("angle", 0.0)))
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
        c3 = list(tex.get("color3", c2))
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
        n.inputs["W"].default_value = float(tex.get("seed", 0) % 100)
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
    if kind == "print":
        return _print(g, tex, c1, c2, x, y, z, anchor)
    raise ValueError(f"unknown texture kind {kind!r}")


def _print(g: _Graph, tex: dict, c1, c2, x, y, z, anchor):
    """A motif on the front of the chest: disc, ring, band, star, square or 'letters'."""
    r = float(tex.get("scale", 0.08))
    ax, ay, az = (float(v) for v in anchor)
    qx = g.math("SUBTRACT", x, ax)
    qz = g.math("SUBTRACT", z, az)
    front = g.math("LESS_THAN", y, ay)
    dist = g.math("SQRT", g.math("ADD", g.math("MULTIPLY", qx, qx), g.math("MULTIPLY", qz, qz)))
    motif = tex.get("motif", "disc")
    if motif == "ring":
        m = g.math("LESS_THAN", g.math("ABSOLUTE", g.math("SUBTRACT", dist, r * 0.75)), r * 0.2)
    elif motif == "band":
        m = g.math("LESS_THAN", g.math("ABSOLUTE", qz), r * 0.35)
    elif motif == "square":
        m = g.math("LESS_THAN", g.math("MAXIMUM", g.math("ABSOLUTE", qx), g.math("ABSOLUTE", qz)), r * 0.8)
    elif motif == "star":
        ang = g.math("ARCTAN2", qz, qx)
        lim = g.math("MULTIPLY", g.math("ADD", g.math("MULTIPLY", g.math("COSINE", g.math("MULTIPLY", ang, 5.0)),
                                                      0.35), 0.65), r)
        m = g.math("LESS_THAN", dist, lim)
    elif motif == "letters":
        box = g.math("MULTIPLY", g.math("LESS_THAN", g.math("ABSOLUTE", qz), r * 0.22),
                     g.math("LESS_THAN", g.math("ABSOLUTE", qx), r * 1.1))
        m = g.math("MULTIPLY", box, g.bands(qx, r * 0.3, 0.6))
    else:
        m = g.math("LESS_THAN", dist, r)
    return g.mix(g.math("MULTIPLY", m, front), c1, c2)


def skin_material(name: str, color):
    # no subsurface scattering: invisible at person-crop sizes and it costs render time
    return new_material(name, color, roughness=0.55, specular=0.4)


def hair_material(name: str, color):
    return new_material(name, color, roughness=0.45, specular=0.5, sheen=0.3)
