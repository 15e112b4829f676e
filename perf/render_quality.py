"""Render quality guard (issue 13): a faster render setting must keep today's quality.

Renders the same plans (same spec and seed, so the same people, poses, cameras and lights) three
times, in one run:
  today      the current settings (preset IV at 64x128: 16 spp, OIDN denoiser, 4 bounces)
  candidate  today's settings with --candidate overrides of the [render] table
  reference  --reference-samples spp (default 512) without denoiser
and prints, for today and candidate against the reference, PSNR and SSIM on the person mask
(``synthreid.render.quality``) and the render time per image. The guard passes when the
candidate is at most 0.5 dB PSNR and 0.005 SSIM below today; the exit status is 1 otherwise.

Usage: .venv/bin/python perf/render_quality.py [--images 16] [--size 64x128]
           [--candidate samples=8,max_bounces=3] [--reference-samples 512] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthreid.render.quality import compare_datasets, summarize  # noqa: E402
from synthreid.render.spec import DatasetSpec  # noqa: E402
from synthreid.workers.embedded import render_dataset  # noqa: E402

PSNR_MARGIN_DB = 0.5
SSIM_MARGIN = 0.005


def parse_overrides(text: str) -> dict:
    """``key=value,key=value`` -> {key: JSON value (bare words stay strings)}."""
    out: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise SystemExit(f"--candidate: expected key=value pairs, got {part!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def today_spec(preset: str, images: int, size: str) -> DatasetSpec:
    w, h = (int(v) for v in size.lower().split("x"))
    return DatasetSpec.preset(preset).replace(
        name="quality",
        characters=max(1, images // 2),
        images_per_character=2 if images > 1 else 1,
        output={"size": [w, h], "format": "png"},
    )


def with_render(spec: DatasetSpec, **render) -> DatasetSpec:
    return spec.replace(render={**json.loads(spec.to_json())["render"], **render})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="IV")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--size", default="64x128")
    ap.add_argument("--candidate", default="", help="overrides of the [render] table, e.g. samples=8")
    ap.add_argument("--reference-samples", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", help="keep the three renders here (default: a temporary folder)")
    args = ap.parse_args(argv)

    today = today_spec(args.preset, args.images, args.size)
    arms = {
        "today": today,
        "candidate": with_render(today, **parse_overrides(args.candidate)),
        "reference": with_render(today, samples=args.reference_samples, denoise=False),
    }
    with tempfile.TemporaryDirectory(prefix="synthreid-quality-") as tmp:
        base = Path(args.out) if args.out else Path(tmp)
        seconds = {}
        # The candidate's folder is named by its overrides, so one --out keeps today's and the
        # reference renders for the next candidate (a finished render is skipped, not redone).
        folders = {name: base / name for name in arms}
        reused: set[str] = set()
        folders["candidate"] = base / (
            "candidate-" + hashlib.sha256(args.candidate.encode()).hexdigest()[:10]
        )
        for name, spec in arms.items():
            t0 = time.perf_counter()
            report = render_dataset(spec, folders[name], workers=args.workers, progress=False)
            if report.skipped and not report.rendered:
                reused.add(name)
                print(
                    f"# {name}: reused the finished render in {folders[name]} (its time is not re-measured)"
                )
            seconds[name] = (
                (time.perf_counter() - t0) * args.workers / (spec.characters * spec.images_per_character)
            )
        results = {
            name: summarize(compare_datasets(folders[name], folders["reference"]))
            for name in ("today", "candidate")
        }

    render_t = json.loads(today.to_json())["render"]
    print(
        f"# render quality guard: preset {args.preset}, {args.images} images at {args.size}, {args.workers} workers"
    )
    print(f"# today: {render_t}")
    print(f"# candidate overrides: {parse_overrides(args.candidate) or '(none)'}")
    print(f"# reference: {args.reference_samples} spp, no denoiser")
    print(f"{'setting':<10} {'core-s/img':>10} {'PSNR dB':>8} {'SSIM':>7}")
    for name in ("today", "candidate", "reference"):
        psnr, ssim = results.get(name, (float("nan"), float("nan")))
        print(f"{name:<10} {seconds[name]:>10.3f} {psnr:>8.2f} {ssim:>7.4f}")
    d_psnr = results["candidate"][0] - results["today"][0]
    d_ssim = results["candidate"][1] - results["today"][1]
    ok = d_psnr >= -PSNR_MARGIN_DB and d_ssim >= -SSIM_MARGIN
    print(
        f"candidate vs today: {d_psnr:+.2f} dB PSNR, {d_ssim:+.4f} SSIM, "
        + (
            "speed not measured (a render was reused) -> "
            if reused & {"today", "candidate"}
            else f"{seconds['today'] / seconds['candidate']:.2f}x images per core-second -> "
        )
        + f"quality guard {'PASS' if ok else 'FAIL'} (margins {PSNR_MARGIN_DB} dB, {SSIM_MARGIN})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
