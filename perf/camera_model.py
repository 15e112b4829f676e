"""Camera-model speed: milliseconds per 64x128 crop, whole chain and per stage.

Times ``degrade`` (box jitter + tone + blur + downscale + noise + JPEG + upscale, mask and
joints included) on synthetic 64x128 crops with the surveillance preset, over many image
names (so every camera and parameter path is exercised), and each stage alone. Reports
wall-clock and process CPU time per crop: on a shared machine CPU time is the robust figure.
The goal of issue 11 is <= 5 ms per crop.

Usage: python perf/camera_model.py [--crops N] [--size WxH]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from synthreid.render import camera_model as cm


def _time(fn, n: int) -> tuple[float, float]:
    fn(0)  # warm-up (imports, caches)
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - w0) / n * 1e3, (time.process_time() - c0) / n * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=500)
    ap.add_argument("--size", default="64x128", help="WIDTHxHEIGHT")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 10 : h - h // 16, w // 4 : w - w // 4] = 255
    joints = {f"j{k}": [float(w / 2), float(h * k / 20)] for k in range(1, 20)}
    spec = cm.CameraModelSpec.preset("surveillance")
    stems = [f"{i:05d}_c{1 + i % 6}_0000" for i in range(args.crops)]

    def whole(i):
        cm.degrade(img, mask, joints, spec, 0, 1 + i % 6, stems[i])

    p = cm.image_params(spec, 0, 1, stems[0], (w, h), mask)
    p = cm.ImageParams(**{**p.__dict__, "blur_sigma": 0.8, "motion_blur_px": 2.0, "person_height_px": 60.0})
    x = cm.apply_tone(img, p)
    stages = {
        "params": lambda i: cm.image_params(spec, 0, 1 + i % 6, stems[i], (w, h), mask),
        "box (image+mask+joints)": lambda i: (
            cm.crop_image(img, p.box, (w, h)),
            cm.crop_mask(mask, p.box, (w, h)),
            cm.transform_joints(joints, p.box, (w, h)),
        ),
        "tone": lambda i: cm.apply_tone(img, p),
        "blur (0.8 px + 2 px motion)": lambda i: cm.apply_blur(x, p.blur_sigma, p.motion_blur_px, 30.0),
        "pixels chain (to 60 px)": lambda i: cm.degrade_pixels(img, p, float(h), 0, stems[i]),
        "jpeg round trip": lambda i: cm.jpeg_roundtrip(img, 60),
    }
    ms, cpu = _time(whole, args.crops)
    print(f"camera model, {w}x{h} crops, preset surveillance, {args.crops} crops")
    print(
        f"  whole chain: {ms:.2f} ms/crop wall, {cpu:.2f} ms/crop CPU (goal <= 5 ms; ratio {cpu / 5.0:.2f})"
    )
    for name, fn in stages.items():
        s_ms, s_cpu = _time(fn, max(50, args.crops // 2))
        print(f"  {name:28s} {s_ms:6.2f} ms wall  {s_cpu:6.2f} ms CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
