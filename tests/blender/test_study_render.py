"""`synthreid study` with a render arm: real renders through render_dataset, cached, resumed per image."""

import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.blender, pytest.mark.torch, pytest.mark.slow]

SPEC = """
name = "tiny"
seed = 3
[camera]
resolution = [480, 270]
distance = [7.0, 8.0]
polar = [60.0, 88.0]
[render]
samples = 2
denoise = false
max_bounces = 2
"""

STUDY = """
name = "render-arm"
seeds = [0]
[recipe]
arch = "tiny"
epochs = 1
batch_size = 8
workers = 0
device = "cpu"
[baselines]
untrained = false
handcrafted = false
real_anchor = false
[[arms]]
name = "tiny"
kind = "render"
spec = "tiny.toml"
identities = 6
images = 3
val_identities = 2
size = [32, 64]
workers = 1
[[test_sets]]
name = "toy"
path = "toy"
"""


def _market(root, seed=0):
    rng = np.random.default_rng(seed)
    n = 0
    for folder, pid, cam in (
        [("query", p, 1) for p in range(1, 5)]
        + [("bounding_box_test", p, c) for p in range(1, 5) for c in (1, 2, 2)]
        + [("bounding_box_train", p, c) for p in (7, 8) for c in (1, 2)]
    ):
        n += 1
        (root / folder).mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 255, (64, 32, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / folder / f"{pid:04d}_c{cam}s1_{n:06d}_00.jpg")


def _study(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthreid.cli",
            "study",
            str(tmp_path / "study.toml"),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(re.search(r"executed (\d+) of (\d+) steps", proc.stderr)[1]), out


def test_render_arm_cached_and_resumed_per_image(tmp_path):
    (tmp_path / "tiny.toml").write_text(SPEC)
    (tmp_path / "study.toml").write_text(STUDY)
    _market(tmp_path / "toy")
    executed, out = _study(tmp_path)
    assert executed == 4  # chance, render, train, evaluate
    (render,) = (out / "cache" / "render").iterdir()
    images = sorted((render / "dataset" / "images").glob("*.png"))
    assert len(images) == 18
    assert _study(tmp_path)[0] == 0
    # a render that stopped one image short: not done, and only that image renders again
    (render / "done.json").unlink()
    images[4].unlink()
    executed, _ = _study(tmp_path)
    assert executed == 1
    assert len(list((render / "dataset" / "images").glob("*.png"))) == 18
    assert '"rendered": 1,' in (render / "done.json").read_text()
