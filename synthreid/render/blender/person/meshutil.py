"""Fast mesh construction from numpy arrays (foreach_set), skin weights and small primitives."""

from __future__ import annotations

import bpy
import numpy as np

WEIGHT_STEPS = 20  # vertex-group weights are quantised to 1/20 so each level is one bulk add


def evaluated_world_vertices(objects) -> np.ndarray:
    """(N, 3) float64 world coordinates of the evaluated (posed, deformed) vertices of ``objects``."""
    dg = bpy.context.evaluated_depsgraph_get()
    out = []
    for obj in objects:
        ev = obj.evaluated_get(dg)
        me = ev.data
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        m = np.array(ev.matrix_world)
        out.append(co.reshape(-1, 3).astype(np.float64) @ m[:3, :3].T + m[:3, 3])
    return np.vstack(out)


def mesh_from_arrays(name: str, verts: np.ndarray, faces: np.ndarray, smooth: bool = True) -> bpy.types.Mesh:
    """A mesh from (N, 3) float vertices and (F, k) int faces (all faces with k corners)."""
    me = bpy.data.meshes.new(name)
    verts = np.asarray(verts, dtype=np.float32)
    faces = np.asarray(faces, dtype=np.int32)
    nf, k = faces.shape
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.ravel())
    me.loops.add(nf * k)
    me.loops.foreach_set("vertex_index", faces.ravel())
    me.polygons.add(nf)
    me.polygons.foreach_set("loop_start", np.arange(0, nf * k, k, dtype=np.int32))
    me.update(calc_edges=True)
    if smooth:
        me.shade_smooth()
    return me


def mesh_arrays(me: bpy.types.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) float64 vertices and (F, 4) int faces of an all-quad mesh."""
    n = len(me.vertices)
    co = np.empty(n * 3, dtype=np.float32)
    me.vertices.foreach_get("co", co)
    nl = len(me.loops)
    vi = np.empty(nl, dtype=np.int32)
    me.loops.foreach_get("vertex_index", vi)
    tot = np.empty(len(me.polygons), dtype=np.int32)
    me.polygons.foreach_get("loop_total", tot)
    if not (tot == 4).all():
        raise RuntimeError("expected an all-quad mesh")  # subdivision output is all quads
    return co.reshape(-1, 3).astype(np.float64), vi.reshape(-1, 4)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N, 3) unit area-weighted vertex normals of a quad mesh."""
    v = verts[faces]
    fn = np.cross(v[:, 2] - v[:, 0], v[:, 3] - v[:, 1])
    n = np.zeros_like(verts)
    for c in range(faces.shape[1]):
        np.add.at(n, faces[:, c], fn)
    ln = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.maximum(ln, 1e-12)


def attach(
    name: str,
    me: bpy.types.Mesh,
    arm_obj,
    weights: np.ndarray,
    bone_names: list[str],
    rest: np.ndarray | None = None,
    collection=None,
):
    """Link a mesh object skinned to ``arm_obj`` with (N, B) weights over ``bone_names``.

    ``rest`` (N, 3) rest-pose positions go into a point attribute 'rest' that the materials
    use as texture coordinates, so patterns stick to the cloth while it moves.
    """
    obj = bpy.data.objects.new(name, me)
    (collection or bpy.context.scene.collection).objects.link(obj)
    obj.parent = arm_obj
    q = np.round(np.asarray(weights) * WEIGHT_STEPS).astype(np.int32)
    for j, bname in enumerate(bone_names):
        col = q[:, j]
        nz = np.nonzero(col)[0]
        if not len(nz):
            continue
        vg = obj.vertex_groups.new(name=bname)
        levels = col[nz]
        for lv in np.unique(levels):
            vg.add(nz[levels == lv].tolist(), float(lv) / WEIGHT_STEPS, "REPLACE")
    mod = obj.modifiers.new("armature", "ARMATURE")
    mod.object = arm_obj
    if rest is not None:
        attr = me.attributes.new("rest", "FLOAT_VECTOR", "POINT")
        attr.data.foreach_set("vector", np.asarray(rest, dtype=np.float32).ravel())
    return obj


def rigid_weights(n: int, bone_names: list[str], bone: str) -> np.ndarray:
    w = np.zeros((n, len(bone_names)))
    w[:, bone_names.index(bone)] = 1.0
    return w


