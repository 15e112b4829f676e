"""``RenderResult`` (what a renderer returns for one plan) and ``DatasetWriter``, the one
writer of a dataset's per-image files and the one owner of the "image done" rule.

Each finished image adds ``images/STEM.EXT`` (png or jpg), ``masks/STEM.png`` and
``meta/STEM.json``, each written atomically, the meta row last (it records the sha256 of
both files). An image is done only when ``DatasetWriter.finished_row`` accepts it: its meta
row is readable and names its files, and their sha256 match the row, whatever the image
format; a truncated, replaced or missing file makes it not done (rendered again).
Local renders, the farm, ``rerender``, ``preview``, ``verify`` and study reuse all ask here.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from synthreid.fsutil import atomic_path, sha256_file, write_json
from synthreid.render.model import ImagePlan

IMAGE_FORMATS = ("png", "jpg")
JPEG_QUALITY = 95


@dataclass(frozen=True)
class RenderResult:
    """One rendered image of an ``ImagePlan``.

    ``rgb`` (RGB) and ``mask`` (L, 255 = person) at the output size; ``bbox``: the crop
    (x0, y0, x1, y1) in pixels of the rendered frame of ``frame_size`` (w, h) with intrinsics
    ``K`` (3x3) and extrinsics ``Rt`` (3x4, OpenCV world-to-camera); ``joints2d``: COCO-18
    joints in frame pixels, ``joints2d_crop`` in output-image pixels; seconds of wall time in
    Cycles (``render_seconds``) and in the whole render call (``total_seconds``).
    """

    rgb: Image.Image
    mask: Image.Image
    bbox: tuple[int, int, int, int]
    frame_size: tuple[int, int]
    K: tuple[tuple[float, ...], ...]
    Rt: tuple[tuple[float, ...], ...]
    joints2d: dict[str, tuple[float, float]]
    joints2d_crop: dict[str, tuple[float, float]]
    render_seconds: float
    total_seconds: float


def encode(img: Image.Image, image_format: str) -> bytes:
    """PNG (no optimisation: deterministic and fast) or JPEG (quality 95) bytes of ``img``."""
    buf = io.BytesIO()
    if image_format == "jpg":
        img.save(buf, "JPEG", quality=JPEG_QUALITY)
    else:
        img.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def read_meta_row(root: str | Path, stem: str) -> dict | None:
    """The label row in ``meta/STEM.json``, or None when it is missing, unreadable or not an object."""
    try:
        row = json.loads((Path(root) / "meta" / f"{stem}.json").read_text())
    except (OSError, ValueError):  # ValueError: invalid JSON or invalid UTF-8
        return None
    return row if isinstance(row, dict) else None


def names_stem(rel, folder: str, stem: str) -> bool:
    """True when ``rel`` is ``FOLDER/STEM.EXT`` (any extension; nothing outside the folder)."""
    if not isinstance(rel, str):
        return False
    p = PurePosixPath(rel)
    return len(p.parts) == 2 and p.parts[0] == folder and p.stem == stem and bool(p.suffix)


def file_problems(root: str | Path, stem: str, row: dict) -> list[str]:
    """What is wrong with the files of the finished image ``stem`` whose meta row is ``row``.

    Empty when sound: the row names ``images/STEM.EXT`` (any output format) and
    ``masks/STEM.EXT``, both files exist, the image's sha256 equals ``checksum`` and, when the
    row records one, the mask's equals ``mask_checksum``. Reads each file once; does not decode.
    """
    root = Path(root)
    problems = []
    if row.get("stem", stem) != stem:
        problems.append(f"meta row is for {row.get('stem')!r}, expected {stem!r}")
    for key, folder, sum_key in (("image", "images", "checksum"), ("mask", "masks", "mask_checksum")):
        rel = row.get(key)
        if not isinstance(rel, str) or not names_stem(rel, folder, stem):
            problems.append(f"meta row's {key!r} is {rel!r}, expected '{folder}/{stem}.EXT'")
            continue
        recorded = row.get(sum_key)
        if recorded is None and key == "image":
            problems.append(f"{rel}: meta row records no checksum")
        try:
            if recorded is None:
                if not (root / rel).is_file():
                    problems.append(f"{rel}: missing")
            elif sha256_file(root / rel) != recorded:
                problems.append(f"{rel}: sha256 differs from the meta row (truncated or changed)")
        except FileNotFoundError:
            problems.append(f"{rel}: missing")
        except OSError as exc:
            problems.append(f"{rel}: unreadable ({exc.strerror or exc})")
    return problems


class DatasetWriter:
    """Writes finished images into the dataset folder ``root`` (its ``images/``, ``masks/``
    and ``meta/`` exist, see ``output.init_dataset``) and says which images are done."""

    def __init__(self, root: str | Path, image_format: str = "png"):
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"output.format {image_format!r}: expected one of {', '.join(IMAGE_FORMATS)}")
        self.root = Path(root)
        self.image_format = image_format

    def finished_row(self, stem: str) -> dict | None:
        """The label row of an image complete on disk, or None when it must be (re)rendered:
        ``meta/STEM.json`` is readable and ``file_problems`` finds nothing."""
        row = read_meta_row(self.root, stem)
        if row is None or file_problems(self.root, stem, row):
            return None
        return row

    def done(self, stem: str) -> bool:
        """True when image ``stem`` is complete on disk (see ``finished_row``)."""
        return self.finished_row(stem) is not None

    def discard_uncommitted(self, stem: str) -> int:
        """Delete the image and mask of ``stem`` if its label row is missing (``write`` stopped
        between its files and the row, which is written last: the image's commit); return how
        many files. Only for an image whose writer is gone and that is not recorded done."""
        if (self.root / "meta" / f"{stem}.json").exists():
            return 0
        n = 0
        for rel in (f"images/{stem}.{self.image_format}", f"masks/{stem}.png"):
            try:
                (self.root / rel).unlink()
                n += 1
            except FileNotFoundError:
                pass
        return n

    def write(self, plan: ImagePlan, result: RenderResult) -> dict:
        """Write the image, its mask and (last) its label row; return the label row: the plan's
        JSON plus what the render measured, the files and their sha256."""
        t0 = time.perf_counter()
        img_rel = f"images/{plan.stem}.{self.image_format}"
        mask_rel = f"masks/{plan.stem}.png"
        checksum = self._write(encode(result.rgb, self.image_format), img_rel)
        mask_checksum = self._write(encode(result.mask, "png"), mask_rel)
        row = {
            **plan.to_json(),
            "state": "done",
            "image": img_rel,
            "mask": mask_rel,
            "size": list(result.rgb.size),
            "bbox": list(result.bbox),
            "frame": {
                "width": result.frame_size[0],
                "height": result.frame_size[1],
                "K": [list(r) for r in result.K],
                "Rt": [list(r) for r in result.Rt],
            },
            "joints2d": {n: list(uv) for n, uv in result.joints2d.items()},
            "joints2d_crop": {n: list(uv) for n, uv in result.joints2d_crop.items()},
            "checksum": checksum,
            "mask_checksum": mask_checksum,
            "render_seconds": round(result.render_seconds, 4),
            "total_seconds": round(result.total_seconds + time.perf_counter() - t0, 4),
        }
        write_json(self.root / "meta" / f"{plan.stem}.json", row, indent=None)
        return row

    def _write(self, data: bytes, rel: str) -> str:
        with atomic_path(self.root / rel) as tmp:
            tmp.write_bytes(data)
        return hashlib.sha256(data).hexdigest()
