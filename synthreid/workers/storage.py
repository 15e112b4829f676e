"""Shared storage of the farm: leftover temp files of crashed writers of one character's
images (whether an image is done is ``render.writer.DatasetWriter``'s rule)."""

from __future__ import annotations

import contextlib
from pathlib import Path


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
