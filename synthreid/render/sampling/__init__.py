"""Pure-numpy samplers of every random choice of a dataset (no bpy).

Each character and each image draws from its own generator, seeded by
(dataset seed, stream, character index[, image index]), so any image can be re-drawn alone.
"""

from __future__ import annotations

import numpy as np

# Stream ids keep the generators of different purposes independent.
STREAM_CHARACTER = 1
STREAM_IMAGE = 2
STREAM_SCENE = 3


def rng_for(seed: int, stream: int, *indices: int) -> np.random.Generator:
    """A PCG64 generator seeded by (seed, stream, *indices); all non-negative ints."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(stream), *map(int, indices)])))
