"""Shared storage of the farm: leftover temp files of crashed writers of one character's
images (whether an image is done is ``render.writer.DatasetWriter``'s rule)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def remove_character_temps(root: str | Path, stems: list[str]) -> int:
    """Delete temp files (``.STEM.*.tmp``) a killed writer left for these stems; return how many.

    Only this task's stems: other workers write other characters of the same dataset and
    their temp files are live.
    """
    root = Path(root)
    prefixes = tuple(f".{stem}." for stem in stems)
    n = 0
    for sub in ("images", "masks", "meta"):
        folder = root / sub
        if not folder.is_dir() or not prefixes:
            continue
        # One listing per folder (not one per stem: a folder may hold a million files).
        with os.scandir(folder) as entries:
            doomed = [e.path for e in entries if e.name.startswith(prefixes) and e.name.endswith(".tmp")]
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                n += 1
    return n
