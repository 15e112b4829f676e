"""Unpaired training data: rendered source crops (with masks) and target-camera images.

Every crop is resized to ``size * load_scale`` (aspect not kept: person crops are already
close to 1:2 and the generator is fully convolutional), randomly cropped back to ``size``
and randomly flipped, the same geometry applied to the image and its mask. Sample ``k`` of
a run is a pure function of (seed, k), so a resumed run sees exactly the batches that the
uninterrupted run would have seen, whatever the number of loader workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
from PIL import Image

from synthreid.dataset import Dataset
from synthreid.errors import DatasetError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable image ({exc})") from exc


def load_mask(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("L")
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable mask ({exc})") from exc


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> (3, H, W) float32 in [-1, 1]."""
    arr = np.asarray(img, dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).div(127.5).sub(1.0)


def mask_to_tensor(mask: Image.Image) -> torch.Tensor:
    """PIL L -> (1, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None]


def to_image(t: torch.Tensor) -> Image.Image:
    """(3, H, W) in [-1, 1] -> PIL RGB (rounded to 8 bits)."""
    arr = ((t.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def source_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths of every image of a dataset in our layout; masks are required."""
    ds = Dataset(root)
    recs = ds.records(require_mask=True)
    if not recs:
        raise DatasetError(f"{ds.root}/images: no images in the source dataset")
    return [(ds.root / r.image, ds.root / cast(str, r.mask)) for r in recs]  # require_mask: never None


def target_pairs(folder: str | Path, mask_folder: str | Path | None = None) -> list[tuple[Path, Path | None]]:
    """(image, mask or None) of every image in a target folder (sorted, not recursive).

    With ``mask_folder`` every image needs a mask ``<mask_folder>/<stem>.png``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: target folder does not exist")
    images = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")
    )
    if not images:
        raise DatasetError(f"{folder}: no target images (expected {', '.join(IMAGE_EXTS)} files)")
    if mask_folder is None:
        return [(p, None) for p in images]
    mask_folder = Path(mask_folder)
    if not mask_folder.is_dir():
        raise DatasetError(f"{mask_folder}: target mask folder does not exist")
    out: list[tuple[Path, Path | None]] = []
    for p in images:
        m = mask_folder / (p.stem + ".png")
        if not m.is_file():
            raise DatasetError(f"{m}: missing mask for target image {p.name}")
        out.append((p, m))
    return out


def augment(
    img: Image.Image,
    mask: Image.Image | None,
    size: tuple[int, int],
    load_scale: float,
    flip: bool,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize to size*load_scale, random crop to ``size`` (H, W), random horizontal flip.

    Returns ((3, H, W) image in [-1, 1], (1, H, W) mask in [0, 1]; zeros when ``mask`` is None).
    """
    h, w = size
    lh, lw = max(h, round(h * load_scale)), max(w, round(w * load_scale))
    img = img.resize((lw, lh), Image.Resampling.BICUBIC)
    mask = mask.resize((lw, lh), Image.Resampling.BILINEAR) if mask is not None else None
    top, left = int(rng.integers(lh - h + 1)), int(rng.integers(lw - w + 1))
    box = (left, top, left + w, top + h)
    img = img.crop(box)
    mask = mask.crop(box) if mask is not None else None
    if flip and rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mask is not None else None
    mt = mask_to_tensor(mask) if mask is not None else torch.zeros(1, h, w)
    return to_tensor(img), mt


class UnpairedSamples(torch.utils.data.Dataset):
    """Item k = dict(a, mask_a, b, mask_b): a random source and a random target sample.

    Indices and augmentations come from ``np.random.default_rng([seed, k])``.
    """

    def __init__(
        self,
        source: list,
        target: list,
        size: tuple[int, int],
        n: int,
        seed: int = 0,
        load_scale: float = 1.125,
        flip: bool = True,
    ):
        self.source, self.target, self.n = source, target, int(n)
        self.size = (int(size[0]), int(size[1]))
        self.seed, self.load_scale, self.flip = int(seed), float(load_scale), bool(flip)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> dict:
        rng = np.random.default_rng([self.seed, int(k)])
        ia, ib = int(rng.integers(len(self.source))), int(rng.integers(len(self.target)))
        a_path, am_path = self.source[ia]
        b_path, bm_path = self.target[ib]
        a, ma = augment(load_rgb(a_path), load_mask(am_path), self.size, self.load_scale, self.flip, rng)
        b, mb = augment(
            load_rgb(b_path),
            load_mask(bm_path) if bm_path is not None else None,
            self.size,
            self.load_scale,
            self.flip,
            rng,
        )
        return {"a": a, "mask_a": ma, "b": b, "mask_b": mb}


def fixed_batch(pairs: list, size: tuple[int, int], n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` items (spread evenly over ``pairs``) resized to ``size``, no augmentation."""
    idx = np.linspace(0, len(pairs) - 1, num=min(n, len(pairs))).round().astype(int)
    imgs, masks = [], []
    for i in idx:
        p, m = pairs[i]
        img, mask = augment(
            load_rgb(p), load_mask(m) if m is not None else None, size, 1.0, False, np.random.default_rng(0)
        )
        imgs.append(img)
        masks.append(mask)
    return torch.stack(imgs), torch.stack(masks)
