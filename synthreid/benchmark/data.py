"""Torch datasets, samplers and image transforms for re-ID training and feature extraction.

Loaders yield ``uint8`` tensors (N, 3, H, W) in RGB; the engine normalises them on the target
device (ImageNet mean/std), which keeps worker-to-GPU transfers 4x smaller. Each training
sample gets its own numpy Generator seeded from (seed, epoch, position), so augmentation is
the same whatever the number of loader workers.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from synthreid.errors import DatasetError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_rgb(path: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        raise DatasetError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None


def random_sized_rect_crop(
    img: Image.Image,
    height: int,
    width: int,
    rng: np.random.Generator,
    area=(0.64, 1.0),
    aspect=(2.0, 3.0),
    attempts: int = 10,
) -> Image.Image:
    """Crop a random rectangle of ``area`` fraction and height/width ``aspect``, resize to (height, width).

    Falls back to resizing the whole image when no attempt fits (Open-ReID's RandomSizedRectCrop).
    """
    w0, h0 = img.size
    for _ in range(attempts):
        target = rng.uniform(*area) * w0 * h0
        ratio = rng.uniform(*aspect)
        h = int(round(math.sqrt(target * ratio)))
        w = int(round(math.sqrt(target / ratio)))
        if w <= w0 and h <= h0:
            x1 = int(rng.integers(0, w0 - w + 1))
            y1 = int(rng.integers(0, h0 - h + 1))
            return img.crop((x1, y1, x1 + w, y1 + h)).resize((width, height), Image.Resampling.BILINEAR)
    return img.resize((width, height), Image.Resampling.BILINEAR)


def to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(img, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()


class ReidImages(torch.utils.data.Dataset):
    """Images with labels. ``train=True``: random rect crop + flip; else plain resize.

    Index with an int (evaluation) or (int, seed) pairs from :class:`SeededSampler` (training).
    Returns (uint8 image (3, H, W), label, camid).
    """

    def __init__(self, records, labels, size: tuple[int, int], train: bool):
        if len(records) != len(labels):
            raise ValueError("records and labels differ in length")
        self.paths = [r.path for r in records]
        self.labels = [int(x) for x in labels]
        self.cams = [int(r.camid) for r in records]
        self.size = size
        self.train = train

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, item):
        i, seed = item if isinstance(item, tuple) else (item, None)
        img = load_rgb(self.paths[i])
        h, w = self.size
        if self.train:
            rng = np.random.default_rng(seed)
            img = random_sized_rect_crop(img, h, w, rng)
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        elif img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.BILINEAR)
        return to_uint8_tensor(img), self.labels[i], self.cams[i]


class MemoryImages(torch.utils.data.Dataset):
    """Images decoded once and kept in memory as one uint8 tensor (N, 3, H, W) at ``size``.

    Pixels equal :class:`ReidImages` with ``train=False`` (PIL bilinear resize); training
    augmentation happens later on whole batches (``augment``), so a loader needs no workers.
    Index with an int or an (int, seed) pair; returns (uint8 image, label, camid). Costs
    N x 3 x H x W bytes (2,000 images at 128x64: 49 MB).
    """

    def __init__(self, records, labels, size: tuple[int, int], progress: bool = False, desc: str = "decode"):
        if len(records) != len(labels):
            raise ValueError("records and labels differ in length")
        h, w = size
        self.labels = torch.tensor([int(x) for x in labels], dtype=torch.int64)
        self.cams = torch.tensor([int(r.camid) for r in records], dtype=torch.int64)
        self.size = size
        self.images = torch.empty((len(records), 3, h, w), dtype=torch.uint8)
        for i, r in enumerate(tqdm(records, desc=desc, unit="img", disable=not progress, leave=False)):
            img = load_rgb(r.path)
            if img.size != (w, h):
                img = img.resize((w, h), Image.Resampling.BILINEAR)
            self.images[i] = to_uint8_tensor(img)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, item):
        i = item[0] if isinstance(item, tuple) else item
        return self.images[i], self.labels[i], self.cams[i]


class SeededSampler(torch.utils.data.Sampler):
    """Shuffled (index, per-sample seed) pairs; call :meth:`set_epoch` before each epoch."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        perm = rng.permutation(self.n)
        seeds = rng.integers(0, 2**63 - 1, size=self.n)
        return iter(zip(perm.tolist(), seeds.tolist(), strict=True))


class IdentitySampler(torch.utils.data.Sampler):
    """P x K batches for metric losses: (index, per-sample seed) pairs in runs of ``k`` images of one
    identity (drawn without replacement, repeated when an identity has fewer), identities in a
    seeded order; one epoch covers every identity about ``images / k`` times. Batches of a
    multiple of ``k`` then hold P = batch / k identities with K images each."""

    def __init__(self, labels, k: int, seed: int):
        if k < 1:
            raise ValueError(f"IdentitySampler: k must be >= 1 (got {k})")
        self.k, self.seed, self.epoch = k, seed, 0
        labels = np.asarray(labels)
        self.groups = [np.flatnonzero(labels == lab) for lab in np.unique(labels)]
        self.n = max(1, len(labels) // k) * k

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 0x9C])
        chunks = []
        for g in self.groups:
            reps = max(1, round(len(g) / self.k))
            idx = rng.permutation(g)
            if len(idx) < reps * self.k:
                idx = np.r_[idx, rng.choice(g, reps * self.k - len(idx))]
            chunks += [idx[j * self.k : (j + 1) * self.k] for j in range(reps)]
        order = rng.permutation(len(chunks))
        flat = np.resize(np.concatenate([chunks[j] for j in order]), self.n)  # cut or wrap to n
        seeds = rng.integers(0, 2**63 - 1, size=len(flat))
        return iter(zip(flat.tolist(), seeds.tolist(), strict=True))


# torch re-raises a worker's exception as the same type with the worker's whole traceback as
# its message; the original one-line message is the traceback's last line.
_WORKER_LAST_LINE = re.compile(r"^(?:[\w.]+\.)?DatasetError: (?P<msg>.+)$")


def worker_message(exc: Exception) -> str:
    """The one-line message of a DatasetError raised in a DataLoader worker (or ``exc``'s own)."""
    text = str(exc)
    if "Original Traceback" not in text:
        return text
    for line in reversed(text.strip().splitlines()):
        m = _WORKER_LAST_LINE.match(line.strip())
        if m:
            return m["msg"]
    return text.strip().splitlines()[-1]


class Loader:
    """A DataLoader whose dataset errors (an unreadable image) surface as one line naming the file,
    with loader workers as without; everything else is the DataLoader's."""

    def __init__(self, loader: torch.utils.data.DataLoader):
        self.loader = loader

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def __iter__(self):
        it = iter(self.loader)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except DatasetError as exc:
                raise DatasetError(worker_message(exc)) from None
            yield batch


def make_loader(
    ds: ReidImages | MemoryImages,
    batch_size: int,
    workers: int,
    sampler=None,
    drop_last=False,
    pin_memory=False,
) -> Loader:
    return Loader(
        torch.utils.data.DataLoader(
            ds,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=workers,
            drop_last=drop_last,
            pin_memory=pin_memory,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )
    )


def normalize(batch: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 ImageNet-normalised on ``device``."""
    return standardize(to_float(batch, device), channels_last)


def to_float(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 in [0, 1] on ``device``."""
    return batch.to(device, non_blocking=True).float().div_(255.0)


def standardize(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """float32 images in [0, 1] -> ImageNet-normalised (same device)."""
    device = x.device
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
