"""Tiny on-disk fixtures in each dataset format's real naming rules (no downloads)."""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synthreid.dataset import image_stem, write_manifest


def person_image(pid: int, rng: np.random.Generator, size=(64, 32)) -> Image.Image:
    """A cartoon 'person' whose colours and shape depend on ``pid``; pose/background jitter per image."""
    h, w = size
    bg = tuple(int(v) for v in rng.integers(60, 200, 3))
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    top = tuple(int(255 * c) for c in colorsys.hsv_to_rgb((pid * 0.37) % 1.0, 0.9, 0.95))
    bottom = tuple(
        int(255 * c) for c in colorsys.hsv_to_rgb((pid * 0.61 + 0.5) % 1.0, 0.8, 0.5 + 0.4 * (pid % 2))
    )
    dx, dy = int(rng.integers(-2, 3)), int(rng.integers(-2, 3))
    d.ellipse((w * 0.35 + dx, h * 0.02 + dy, w * 0.65 + dx, h * 0.2 + dy), fill=(230, 190, 160))
    if pid % 3 == 0:
        d.rectangle((w * 0.2 + dx, h * 0.2 + dy, w * 0.8 + dx, h * 0.55 + dy), fill=top)
    elif pid % 3 == 1:
        d.ellipse((w * 0.15 + dx, h * 0.2 + dy, w * 0.85 + dx, h * 0.58 + dy), fill=top)
    else:
        d.polygon(
            [(w * 0.5 + dx, h * 0.2 + dy), (w * 0.9 + dx, h * 0.58 + dy), (w * 0.1 + dx, h * 0.58 + dy)],
            fill=top,
        )
    d.rectangle((w * 0.3 + dx, h * 0.55 + dy, w * 0.7 + dx, h * 0.97 + dy), fill=bottom)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-12, 13, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_synth_dataset(
    root: Path, n_ids=20, per_id=8, n_cams=2, size=(64, 32), seed=0, splits: dict | None = None
) -> Path:
    """A synthreid dataset folder; default splits use every identity for train, val and test."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    for pid in range(n_ids):
        for idx in range(per_id):
            cam = 1 + idx % n_cams
            person_image(pid, rng, size).save(root / "images" / f"{image_stem(pid, cam, idx)}.png")
    ids = list(range(n_ids))
    splits = splits or {"train": ids, "val": ids, "test": ids}
    write_manifest(
        root,
        {
            "name": root.name,
            "seed": seed,
            "splits": splits,
            "counts": {"characters": n_ids, "images": n_ids * per_id},
        },
    )
    return root


def _save(path: Path, pid: int, rng, size=(64, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    person_image(max(pid, 0), rng, size).save(path)


def make_market(root: Path, seed=0) -> dict:
    """Market-1501 folders: 6 train ids, 3 test ids over 2 cameras, junk (-1), distractors (0000)
    and a Thumbs.db. Returns the expected counts."""
    rng = np.random.default_rng(seed)
    for pid in range(1, 7):
        for cam in (1, 2):
            for k in range(2):
                _save(
                    root / "bounding_box_train" / f"{pid:04d}_c{cam}s1_{100 * k + pid:06d}_0{k}.jpg", pid, rng
                )
    for pid in (10, 11, 12):
        _save(root / "query" / f"{pid:04d}_c1s2_{pid:06d}_00.jpg", pid, rng)
        for cam in (1, 2, 2):
            _save(
                root / "bounding_box_test" / f"{pid:04d}_c{cam}s3_{int(rng.integers(1e5)):06d}_01.jpg",
                pid,
                rng,
            )
    _save(root / "bounding_box_test" / "0000_c1s1_000001_00.jpg", 0, rng)
    _save(root / "bounding_box_test" / "0000_c2s1_000002_00.jpg", 0, rng)
    _save(root / "bounding_box_test" / "-1_c1s1_000003_00.jpg", 0, rng)
    _save(root / "bounding_box_train" / "-1_c2s1_000004_00.jpg", 0, rng)
    (root / "bounding_box_test" / "Thumbs.db").write_bytes(b"\0" * 16)
    return {"train": 24, "query": 3, "gallery": 11, "train_ids": 6}


def make_cuhk03np(root: Path, variant="labeled", seed=0) -> None:
    """CUHK03-NP: ``variant/bounding_box_train|bounding_box_test|query`` with PPPP_cC_N.png."""
    rng = np.random.default_rng(seed)
    sub = root / variant
    for pid in range(1, 6):
        for cam in (1, 2):
            _save(sub / "bounding_box_train" / f"{pid:04d}_c{cam}_{cam}.png", pid, rng)
    for pid in (20, 21, 22):
        _save(sub / "query" / f"{pid:04d}_c1_1.png", pid, rng)
        _save(sub / "query" / f"{pid:04d}_c2_6.png", pid, rng)
        for n in (2, 3):
            _save(sub / "bounding_box_test" / f"{pid:04d}_c1_{n}.png", pid, rng)
            _save(sub / "bounding_box_test" / f"{pid:04d}_c2_{n + 5}.png", pid, rng)


def make_openreid(root: Path, n_ids=6, n_splits=2, seed=0) -> None:
    """Open-ReID layout as shipped for CUHK03: 2 cameras, several splits of test identities."""
    rng = np.random.default_rng(seed)
    identities = []
    for pid in range(n_ids):
        cams = []
        for cam in range(2):
            names = [f"{pid:08d}_{cam:02d}_{k:04d}.jpg" for k in range(2)]
            for n in names:
                _save(root / "images" / n, pid, rng)
            cams.append(names)
        identities.append(cams)
    (root / "meta.json").write_text(
        json.dumps({"name": "cuhk03", "shot": "multiple", "num_cameras": 2, "identities": identities})
    )
    splits = []
    for s in range(n_splits):
        test = sorted(np.random.default_rng(s).permutation(n_ids)[:2].tolist())
        splits.append(
            {"trainval": [p for p in range(n_ids) if p not in test], "query": test, "gallery": test}
        )
    (root / "splits.json").write_text(json.dumps(splits))


def small_cfg(ds, *, epochs=1, draws=2, threads=2, **kw):
    """A TrainConfig of the tiny network on fixture dataset ``ds`` (train and val), seconds to run."""
    from synthreid.benchmark.engine import TrainConfig

    base = dict(
        train=[str(ds)],
        val=str(ds),
        arch="tiny",
        height=64,
        width=32,
        epochs=epochs,
        batch_size=16,
        lr=0.05,
        dropout=0.0,
        workers=0,
        draws=draws,
        threads=threads,
    )
    base.update(kw)
    return TrainConfig(**base)
