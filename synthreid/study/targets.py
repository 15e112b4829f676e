"""A folder of real crops, searched recursively, as one flat folder a refiner can read.

Refiners read the images directly inside their target folder; real crop collections come in
sub-folders (``unlabelled/mit``, ``unlabelled/inria``). :func:`flat_image_folder` makes a
folder of symbolic links, one per image, named after its relative path, and nothing is copied.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from synthreid.errors import DatasetError
from synthreid.study.fingerprint import list_files

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")


def find_images(folder: str | Path) -> list[tuple[str, Path]]:
    """(relative path, path) of every image under ``folder`` (recursive, sorted)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: target folder does not exist")
    images = [(rel, p) for rel, p in list_files(folder) if p.suffix.lower() in IMAGE_EXTS]
    if not images:
        raise DatasetError(
            f"{folder}: no images found (expected {', '.join(IMAGE_EXTS)} files, searched recursively)"
        )
    return images


def flat_image_folder(src: str | Path, dst: str | Path) -> Path:
    """``dst`` holding one link per image under ``src``; returns ``src`` itself when its images
    all lie directly inside it. Rebuilt atomically (temp folder + rename) when out of date."""
    src, dst = Path(src).resolve(), Path(dst)
    images = find_images(src)
    if all("/" not in rel for rel, _ in images):
        return src
    links = {rel.replace("/", "__"): p.resolve() for rel, p in images}
    if dst.is_dir() and {p.name: p.resolve() for p in dst.iterdir()} == links:
        return dst
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, p in links.items():
        (tmp / name).symlink_to(p)
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)
    return dst
