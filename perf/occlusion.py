"""Occlusion speed (ms per 64x128 crop, per kind) and a contact sheet of examples.

Times ``render.occlusion.occlude`` on synthetic 64x128 crops (procedural figures drawn here:
no render, no real data), every kind and many image names, and reports wall-clock and process
CPU time per crop; on a shared machine CPU time is the robust figure. The goal of the
occlusion item of issue 11 is <= 2 ms per crop. ``--sheet PNG`` also writes a contact sheet:
one row per kind, each example as the occluded crop, its visible mask, and the crop after
the ``surveillance`` camera model.

Usage: python perf/occlusion.py [--crops N] [--sheet docs/img/occlusion.png]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image, ImageDraw

from synthreid.render.camera_model import CameraModelSpec, crop_mask, degrade
from synthreid.render.occlusion import KINDS, Donor, OcclusionSpec, occlude

W, H = 64, 128


def figure(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A standing figure (head, torso, arms, legs in random clothing colours) on a smooth
    pavement-and-wall background; (image, mask)."""
    wall, ground = rng.integers(70, 190, 3), rng.integers(60, 150, 3)
    yy = np.linspace(0, 1, H)[:, None, None]
    bg = np.where(yy < 0.62, wall, ground) * (0.9 + 0.2 * yy)
    img = Image.fromarray(np.clip(np.broadcast_to(bg, (H, W, 3)), 0, 255).astype(np.uint8))
    mask = Image.new("L", (W, H), 0)
    skin = tuple(int(v) for v in rng.choice([(235, 200, 170), (200, 150, 110), (140, 95, 65)]))
    top, legs = (tuple(int(v) for v in rng.integers(20, 230, 3)) for _ in range(2))
    cx = W // 2 + int(rng.integers(-4, 5))
    parts = [
        ("ellipse", (cx - 6, 8, cx + 6, 24), skin),  # head
        ("rectangle", (cx - 11, 25, cx + 11, 68), top),  # torso
        ("rectangle", (cx - 16, 27, cx - 11, 66), top),  # arms
        ("rectangle", (cx + 11, 27, cx + 16, 66), top),
        ("rectangle", (cx - 10, 68, cx - 1, 118), legs),  # legs
        ("rectangle", (cx + 1, 68, cx + 10, 118), legs),
        ("rectangle", (cx - 11, 118, cx - 1, 122), (30, 30, 30)),  # shoes
        ("rectangle", (cx + 1, 118, cx + 11, 122), (30, 30, 30)),
    ]
    di, dm = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    for shape, box, colour in parts:
        getattr(di, shape)(box, fill=colour)
        getattr(dm, shape)(box, fill=255)
    return np.asarray(img).copy(), np.asarray(mask).copy()


def _time(fn, n: int) -> tuple[float, float]:
    fn(0)  # warm-up (imports, caches)
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - w0) / n * 1e3, (time.process_time() - c0) / n * 1e3


def sheet(path: str, per_kind: int = 4) -> None:
    rng = np.random.default_rng(7)
    camera = CameraModelSpec.preset("surveillance")
    rows = []
    for r, kind in enumerate(KINDS):
        spec = OcclusionSpec(rate=1.0, kinds={kind: 1.0})
        tiles = []
        for i in range(per_kind):
            img, mask = figure(rng)
            donor = Donor(*figure(rng), "donor")
            stem = f"{r:05d}_c{1 + i % 3}_{i:04d}"
            o = occlude(img, mask, None, spec, 0, 1 + i % 3, stem, donor)
            d = degrade(o.image, mask, None, camera, 0, 1 + i % 3, stem)
            seen = crop_mask(o.mask, d.params.box, d.params.out_size)
            tiles += [o.image, np.repeat(o.mask[..., None], 3, 2), d.image, np.repeat(seen[..., None], 3, 2)]
            tiles.append(np.full((H, 4, 3), 255, np.uint8))  # a gap between examples
        row = np.concatenate(tiles[:-1], 1)
        rows += [row, np.full((4, row.shape[1], 3), 255, np.uint8)]
    Image.fromarray(np.concatenate(rows[:-1], 0)).save(path, optimize=True)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=300)
    ap.add_argument("--sheet", metavar="PNG", help="also write a contact sheet of examples")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    crops = [figure(rng) for _ in range(16)]
    donors = [Donor(*figure(rng), "d") for _ in range(16)]
    stems = [f"{i:05d}_c{1 + i % 6}_0000" for i in range(args.crops)]
    print(f"occlude, {W}x{H} crops, {args.crops} per kind (ms per crop: wall / CPU)")
    for kind in (*KINDS, "all (default shares)"):
        spec = OcclusionSpec(rate=1.0, kinds={kind: 1.0}) if kind in KINDS else OcclusionSpec(rate=1.0)

        def one(i, spec=spec):
            img, mask = crops[i % 16]
            occlude(img, mask, None, spec, 0, 1 + i % 6, stems[i], donors[(i + 1) % 16])

        wall, cpu = _time(one, args.crops)
        print(f"  {kind:22s} {wall:6.2f} / {cpu:5.2f}")
    if args.sheet:
        sheet(args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
