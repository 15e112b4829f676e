"""Shared storage of the farm: dataset folders under ``DATA_DIR/datasets`` and the files of
one character's images (finished rows, leftover temp files of crashed writers)."""

from __future__ import annotations

import contextlib
from pathlib import Path

# One definition of "complete on disk" for the farm and local renders (checksum-checked).
from synthreid.render.output import finished_row as finished_row


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
