"""Batched training augmentation on tensors (the fast recipe): random-sized crop + flip, colour
jitter and random erasing for a whole batch in a few vectorised ops, on the training device.

Why: decoding and cropping each image with PIL in loader processes costs more CPU than a compact
network's training step; with images pre-decoded in memory (``data.MemoryImages``) the whole
augmentation of a batch is a handful of tensor ops. Every parameter is drawn from an explicit
``torch.Generator`` seeded by (run seed, epoch, batch index): see :func:`batch_generator`.

Images are float (N, 3, H, W) in [0, 1] (crop, flip, jitter) or ImageNet-normalised (erasing
fills with 0, the dataset mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import roi_align

from synthreid.errors import SynthreidError


@dataclass(frozen=True)
class Augment:
    """What to apply. ``crop``: random-sized crop of ``crop_area`` (fraction of the image) and
    aspect ``crop_aspect`` (relative to the image's own height/width), resized back, plus a
    horizontal flip with probability 0.5; ``color_jitter``: strength s in [0, 1), brightness,
    contrast and saturation factors uniform in [1 - s, 1 + s]; ``erasing``: probability that one
    rectangle of ``erase_area`` fraction and aspect ``erase_aspect`` (h/w) is filled with the mean."""

    crop: bool = False
    crop_area: tuple[float, float] = (0.64, 1.0)
    crop_aspect: tuple[float, float] = (0.8, 1.25)
    color_jitter: float = 0.0
    erasing: float = 0.0
    erase_area: tuple[float, float] = (0.02, 0.4)
    erase_aspect: tuple[float, float] = (0.3, 3.3)

    def __post_init__(self):
        checks = [
            ("color_jitter", 0 <= self.color_jitter < 1),
            ("erasing", 0 <= self.erasing <= 1),
            ("crop_area", 0 < self.crop_area[0] <= self.crop_area[1] <= 1),
            ("crop_aspect", 0 < self.crop_aspect[0] <= self.crop_aspect[1]),
            ("erase_area", 0 < self.erase_area[0] <= self.erase_area[1] < 1),
            ("erase_aspect", 0 < self.erase_aspect[0] <= self.erase_aspect[1]),
        ]
        for name, ok in checks:
            if not ok:
                raise SynthreidError(f"augment: invalid {name}={getattr(self, name)!r}")

    @property
    def pixel_ops(self) -> bool:
        """Anything to do before normalisation (crop, flip, jitter)."""
        return self.crop or self.color_jitter > 0


def batch_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    """CPU generator for batch ``step`` of ``epoch``: the same draws whatever the device or workers."""
    state = np.random.SeedSequence([seed, epoch, step, 0xA6]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def crop_flip(x: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    """Random-sized crop resized back to (H, W) (bilinear, roi_align) and a 50 % horizontal flip.

    Crop sides are clamped to the image, so large areas with extreme aspects become
    full-height or full-width strips instead of being redrawn. One bilinear sample per output
    pixel: a crop is never larger than the image, so resizing it back only enlarges.
    """
    n, _, h, w = x.shape
    area = _uniform(n, *aug.crop_area, g) * h * w
    # np.exp of a tensor is that tensor (torch's __array_wrap__); as_tensor only tells the type checker
    ratio = torch.as_tensor(
        np.exp(_uniform(n, np.log(aug.crop_aspect[0]), np.log(aug.crop_aspect[1]), g))
    ) * (h / w)
    ch = torch.sqrt(area * ratio).clamp(1, h)
    cw = torch.sqrt(area / ratio).clamp(1, w)
    y1 = torch.rand(n, generator=g, dtype=torch.float64) * (h - ch)
    x1 = torch.rand(n, generator=g, dtype=torch.float64) * (w - cw)
    flip = torch.rand(n, generator=g) < 0.5
    boxes = torch.stack([torch.arange(n, dtype=torch.float64), x1, y1, x1 + cw, y1 + ch], 1)
    out = roi_align(x, boxes.to(x.device, x.dtype), (h, w), spatial_scale=1.0, sampling_ratio=1, aligned=True)
    flip = flip.to(x.device)
    return torch.where(flip.view(n, 1, 1, 1), out.flip(-1), out)


def color_jitter(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """Per-image brightness, contrast and saturation factors in [1 - s, 1 + s]; result in [0, 1]."""
    n = x.shape[0]
    b, c, s = (
        _uniform(n, 1 - strength, 1 + strength, g).to(x.device, x.dtype).view(n, 1, 1, 1) for _ in range(3)
    )
    x = x * b
    gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = (x - gray.mean((2, 3), keepdim=True)) * c + gray.mean((2, 3), keepdim=True)
    gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    return ((x - gray) * s + gray).clamp_(0, 1)


def random_erasing(x: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    """With probability ``aug.erasing`` per image, one random rectangle set to 0 (the mean once
    normalised); Zhong et al. 2020, rectangles clamped to the image."""
    n, _, h, w = x.shape
    area = _uniform(n, *aug.erase_area, g) * h * w
    ratio = torch.as_tensor(np.exp(_uniform(n, np.log(aug.erase_aspect[0]), np.log(aug.erase_aspect[1]), g)))
    eh = torch.sqrt(area * ratio).round().clamp(1, h)
    ew = torch.sqrt(area / ratio).round().clamp(1, w)
    y1 = (torch.rand(n, generator=g, dtype=torch.float64) * (h - eh + 1)).floor()
    x1 = (torch.rand(n, generator=g, dtype=torch.float64) * (w - ew + 1)).floor()
    on = torch.rand(n, generator=g) < aug.erasing
    dev = x.device
    yy = torch.arange(h, device=dev).view(1, h, 1)
    xx = torch.arange(w, device=dev).view(1, 1, w)
    y1, x1, eh, ew = (t.to(dev).view(n, 1, 1) for t in (y1, x1, eh, ew))
    mask = (yy >= y1) & (yy < y1 + eh) & (xx >= x1) & (xx < x1 + ew) & on.to(dev).view(n, 1, 1)
    return x.masked_fill(mask.unsqueeze(1), 0.0)


def pixels(x: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    """Crop/flip and colour jitter of float images in [0, 1] (before normalisation)."""
    if aug.crop:
        x = crop_flip(x, aug, g)
    if aug.color_jitter > 0:
        x = color_jitter(x, aug.color_jitter, g)
    return x


def normalised(x: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    """Random erasing of ImageNet-normalised images."""
    return random_erasing(x, aug, g) if aug.erasing > 0 else x
