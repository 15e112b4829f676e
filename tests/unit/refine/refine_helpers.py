"""Helpers of the refine tests: tiny datasets in the real on-disk formats (PNG crops + masks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from synthreid.dataset import compute_splits, image_stem, write_labels, write_manifest

# Reddish renders: the red-blue swap of colour_shift then gives a bluish target domain, a
# mapping that unpaired data identifies (a swap of uniformly distributed channels would not be).
LOW, HIGH = np.array([150.0, 40.0, 20.0]), np.array([235.0, 200.0, 90.0])


def toy_image(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image of a coloured 'person' rectangle on a smooth background, and its mask."""
    yy = np.mgrid[0:h, 0:w][0] / max(h, w)
    base = rng.uniform(LOW, HIGH)
    bg = base + 15 * np.sin(6 * yy + rng.uniform(0, 6))[..., None]
    top, left = rng.integers(h // 8, h // 4), rng.integers(w // 8, w // 4)
    bottom, right = h - rng.integers(h // 8, h // 4), w - rng.integers(w // 8, w // 4)
    mask = np.zeros((h, w), np.uint8)
    mask[top:bottom, left:right] = 255
    img = bg.copy()
    img[mask > 0] = rng.uniform(LOW, HIGH)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def colour_shift(img: np.ndarray) -> np.ndarray:
    """The known A -> B mapping of the toy domain pair: swap the red and blue channels."""
    return np.ascontiguousarray(img[..., ::-1])


def make_source(
    root: Path, n_ids: int = 4, per_id: int = 2, size=(40, 20), seed: int = 0, vary: bool = True
) -> Path:
    """A rendered dataset in the canonical layout: images/, masks/, labels.jsonl, meta/, manifest."""
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(n_ids):
        for idx in range(per_id):
            h, w = size
            if vary:  # crops vary in size like real renders
                h, w = h + int(rng.integers(0, 8)), w + int(rng.integers(0, 4))
            img, mask = toy_image(rng, h, w)
            stem = image_stem(pid, 1 + idx % 2, idx)
            (root / "images").mkdir(parents=True, exist_ok=True)
            (root / "masks").mkdir(parents=True, exist_ok=True)
            (root / "meta").mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / "images" / f"{stem}.png")
            Image.fromarray(mask).save(root / "masks" / f"{stem}.png")
            row = {
                "image": f"images/{stem}.png",
                "pid": pid,
                "camid": 1 + idx % 2,
                "index": idx,
                "bbox": [0, 0, w, h],
            }
            (root / "meta" / f"{stem}.json").write_text(json.dumps(row))
            rows.append(row)
    write_labels(root, rows)
    write_manifest(
        root,
        {
            "name": root.name,
            "kind": "rendered",
            "seed": seed,
            "counts": {"characters": n_ids, "images": len(rows)},
            "splits": compute_splits(n_ids, seed),
            "software": {"synthreid": "test"},
        },
    )
    return root


def make_target(
    root: Path, n: int = 6, size=(40, 20), seed: int = 1, masks: bool = False, mapping=colour_shift
) -> tuple[Path, Path | None]:
    """A folder of target-domain PNGs (the source distribution passed through ``mapping``)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    mroot = root.parent / (root.name + "_masks") if masks else None
    if mroot:
        mroot.mkdir(exist_ok=True)
    for i in range(n):
        img, mask = toy_image(rng, *size)
        Image.fromarray(mapping(img)).save(root / f"cam_{i:03d}.png")
        if mroot:
            Image.fromarray(mask).save(mroot / f"cam_{i:03d}.png")
    return root, mroot


def tiny_config(src, tgt, tmask=None, **kw):
    from synthreid.refine.config import RefinerConfig

    base = dict(
        source=str(src),
        target=str(tgt),
        target_masks=str(tmask) if tmask else None,
        size=(32, 16),
        generator="resnet_6blocks",
        ngf=4,
        ndf=4,
        n_layers_d=2,
        iters=6,
        batch_size=2,
        checkpoint_every=3,
        sample_every=3,
        log_every=1,
        pool_size=4,
    )
    base.update(kw)
    return RefinerConfig(**base)
