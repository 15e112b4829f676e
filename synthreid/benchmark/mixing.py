"""Mixing several training datasets: seeded sub-sampling and a weighted batch sampler.

Each ``--train`` dataset may be cut to ``ids`` seeded identities and ``ipi`` seeded images per
identity (in that order), so that e.g. "500 new synthetic identities" and "weak variants of the
real identities" can be compared at equal size. ``--mix-ratio`` fixes the expected fraction of
every batch drawn from each dataset, independent of the datasets' sizes.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from synthreid.errors import SynthreidError


def per_dataset(values, n: int, name: str) -> list:
    """Expand an option given once (applies to all) or once per ``--train`` dataset, in order."""
    if not values:
        return [None] * n
    values = list(values)
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise SynthreidError(
            f"config: {name} has {len(values)} values for {n} --train datasets "
            "(give one for all, or one per --train in order)"
        )
    return values


def subsample(records: list, ids: int | None, ipi: int | None, seed: int, index: int) -> list:
    """Keep ``ids`` seeded identities, then ``ipi`` seeded images of each (None = all).

    ``index`` is the dataset's position among ``--train`` so that equal datasets given twice are
    cut differently. Record order is kept. Asking for more than there is keeps all of them.
    """
    if ids is not None and ids < 1 or ipi is not None and ipi < 1:
        raise SynthreidError(f"config: train_ids/train_images_per_id must be >= 1 (got {ids}, {ipi})")
    rng = np.random.default_rng([seed, 0x5B, index])
    by_pid = defaultdict(list)
    for i, r in enumerate(records):
        by_pid[r.pid].append(i)
    pids = sorted(by_pid)
    if ids is not None and ids < len(pids):
        pids = sorted(rng.choice(pids, size=ids, replace=False).tolist())
    keep = []
    for p in pids:
        idx = by_pid[p]
        if ipi is not None and ipi < len(idx):
            idx = sorted(rng.choice(idx, size=ipi, replace=False).tolist())
        keep += idx
    return [records[i] for i in sorted(keep)]


def normalise_ratio(ratio, n: int) -> list[float]:
    """Weights per dataset (any positive scale) -> fractions summing to 1; SynthreidError if invalid."""
    if len(ratio) != n:
        raise SynthreidError(f"config: mix_ratio has {len(ratio)} values for {n} --train datasets")
    r = np.asarray(ratio, dtype=float)
    if not np.all(np.isfinite(r)) or (r < 0).any() or r.sum() <= 0:
        raise SynthreidError(f"config: mix_ratio {list(ratio)} must be non-negative with a positive sum")
    return (r / r.sum()).tolist()


class MixSampler(torch.utils.data.Sampler):
    """(index, per-sample seed) pairs drawn with replacement so that each sample comes from
    dataset d with probability ``ratio[d]`` (uniform within d); ``length`` draws per epoch.

    ``sources[i]`` is the dataset index of sample i. Seeded by (seed, epoch): call
    :meth:`set_epoch` before each epoch.
    """

    def __init__(self, sources, ratio, seed: int, length: int | None = None):
        self.sources = np.asarray(sources, dtype=np.int64)
        ratio = normalise_ratio(ratio, int(self.sources.max()) + 1 if len(self.sources) else 0)
        counts = np.bincount(self.sources, minlength=len(ratio))
        if any(c == 0 and r > 0 for c, r in zip(counts, ratio, strict=True)):
            raise SynthreidError("config: mix_ratio gives weight to a training dataset with no images")
        w = np.array([ratio[s] / counts[s] for s in self.sources])
        self.p = w / w.sum()
        self.n = int(length or len(self.sources))
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __iter__(self):
        rng = np.random.default_rng([self.seed, 0x313, self.epoch])
        idx = rng.choice(len(self.p), size=self.n, replace=True, p=self.p)
        seeds = rng.integers(0, 2**63 - 1, size=self.n)
        return iter(zip(idx.tolist(), seeds.tolist(), strict=True))
