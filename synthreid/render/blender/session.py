"""RenderSession: a long-lived renderer of one spec inside one process (bpy imported once).

The stage (room, lights, camera, compositor) is built once; the person is rebuilt only when
the character changes; per image the pose, camera, light and render border change. Files are
written atomically: image and mask first, the label row (meta/STEM.json, with the sha256 of
both) last.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from synthreid.fsutil import atomic_path, write_json
from synthreid.render import geometry
from synthreid.render.blender.person import build_person
from synthreid.render.blender.scene import MASK_PASS_INDEX, Stage
from synthreid.render.plan import plan_character, plan_image
from synthreid.render.sampling.camera import look_at
from synthreid.render.spec import DatasetSpec

MAX_FRAME_SCALE = 4.0  # never render a frame more than 4x the camera's nominal resolution


class RenderSession:
    """Renders images of ``spec`` into dataset folders; keep one per worker process."""

    def __init__(self, spec: DatasetSpec):
        self.spec = spec
        self.stage = Stage(spec)
        self.person = None
        self.character = None
        self.character_index: int | None = None
        self.timings = {"build": 0.0, "render": 0.0, "total": 0.0, "images": 0}

    # ---- character ---------------------------------------------------------------------------
    def load_character(self, ci: int) -> dict:
        if self.character_index == ci:
            return self.character
        t0 = time.perf_counter()
        if self.person is not None:
            self.person.remove()
            self.person = None
        character = plan_character(self.spec, ci)
        self.person = build_person(
            character["attributes"],
            motion_dir=self.spec.people.motion_dir,
            meshes_dir=self.spec.people.meshes_dir,
        )
        for obj in self.person.objects:
            obj.pass_index = MASK_PASS_INDEX
        self.stage.set_background(character["background"], self.spec.background.panoramas_dir)
        self.character, self.character_index = character, ci
        self.timings["build"] += time.perf_counter() - t0
        return character

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

    def render_image(self, ci: int, ii: int, root: str | Path, full_frame: bool = False) -> dict:
        """Render image ``ii`` of character ``ci`` into dataset folder ``root``; return its label row.

        ``full_frame=True`` renders the whole frame and crops afterwards (same pixels of the
        person, many more rendered): only for measuring what the render border saves.
        """
        t_start = time.perf_counter()
        root = Path(root)
        character = self.load_character(ci)
        row = plan_image(self.spec, ci, ii, character)
        cam = row["camera"]
        self.person.pose(row["pose"])
        vertices = self.person.world_vertices()
        rot = look_at(cam["position"], cam["target"])
        frame = self._frame_for(vertices, rot, cam["position"])
        self.stage.set_camera(rot, cam["position"])
        self.stage.set_light(row["light"])
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
        rgb = self._compose(rgba, character, row)
        if self.spec.output.size is not None:
            size = tuple(self.spec.output.size)
            rgb = rgb.resize(size, Image.LANCZOS)
            mask = mask.resize(size, Image.BILINEAR)
        sx, sy = rgb.size[0] / (x1 - x0), rgb.size[1] / (y1 - y0)

        joints = self.person.joints_world()
        names = sorted(joints)
        uv = geometry.project(np.array([joints[n] for n in names]), frame["K"], frame["Rt"])
        joints2d = {n: [round(float(u), 2), round(float(v), 2)] for n, (u, v) in zip(names, uv, strict=True)}
        joints_crop = {
            n: [round((u - x0) * sx, 2), round((v - y0) * sy, 2)] for n, (u, v) in joints2d.items()
        }

        stem, ext = row["stem"], "." + self.spec.output.format
        img_rel, mask_rel = f"images/{stem}{ext}", f"masks/{stem}.png"
        checksum = self._save(rgb, root / img_rel)
        mask_checksum = self._save(mask, root / mask_rel)
        label = {
            **row,
            "state": "done",
            "image": img_rel,
            "mask": mask_rel,
            "size": list(rgb.size),
            "bbox": [x0, y0, x1, y1],
            "frame": {
                "width": frame["width"],
                "height": frame["height"],
                "K": np.round(frame["K"], 6).tolist(),
                "Rt": np.round(frame["Rt"], 6).tolist(),
            },
            "joints2d": joints2d,
            "joints2d_crop": joints_crop,
            "character": character,
            "checksum": checksum,
            "mask_checksum": mask_checksum,
            "render_seconds": round(t_render, 4),
        }
        label["total_seconds"] = round(time.perf_counter() - t_start, 4)
        write_json(root / "meta" / f"{stem}.json", label, indent=None)
        self.timings["render"] += t_render
        self.timings["total"] += time.perf_counter() - t_start
        self.timings["images"] += 1
        return label

    def _compose(self, rgba: Image.Image, character: dict, row: dict) -> Image.Image:
        """RGB of the crop; in 'images' mode the transparent render goes over a photo crop."""
        if character["background"]["mode"] != "images":
            return rgba.convert("RGB")
        from synthreid.render.backgrounds import photo_window

        photo = photo_window(
            Path(self.spec.background.images_dir) / character["background"]["image"],
            row["background_crop"],
            rgba.size,
        )
        photo.alpha_composite(rgba)
        return photo.convert("RGB")

    def _save(self, img: Image.Image, path: Path) -> str:
        """Encode and write ``img`` atomically; return the sha256 of the bytes written."""
        buf = io.BytesIO()
        fmt = "JPEG" if path.suffix == ".jpg" else "PNG"
        img.save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {"optimize": False}))
        data = buf.getvalue()
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def render_character(self, ci: int, image_indices, root: str | Path, on_image=None) -> list[dict]:
        rows = []
        for ii in image_indices:
            row = self.render_image(ci, ii, root)
            rows.append(row)
            if on_image is not None:
                on_image(row)
        return rows

    def close(self) -> None:
        """Remove the person and the stage's temp folder (Blender's render output); idempotent."""
        try:
            if self.person is not None:
                self.person.remove()
        finally:
            self.person = None
            self.character_index = None
            shutil.rmtree(self.stage.tmpdir, ignore_errors=True)
