"""The static part of a render: Cycles settings, room, sun, world, camera, compositor.

Built once per worker and spec (``Stage``); per character only the surface materials
change, per image the camera, the sun and the render border. World frame: Z up, metres,
the person stands at the origin on z = 0.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile

import bpy
import numpy as np

from synthreid.errors import SpecError
from synthreid.render.model.scene import BackgroundPlan, LightPlan, SurfacePlan

MASK_PASS_INDEX = 1  # every object of the person carries this pass index


@contextlib.contextmanager
def quiet_stdout():
    """Silence Blender's per-render status lines (written by C code to fd 1) unless
    SYNTHREID_BLENDER_VERBOSE is set; they would bury progress bars and logs."""
    if os.environ.get("SYNTHREID_BLENDER_VERBOSE"):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _clear_scene() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def configure_cycles(scene, render_spec, output_format: str = "png") -> None:
    """Cycles on the CPU, deterministic seed, 'Standard' view transform (no AgX look)."""
    scene.render.engine = "CYCLES"
    cy = scene.cycles
    cy.device = "CPU"
    cy.samples = render_spec.samples
    cy.use_adaptive_sampling = False  # fixed sample counts keep timings and noise comparable
    cy.use_denoising = render_spec.denoise
    if render_spec.denoise:
        cy.denoiser = "OPENIMAGEDENOISE"
        cy.denoising_prefilter = render_spec.denoise_prefilter.upper()
        cy.denoising_quality = render_spec.denoise_quality.upper()
    cy.max_bounces = render_spec.max_bounces
    cy.diffuse_bounces = min(render_spec.max_bounces, 2)
    cy.glossy_bounces = min(render_spec.max_bounces, 2)
    cy.transmission_bounces = min(render_spec.max_bounces, 2)
    cy.transparent_max_bounces = 4
    cy.seed = 0
    cy.use_light_tree = render_spec.light_tree
    cy.caustics_reflective = False
    cy.caustics_refractive = False
    if render_spec.threads:
        scene.render.threads_mode = "FIXED"
        scene.render.threads = render_spec.threads
    else:
        scene.render.threads_mode = "AUTO"
    scene.render.resolution_percentage = 100
    scene.render.use_border = True
    scene.render.use_crop_to_border = True
    scene.render.use_persistent_data = True  # keeps BVH/scene data between renders of a worker
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.dither_intensity = 0.0  # dithering noise would break pixel-exact reproducibility


def _material(name: str):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    return mat


def _principled(mat):
    return next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")


def set_surface(mat, surface: SurfacePlan) -> None:
    """Rebuild a wall/floor material from sampled surface parameters (plain or procedural)."""
    nt = mat.node_tree
    bsdf = _principled(mat)
    for node in [n for n in nt.nodes if n.type not in ("BSDF_PRINCIPLED", "OUTPUT_MATERIAL")]:
        nt.nodes.remove(node)
    bsdf.inputs["Roughness"].default_value = 0.85
    kind = surface.kind
    if surface.color is None:
        raise SpecError(f"background.{kind}", "a wall or floor surface needs a colour")
    c1 = (*surface.color, 1.0)
    if kind == "plain":
        bsdf.inputs["Base Color"].default_value = c1
        return
    c2 = (*(surface.color2 or surface.color), 1.0)
    scale = 1.0 if surface.scale is None else surface.scale
    coord = nt.nodes.new("ShaderNodeTexCoord")
    mapping = nt.nodes.new("ShaderNodeMapping")
    mapping.inputs["Location"].default_value = ((surface.seed or 0) % 997 * 0.37, 0.0, 0.0)
    nt.links.new(coord.outputs["Object"], mapping.inputs["Vector"])
    if kind == "brick":
        tex = nt.nodes.new("ShaderNodeTexBrick")
        tex.inputs["Scale"].default_value = 2.5 / scale
        tex.inputs["Color1"].default_value = c1
        tex.inputs["Color2"].default_value = tuple(0.8 * v for v in c1[:3]) + (1.0,)
        tex.inputs["Mortar"].default_value = c2
        out = tex.outputs["Color"]
    elif kind in ("tiles", "checker"):
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Scale"].default_value = (2.0 if kind == "tiles" else 1.0) / scale
        tex.inputs["Color1"].default_value = c1
        tex.inputs["Color2"].default_value = (
            c2 if kind == "checker" else tuple(0.85 * v for v in c1[:3]) + (1.0,)
        )
        out = tex.outputs["Color"]
    elif kind in ("wood", "stripes"):
        tex = nt.nodes.new("ShaderNodeTexWave")
        tex.wave_type = "BANDS"
        tex.inputs["Scale"].default_value = (1.5 if kind == "wood" else 0.8) / scale
        tex.inputs["Distortion"].default_value = 4.0 if kind == "wood" else 0.0
        ramp = nt.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = c1
        ramp.color_ramp.elements[1].color = c2
        nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
        out = ramp.outputs["Color"]
    else:  # plaster, concrete, asphalt: noise
        tex = nt.nodes.new("ShaderNodeTexNoise")
        tex.inputs["Scale"].default_value = {"plaster": 3.0, "concrete": 8.0}.get(kind, 20.0) / scale
        tex.inputs["Detail"].default_value = 6.0
        ramp = nt.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = c1
        ramp.color_ramp.elements[1].color = tuple(
            0.6 * a + 0.4 * b for a, b in zip(c1[:3], c2[:3], strict=True)
        ) + (1.0,)
        nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
        out = ramp.outputs["Color"]
    if "Vector" in tex.inputs and not tex.inputs["Vector"].is_linked:
        nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
    nt.links.new(out, bsdf.inputs["Base Color"])


class Stage:
    """Room, lights, camera and compositor of one worker; reused for every image."""

    def __init__(self, spec):
        with quiet_stdout():
            _clear_scene()
        self.spec = spec
        self.scene = bpy.context.scene
        configure_cycles(self.scene, spec.render)
        # The PID in the name lets the next render or worker remove it after a SIGKILL
        # (render.scratch.sweep_orphan_temp_dirs).
        self.tmpdir = tempfile.mkdtemp(prefix=f"synthreid-render-{os.getpid()}-")
        self._build_room()
        self._build_lights()
        self._build_camera()
        self._build_compositor()

    # ---- construction ----------------------------------------------------------------------
    def _build_room(self) -> None:
        cam = self.spec.camera
        far = cam.distance[1]
        half = far + 3.0  # cameras stay inside the walls
        top = far * max(0.0, math.cos(math.radians(cam.polar[0]))) + 3.0
        self.wall_mat = _material("synthreid_wall")
        self.floor_mat = _material("synthreid_floor")
        mesh = bpy.data.meshes.new("synthreid_floor")
        mesh.from_pydata(
            [(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [], [(0, 1, 2, 3)]
        )
        self.floor = bpy.data.objects.new("synthreid_floor", mesh)
        self.floor.data.materials.append(self.floor_mat)
        self.scene.collection.objects.link(self.floor)
        # An open-topped box: the sun and the sky light the person from above.
        verts, faces = [], []
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
        for i in range(4):
            (x0, y0), (x1, y1) = corners[i], corners[(i + 1) % 4]
            base = len(verts)
            verts += [(x0, y0, 0), (x1, y1, 0), (x1, y1, top), (x0, y0, top)]
            faces.append((base, base + 1, base + 2, base + 3))
        wmesh = bpy.data.meshes.new("synthreid_walls")
        wmesh.from_pydata(verts, [], faces)
        self.walls = bpy.data.objects.new("synthreid_walls", wmesh)
        self.walls.data.materials.append(self.wall_mat)
        self.scene.collection.objects.link(self.walls)

    def _build_lights(self) -> None:
        self.sun = bpy.data.objects.new("synthreid_sun", bpy.data.lights.new("synthreid_sun", "SUN"))
        self.sun.data.angle = math.radians(3.0)
        self.scene.collection.objects.link(self.sun)
        world = bpy.data.worlds.new("synthreid_world")
        world.use_nodes = True
        self.scene.world = world
        nt = world.node_tree
        self.world_bg = next(n for n in nt.nodes if n.type == "BACKGROUND")
        self.world_bg.inputs["Color"].default_value = (0.75, 0.82, 1.0, 1.0)
        # Panorama branch (mode 'panorama'): linked into the background only when used.
        coord = nt.nodes.new("ShaderNodeTexCoord")
        self.world_mapping = nt.nodes.new("ShaderNodeMapping")
        self.world_env = nt.nodes.new("ShaderNodeTexEnvironment")
        nt.links.new(coord.outputs["Generated"], self.world_mapping.inputs["Vector"])
        nt.links.new(self.world_mapping.outputs["Vector"], self.world_env.inputs["Vector"])
        self.world_strength = None  # panorama strength overrides the ambient of set_light
        self.panorama_path = None

    def _build_camera(self) -> None:
        cam = self.spec.camera
        data = bpy.data.cameras.new("synthreid_camera")
        data.lens = cam.focal_length
        data.sensor_fit = "HORIZONTAL"
        data.sensor_width = cam.sensor_width
        data.clip_start = 0.05
        data.clip_end = 1000.0
        self.camera = bpy.data.objects.new("synthreid_camera", data)
        self.scene.collection.objects.link(self.camera)
        self.scene.camera = self.camera

    def _build_compositor(self) -> None:
        """RGB and an anti-aliased object-index mask, written by one File Output node."""
        scene = self.scene
        scene.view_layers[0].use_pass_object_index = True
        scene.use_nodes = True
        tree = scene.node_tree
        for node in list(tree.nodes):
            tree.nodes.remove(node)
        rl = tree.nodes.new("CompositorNodeRLayers")
        idm = tree.nodes.new("CompositorNodeIDMask")
        idm.index = MASK_PASS_INDEX
        idm.use_antialiasing = True
        tree.links.new(rl.outputs["IndexOB"], idm.inputs[0])
        out = tree.nodes.new("CompositorNodeOutputFile")
        out.base_path = self.tmpdir
        out.format.file_format = "PNG"
        out.format.color_mode = "RGBA"
        out.format.color_depth = "8"
        out.format.compression = 15
        out.file_slots[0].path = "rgb_"
        out.file_slots.new("mask_")
        tree.links.new(rl.outputs["Image"], out.inputs[0])
        tree.links.new(idm.outputs[0], out.inputs[1])
        comp = tree.nodes.new("CompositorNodeComposite")
        tree.links.new(rl.outputs["Image"], comp.inputs[0])
        self.output_node = out

    # ---- per character / per image ------------------------------------------------------------
    def set_background(self, background: BackgroundPlan, panoramas_dir: str | None = None) -> None:
        mode = background.mode
        open_air = mode in ("images", "panorama")
        self.walls.hide_render = open_air
        # A shadow catcher keeps the person's ground shadow: over the transparent film in
        # 'images' mode (composited later), straight onto the environment in 'panorama' mode.
        self.floor.is_shadow_catcher = open_air
        self.scene.render.film_transparent = mode == "images"
        links = self.scene.world.node_tree.links
        for link in list(self.world_bg.inputs["Color"].links):
            links.remove(link)
        self.world_strength = None
        if mode == "panorama":
            if not panoramas_dir or background.image is None:
                raise SpecError(
                    "background.panoramas_dir", "a panorama background needs the folder and an image"
                )
            self._load_panorama(os.path.join(panoramas_dir, background.image))
            self.world_mapping.inputs["Rotation"].default_value = (
                0.0,
                0.0,
                math.radians(background.rotation_deg or 0.0),
            )
            links.new(self.world_env.outputs["Color"], self.world_bg.inputs["Color"])
            self.world_strength = background.strength
        elif not open_air:
            if background.wall is None:
                raise SpecError("background.wall", f"a {mode!r} background needs a wall surface")
            set_surface(self.wall_mat, background.wall)
            set_surface(self.floor_mat, background.floor)

    def _load_panorama(self, path: str) -> None:
        if self.panorama_path == path:
            return
        old = self.world_env.image
        try:
            self.world_env.image = bpy.data.images.load(path, check_existing=True)
        except RuntimeError as exc:
            raise OSError(f"{path}: cannot load panorama ({exc})") from exc
        if old is not None and old != self.world_env.image:
            bpy.data.images.remove(old)  # one panorama in memory per worker, not one per character
        self.panorama_path = path

    def set_light(self, light: LightPlan) -> None:
        el, az = math.radians(light.sun_elevation_deg), math.radians(light.sun_azimuth_deg)
        # A sun shines along its local -Z: tilt it away from +Z by (90 deg - elevation).
        self.sun.rotation_euler = (0.0, math.pi / 2 - el, az)
        self.sun.data.energy = light.sun_strength
        self.sun.data.color = light.sun_color
        strength = light.ambient if self.world_strength is None else self.world_strength
        self.world_bg.inputs["Strength"].default_value = strength

    def set_camera(self, rotation_w2c: np.ndarray, position) -> None:
        """Place the camera from an OpenCV world-to-camera rotation (x right, y down, z forward)."""
        from mathutils import Matrix

        r = np.asarray(rotation_w2c)
        # Blender cameras look along local -Z with +Y up: columns right, up (= -down), back (= -forward).
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = r[0], -r[1], -r[2]
        m[:3, 3] = position
        self.camera.matrix_world = Matrix(m.tolist())

    def set_frame(self, width: int, height: int, border) -> None:
        rd = self.scene.render
        rd.resolution_x, rd.resolution_y = width, height
        rd.border_min_x, rd.border_max_x, rd.border_min_y, rd.border_max_y = border

    def render(self) -> tuple[str, str]:
        """Render the current border; returns paths of the RGB(A) and mask PNGs it wrote."""
        frame = self.scene.frame_current
        for prefix in ("rgb_", "mask_"):
            path = os.path.join(self.tmpdir, f"{prefix}{frame:04d}.png")
            if os.path.exists(path):
                os.unlink(path)
        with quiet_stdout():
            bpy.ops.render.render(write_still=False)
        return (
            os.path.join(self.tmpdir, f"rgb_{frame:04d}.png"),
            os.path.join(self.tmpdir, f"mask_{frame:04d}.png"),
        )