def superellipsoid(
    center, half, exponent: float = 0.25, nu: int = 16, nv: int = 10, rot: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A closed rounded box (quad mesh): (verts, faces). ``half`` = half extents (x, y, z);
    ``exponent`` 1 = ellipsoid, towards 0 = box. ``rot`` (3, 3) rotates it about its centre."""
    u = np.linspace(-np.pi, np.pi, nu, endpoint=False)
    v = np.linspace(-np.pi / 2, np.pi / 2, nv + 1)[1:-1]
    sp = lambda x, e: np.sign(x) * np.abs(x) ** e  # noqa: E731
    U, V = np.meshgrid(u, v)
    x = sp(np.cos(V), exponent) * sp(np.cos(U), exponent)
    y = sp(np.cos(V), exponent) * sp(np.sin(U), exponent)
    z = sp(np.sin(V), exponent)
    ring = np.stack([x, y, z], -1).reshape(-1, 3)
    verts = np.vstack([ring, [[0, 0, -1]], [[0, 0, 1]]]) * np.asarray(half, float)
    faces = []
    nr = nv - 1
    for i in range(nr - 1):
        for j in range(nu):
            a, b2 = i * nu + j, i * nu + (j + 1) % nu
            faces.append([a, b2, b2 + nu, a + nu])
    bot, top = nr * nu, nr * nu + 1
    # caps as degenerate quads (a repeated corner) keep the whole mesh k = 4
    for j in range(nu):
        faces.append([bot, (j + 1) % nu, j, j])
        faces.append([top, (nr - 1) * nu + j, (nr - 1) * nu + (j + 1) % nu, (nr - 1) * nu + (j + 1) % nu])
    if rot is not None:
        verts = verts @ np.asarray(rot).T
    return verts + np.asarray(center, float), np.array(faces)


def tube(path: np.ndarray, radii, nu: int = 12, closed_ends: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A tube along an (M, 3) path with per-point radii (scalar or (M,) or (M, 2) for ellipses)."""
    path = np.asarray(path, float)
    m = len(path)
    r = np.asarray(radii, float)
    if r.ndim == 0:
        r = np.full((m, 2), float(r))
    elif r.ndim == 1:
        r = np.stack([r, r], 1)
    tang = np.gradient(path, axis=0)
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-12)
    ref = np.array([0.0, 0.0, 1.0]) if abs(tang[0, 2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    ang = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    verts = []
    for i in range(m):
        a = np.cross(tang[i], ref)
        a /= max(np.linalg.norm(a), 1e-12)
        b = np.cross(tang[i], a)
        verts.append(path[i] + np.outer(np.cos(ang) * r[i, 0], a) + np.outer(np.sin(ang) * r[i, 1], b))
    verts = np.vstack(verts)
    faces = [
        [i * nu + j, i * nu + (j + 1) % nu, (i + 1) * nu + (j + 1) % nu, (i + 1) * nu + j]
        for i in range(m - 1)
        for j in range(nu)
    ]
    if closed_ends:
        c0, c1 = len(verts), len(verts) + 1
        verts = np.vstack([verts, path[0], path[-1]])
        for j in range(nu):
            faces.append([c0, (j + 1) % nu, j, j])
            faces.append([c1, (m - 1) * nu + j, (m - 1) * nu + (j + 1) % nu, (m - 1) * nu + (j + 1) % nu])
    return verts, np.array(faces)


def smooth_noise(pts: np.ndarray, seed: int, period: float, octaves: int = 2) -> np.ndarray:
    """(N,) smooth pseudo-random field in about [-1, 1] over (N, 3) points: a sum of plane
    waves in seeded random directions; ``period`` (metres) is the coarsest wavelength."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(pts))
    amp_sum = 0.0
    for o in range(octaves):
        k = 2 * np.pi / (period / 2**o)
        d = rng.normal(size=(3, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        ph = rng.uniform(0, 2 * np.pi, 3)
        amp = 0.5**o
        out += amp * np.sin(pts @ d.T * k + ph).sum(1) / 1.7
        amp_sum += amp
    return np.clip(out / amp_sum, -1.0, 1.0)
