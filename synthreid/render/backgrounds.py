"""Background photos behind the person (background.mode = "images"); pure PIL.

Folder format (docs/backgrounds.md): any tree of ``.png``/``.jpg``/``.jpeg`` files; hidden
files and folders are ignored; each character gets one photo, each image a window of it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from synthreid.errors import DatasetError
from synthreid.render.model.scene import BackgroundCrop


@lru_cache(maxsize=16)
def _load(path: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            return ImageOps.exif_transpose(im).convert("RGBA")
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path}: unreadable background image ({exc})") from exc


def photo_window(path: str | Path, crop: BackgroundCrop, size: tuple[int, int]) -> Image.Image:
    """An RGBA image of ``size`` (w, h) cut from the photo at ``path``.

    ``crop``: ``scale``: fraction of the largest window of the target aspect that fits;
    ``x``, ``y``: position of the window in [0, 1] of the free range; ``flip``: mirror.
    """
    photo = _load(str(path))
    w, h = size
    pw, ph = photo.size
    aspect = w / h
    if pw / ph > aspect:
        full_h, full_w = float(ph), ph * aspect
    else:
        full_w, full_h = float(pw), pw / aspect
    cw, ch = max(1.0, full_w * crop.scale), max(1.0, full_h * crop.scale)
    left = (pw - cw) * crop.x
    top = (ph - ch) * crop.y
    window = photo.resize((w, h), Image.Resampling.BICUBIC, box=(left, top, left + cw, top + ch))
    if crop.flip:
        window = ImageOps.mirror(window)
    return window
