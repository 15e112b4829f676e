"""Pure-numpy samplers of every random choice of a dataset (no bpy).

Each character and each image draws from its own generator, seeded by
(dataset seed, stream, character index[, image index]), so any image can be re-drawn alone.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

# Stream ids keep the generators of different purposes independent.
STREAM_CHARACTER = 1
STREAM_IMAGE = 2
STREAM_SCENE = 3


def rng_for(seed: int, stream: int, *indices: int) -> np.random.Generator:
    """A PCG64 generator seeded by (seed, stream, *indices); all non-negative ints."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([int(seed), int(stream), *map(int, indices)]))
    )


@functools.lru_cache(maxsize=32)
def _asset_files(folder: str, suffixes: tuple[str, ...], mtime: float) -> tuple[str, ...]:
    root = Path(folder)
    return tuple(
        sorted(
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file()
            and p.suffix.lower() in suffixes
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    )


def asset_files(folder: str | Path, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    """Sorted relative paths of the files with ``suffixes`` (lower case, with dot) under a user
    asset folder, hidden files and folders skipped; cached until the folder's mtime changes.
    The caller checks that ``folder`` is a directory and names its spec field in errors."""
    return _asset_files(str(folder), tuple(suffixes), Path(folder).stat().st_mtime)
