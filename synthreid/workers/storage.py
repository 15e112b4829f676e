"""Shared storage of the farm: dataset folders under ``DATA_DIR/datasets`` and the files of
one character's images (finished rows, leftover temp files of crashed writers)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from synthreid.fsutil import sha256_file


def remove_character_temps(root: str | Path, stems: list[str]) -> int:
    """Delete temp files (``.STEM.*.tmp``) a killed writer left for these stems; return how many.

    Only this task's stems: other workers write other characters of the same dataset and
    their temp files are live.
    """
    root = Path(root)
    n = 0
    for sub in ("images", "masks", "meta"):
        folder = root / sub
        if not folder.is_dir():
            continue
        for stem in stems:
            for p in folder.glob(f".{stem}.*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    n += 1
    return n


def finished_row(root: str | Path, stem: str) -> dict | None:
    """The label row of an image already complete on disk, or None when it must be (re)rendered.

    Complete: ``meta/STEM.json`` is readable, names its image and mask, both exist, and the
    image's sha256 matches the recorded checksum (a torn or replaced file is rendered again).
    """
    root = Path(root)
    meta = root / "meta" / f"{stem}.json"
    try:
        row = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    image, mask = row.get("image"), row.get("mask")
    if not image or not mask or not (root / mask).is_file():
        return None
    try:
        checksum = sha256_file(root / image)
    except OSError:
        return None
    if row.get("checksum") not in (None, checksum):
        return None
    row["checksum"] = checksum
    return row
