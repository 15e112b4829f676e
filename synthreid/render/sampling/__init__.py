"""Pure-numpy samplers of every random choice of a dataset (no bpy).

Each character and each image draws from its own generator, seeded by
(dataset seed, stream, character index[, image index]), so any image can be re-drawn alone.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from numpy.random.bit_generator import ISeedSequence

# Stream ids keep the generators of different purposes independent.
STREAM_CHARACTER = 1
STREAM_IMAGE = 2
STREAM_SCENE = 3


def rng_for(seed: int, stream: int, *indices: int) -> np.random.Generator:
    """A PCG64 generator seeded by (seed, stream, *indices); all non-negative ints."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([int(seed), int(stream), *map(int, indices)]))
    )


def _uniform_arithmetic(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    lo = float(lo)
    span = float(hi) - lo
    if not 0.0 <= span < math.inf:
        return _uniform_numpy(rng, lo, hi)  # numpy's errors (high < low, overflow)
    return lo + span * rng.random()


def _uniform_numpy(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return float(rng.uniform(lo, hi))


def _arithmetic_is_numpys() -> bool:
    """Whether ``_uniform_arithmetic`` gives numpy's values here. numpy's uniform is
    ``lo + (hi - lo) * random()`` (random_uniform in distributions.c), the same float operations,
    unless numpy was compiled to fuse them into one multiply-add (not on x86-64 builds,
    possible on others): 1,000 draws over wide ranges tell (~7 ms)."""
    a, b = np.random.Generator(np.random.PCG64(12345)), np.random.Generator(np.random.PCG64(12345))
    bounds = np.sort(np.random.Generator(np.random.PCG64(6789)).normal(0.0, 100.0, (1000, 2)), axis=1)
    return all(_uniform_arithmetic(a, lo, hi) == b.uniform(lo, hi) for lo, hi in bounds.tolist())


# ``float(rng.uniform(lo, hi))``: the same value and generator state, ~4x faster where checked equal.
uniform = _uniform_arithmetic if _arithmetic_is_numpys() else _uniform_numpy


def uniforms(rng: np.random.Generator, bounds) -> list[float]:
    """``[uniform(rng, lo, hi) for lo, hi in bounds]`` from one call: the same values and the
    same generator state after it (numpy's ``random(n)`` takes the n doubles that n calls of
    ``random()`` take, and each value is ``lo + (hi - lo) * u`` as in ``uniform``). Draws
    one at a time where ``uniform`` is numpy's own or a span is not a finite non-negative
    number (numpy's errors)."""
    los = [float(lo) for lo, _ in bounds]
    spans = [float(hi) - lo for lo, (_, hi) in zip(los, bounds, strict=True)]
    if uniform is not _uniform_arithmetic or not all(0.0 <= s < math.inf for s in spans):
        return [uniform(rng, lo, hi) for lo, hi in bounds]
    return [lo + s * u for lo, s, u in zip(los, spans, rng.random(len(los)).tolist(), strict=True)]


# numpy's SeedSequence (numpy/random/bit_generator.pyx, unchanged since numpy 1.17): a pool of
# 4 uint32 words hashed from the entropy words, from which PCG64 takes 8 words (4 uint64).
_POOL = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_M32 = 0xFFFFFFFF


def _hashmix(value: np.ndarray, const: list[int]) -> np.ndarray:
    value = value ^ np.uint32(const[0])
    const[0] = (const[0] * _MULT_A) & _M32
    value = value * np.uint32(const[0])  # uint32 arrays wrap around silently, as in C
    return value ^ (value >> np.uint32(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    return r ^ (r >> np.uint32(16))


def seed_states(seed: int, stream: int, indices: np.ndarray) -> np.ndarray:
    """``SeedSequence([seed, stream, *row]).generate_state(4, np.uint64)`` of every row of
    ``indices`` (n, k non-negative ints) at once, (n, 4) uint64: the words ``rng_for`` seeds
    its PCG64 with, for many generators in one go (``generator`` makes one of them).

    Values of 2**32 and more (several entropy words) take SeedSequence itself, row by row."""
    idx = np.asarray(indices, dtype=np.int64).reshape(len(indices), -1)
    n = len(idx)
    if not (
        0 <= seed <= _M32 and 0 <= stream <= _M32 and (idx.size == 0 or 0 <= idx.min() <= idx.max() <= _M32)
    ):
        return np.array(
            [
                np.random.SeedSequence([int(seed), int(stream), *map(int, row)]).generate_state(4, np.uint64)
                for row in idx
            ],
            dtype=np.uint64,
        ).reshape(n, 4)
    # each value below 2**32 is one entropy word
    words = [np.full(n, seed, np.uint32), np.full(n, stream, np.uint32)]
    words += [idx[:, j].astype(np.uint32) for j in range(idx.shape[1])]
    const = [_INIT_A]
    pool = [_hashmix(words[i] if i < len(words) else np.zeros(n, np.uint32), const) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], const))
    for i_src in range(_POOL, len(words)):
        for i_dst in range(_POOL):
            pool[i_dst] = _mix(pool[i_dst], _hashmix(words[i_src], const))
    out = np.empty((n, 8), np.uint32)
    hash_const = _INIT_B
    for i in range(8):
        v = pool[i % _POOL] ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_B) & _M32
        v = v * np.uint32(hash_const)
        out[:, i] = v ^ (v >> np.uint32(16))
    lo, hi = out[:, 0::2].astype(np.uint64), out[:, 1::2].astype(np.uint64)
    return lo | (hi << np.uint64(32))  # little-endian pairs, as SeedSequence's uint64 view


class _Words(ISeedSequence):
    """A seed sequence whose state is given (one row of ``seed_states``)."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words: int, dtype=np.uint64) -> np.ndarray:
        if n_words != 4 or np.dtype(dtype) != np.uint64:
            raise ValueError("only PCG64's 4 uint64 words are known")
        return self.words


def generator(words: np.ndarray) -> np.random.Generator:
    """The generator ``rng_for`` gives for the seed words of one row of ``seed_states`` (the
    same PCG64 state) without hashing the seed again."""
    seq = _Words(np.ascontiguousarray(words, dtype=np.uint64))
    return np.random.Generator(np.random.PCG64(seq))  # type: ignore[arg-type]  # any ISeedSequence works


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
