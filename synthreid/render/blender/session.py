"""RenderSession: a long-lived renderer of one spec inside one process (bpy imported once).

``render(plan)`` renders one ``ImagePlan`` and returns a ``RenderResult`` (pixels, mask,
frame, joints, timings); it writes nothing into a dataset (``render.writer.DatasetWriter``
does). The stage (room, lights, camera, compositor) is built once; the person is rebuilt only
when the plan's character changes; per image the pose, camera, light and render border change.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from synthreid.render import geometry
from synthreid.render.blender import import_bpy
from synthreid.render.model import CharacterPlan, ImagePlan
from synthreid.render.sampling.camera import look_at
from synthreid.render.spec import DatasetSpec
from synthreid.render.writer import RenderResult

MAX_FRAME_SCALE = 4.0  # never render a frame more than 4x the camera's nominal resolution


class RenderSession:
    """Renders plans of ``spec`` (camera, output and render settings, asset folders); keep
    one per worker process."""

    def __init__(self, spec: DatasetSpec):
        # bpy is imported here, not at module import, so that the first session's
        # render.threads also sizes Blender's thread pool (synthreid.render.blender).
        import_bpy(spec.render.threads)
        from synthreid.render.blender.scene import Stage

        self.spec = spec
        self.stage = Stage(spec)
        self.person = None
        self.character: CharacterPlan | None = None
        self.timings = {"build": 0.0, "render": 0.0, "total": 0.0, "images": 0}

    # ---- character ---------------------------------------------------------------------------
    def load_character(self, character: CharacterPlan) -> None:
        """Build the person and surroundings of ``character`` unless they are built already."""
        if self.character == character and self.person is not None:
            return
        from synthreid.render.blender.person import build_person
        from synthreid.render.blender.scene import MASK_PASS_INDEX

        t0 = time.perf_counter()
        if self.person is not None:
            self.person.remove()
            self.person = None
            self.character = None
        self.person = build_person(
            character.person,
            motion_dir=self.spec.people.motion_dir,
            meshes_dir=self.spec.people.meshes_dir,
        )
        for obj in self.person.objects:
            obj.pass_index = MASK_PASS_INDEX
        self.stage.set_background(character.background, self.spec.background.panoramas_dir)
        self.character = character
        self.timings["build"] += time.perf_counter() - t0

    # ---- one image ---------------------------------------------------------------------------
    def _frame_for(self, vertices: np.ndarray, rot: np.ndarray, position) -> dict:
        """Resolution, intrinsics, crop rectangle and border for the posed person."""
        cam, out = self.spec.camera, self.spec.output
        width, height = cam.resolution
        rt = geometry.extrinsics(rot, position)
        if out.crop == "box":  # the thesis' crop: the 8 corners of the posed bounding box
            lo, hi = vertices.min(axis=0), vertices.max(axis=0)
            vertices = np.array(
                [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
            )
        k = geometry.intrinsics(cam.focal_length, cam.sensor_width, width, height)
        rect = geometry.rect_from_points(geometry.project(vertices, k, rt), width, height, out.margin)
        if out.size is not None and out.supersample > 0:
            # Render the crop at about the output size instead of full resolution: same view,
            # far fewer pixels for Cycles (the main cost), then a small resize.
            scale = min(MAX_FRAME_SCALE, out.size[1] * out.supersample / (rect[3] - rect[1]))
            width, height = geometry.scaled_resolution(width, height, scale)
            k = geometry.intrinsics(cam.focal_length, cam.sensor_width, width, height)
            rect = geometry.rect_from_points(geometry.project(vertices, k, rt), width, height, out.margin)
        if out.size is not None:
            rect = geometry.expand_to_aspect(rect, out.size[0] / out.size[1], width, height)
        return {
            "width": width,
            "height": height,
            "K": k,
            "Rt": rt,
            "rect": rect,
            "border": geometry.blender_border(rect, width, height),
        }

    def render(self, plan: ImagePlan, full_frame: bool = False) -> RenderResult:
        """Render ``plan``; nothing is written into a dataset.

        ``full_frame=True`` renders the whole frame and crops afterwards (same pixels of the
        person, many more rendered): only for measuring what the render border saves.
        """
        t_start = time.perf_counter()
        self.load_character(plan.character)
        cam = plan.camera
        self.person.pose(plan.pose)
        vertices = self.person.world_vertices()
        rot = look_at(cam.position_m, cam.target_m)
        frame = self._frame_for(vertices, rot, cam.position_m)
        self.stage.set_camera(rot, cam.position_m)
        self.stage.set_light(plan.light)
        border = (0.0, 1.0, 0.0, 1.0) if full_frame else frame["border"]
        self.stage.set_frame(frame["width"], frame["height"], border)
        t0 = time.perf_counter()
        rgb_path, mask_path = self.stage.render()
        t_render = time.perf_counter() - t0

        x0, y0, x1, y1 = frame["rect"]
        rgba = Image.open(rgb_path)
        rgba.load()
        mask = Image.open(mask_path).convert("L")
        if full_frame:
            rgba, mask = rgba.crop((x0, y0, x1, y1)), mask.crop((x0, y0, x1, y1))
        if rgba.size != (x1 - x0, y1 - y0):
            raise RuntimeError(
                f"Blender rendered {rgba.size}, expected {(x1 - x0, y1 - y0)} for border {frame['border']}"
            )
        rgb = self._compose(rgba, plan)
        if self.spec.output.size is not None:
            size = tuple(self.spec.output.size)
            rgb = rgb.resize(size, Image.LANCZOS)
            mask = mask.resize(size, Image.BILINEAR)
        sx, sy = rgb.size[0] / (x1 - x0), rgb.size[1] / (y1 - y0)

        joints = self.person.joints_world()
        names = sorted(joints)
        uv = geometry.project(np.array([joints[n] for n in names]), frame["K"], frame["Rt"])
        joints2d = {n: (round(float(u), 2), round(float(v), 2)) for n, (u, v) in zip(names, uv, strict=True)}
        joints_crop = {
            n: (round((u - x0) * sx, 2), round((v - y0) * sy, 2)) for n, (u, v) in joints2d.items()
        }
        result = RenderResult(
            rgb=rgb,
            mask=mask,
            bbox=(x0, y0, x1, y1),
            frame_size=(frame["width"], frame["height"]),
            K=tuple(tuple(r) for r in np.round(frame["K"], 6).tolist()),
            Rt=tuple(tuple(r) for r in np.round(frame["Rt"], 6).tolist()),
            joints2d=joints2d,
            joints2d_crop=joints_crop,
            render_seconds=t_render,
            total_seconds=time.perf_counter() - t_start,
        )
        self.timings["render"] += t_render
        self.timings["total"] += result.total_seconds
        self.timings["images"] += 1
        return result

    def _compose(self, rgba: Image.Image, plan: ImagePlan) -> Image.Image:
        """RGB of the crop; in 'images' mode the transparent render goes over a photo crop."""
        background = plan.character.background
        if background.mode != "images":
            return rgba.convert("RGB")
        from synthreid.render.backgrounds import photo_window

        if background.image is None or plan.background_crop is None:
            raise ValueError(f"image {plan.stem}: a photo background needs its image and crop in the plan")
        photo = photo_window(
            Path(self.spec.background.images_dir) / background.image, plan.background_crop, rgba.size
        )
        photo.alpha_composite(rgba)
        return photo.convert("RGB")

    def close(self) -> None:
        """Remove the person and the stage's temp folder (Blender's render output); idempotent."""
        try:
            if self.person is not None:
                self.person.remove()
        finally:
            self.person = None
            self.character = None
            shutil.rmtree(self.stage.tmpdir, ignore_errors=True)
