"""Tiny Market-1501 folders and study files made in tmp_path (no real data)."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = (32, 16)  # (height, width) of every fixture crop


def person(pid: int, rng: np.random.Generator) -> Image.Image:
    """A crop whose top and bottom colours depend on ``pid``, on a random background."""
    h, w = SIZE
    img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(40, 215, 3)))
    d = ImageDraw.Draw(img)
    top = tuple(int(255 * c) for c in colorsys.hsv_to_rgb((pid * 0.37) % 1.0, 0.9, 0.95))
    bottom = tuple(int(255 * c) for c in colorsys.hsv_to_rgb((pid * 0.61 + 0.5) % 1.0, 0.8, 0.6))
    dx = int(rng.integers(-1, 2))
    d.rectangle((3 + dx, 4, 12 + dx, 16), fill=top)
    d.rectangle((4 + dx, 16, 11 + dx, 31), fill=bottom)
    return img


def make_market(root: Path, train_ids=range(1, 11), test_ids=range(20, 26), per_cam=2, seed=0) -> Path:
    """Market-1501 layout: train ids x 2 cameras x per_cam images; test ids with one query per
    camera-1 image and the rest in the gallery."""
    rng = np.random.default_rng(seed)
    n = 0

    def save(folder, pid, cam):
        nonlocal n
        n += 1
        p = root / folder / f"{pid:04d}_c{cam}s1_{n:06d}_00.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        person(pid, rng).save(p, quality=95)

    for pid in train_ids:
        for cam in (1, 2):
            for _ in range(per_cam):
                save("bounding_box_train", pid, cam)
    for pid in test_ids:
        save("query", pid, 1)
        for cam in (1, 2, 2):
            save("bounding_box_test", pid, cam)
    return root


# Two dataset arms over the fixture folders a/ and b/ (most study tests start from these).
ARMS = """
[[arms]]
name = "A"
kind = "dataset"
path = "a"

[[arms]]
name = "B"
kind = "dataset"
path = "b"
"""

RECIPE = """
[recipe]
arch = "tiny"
epochs = 1
batch_size = 8
lr = 0.05
workers = 0
device = "cpu"
threads = 1
val_ids = 2
"""


def study_text(arms: str, tests: str, seeds="[0]", extra: str = "") -> str:
    return f'name = "toy"\nseeds = {seeds}\n{extra}\n{RECIPE}\n{arms}\n{tests}\n'


def write_study(folder: Path, text: str, name="study.toml") -> Path:
    p = folder / name
    p.write_text(text)
    return p
