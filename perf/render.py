"""Render speed, as ratios measured in one run (design §8).

Compares, on the same images:
  warm     one long-lived RenderSession (bpy imported once, stage kept, person per character)
  full     the same session rendering the whole frame and cropping afterwards
  fresh    a new Python process per image (import bpy, build the stage, render one image)
and reports the share of a warm worker's wall time spent outside Cycles' own rendering.

Usage: .venv/bin/python perf/render.py [--images 8] [--size 64x128] [--samples 16] [--fresh 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthreid.render.output import init_dataset  # noqa: E402
from synthreid.render.plan import plan_image  # noqa: E402
from synthreid.render.spec import DatasetSpec  # noqa: E402
from synthreid.render.writer import DatasetWriter  # noqa: E402


def render_into(session, ci: int, ii: int, root, full_frame: bool = False) -> dict:
    """Plan one image, render it and write it into ``root`` (what a worker does per image)."""
    plan = plan_image(session.spec, ci, ii)
    return DatasetWriter(root, session.spec.output.format).write(plan, session.render(plan, full_frame))


def make_spec(args) -> DatasetSpec:
    w, h = (int(v) for v in args.size.split("x"))
    return DatasetSpec.preset(args.preset).replace(
        name="perf",
        characters=max(2, args.images // 2),
        images_per_character=2,
        output={"size": [w, h], "margin": 0.03, "format": "png", "crop": "silhouette", "supersample": 1.0},
        render={
            "samples": args.samples,
            "denoise": True,
            "max_bounces": 4,
            "threads": 1,
            "light_tree": False,
        },
    )


FRESH = """
import sys, time
t0 = time.perf_counter()
from synthreid.render.spec import DatasetSpec
from synthreid.render.blender.session import RenderSession
from synthreid.render.plan import plan_image
from synthreid.render.writer import DatasetWriter
import json
spec = DatasetSpec.from_dict(json.load(open(sys.argv[1])))
s = RenderSession(spec)
plan = plan_image(spec, int(sys.argv[2]), int(sys.argv[3]))
DatasetWriter(sys.argv[4], spec.output.format).write(plan, s.render(plan))
print(time.perf_counter() - t0)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="IV")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", default="64x128")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--fresh", type=int, default=3, help="images rendered by fresh processes")
    args = ap.parse_args()
    spec = make_spec(args)
    from synthreid.render.blender.session import RenderSession

    jobs = [(ci, ii) for ci in range(spec.characters) for ii in range(2)][: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        warm_dir, full_dir, fresh_dir = (Path(tmp) / n for n in ("warm", "full", "fresh"))
        for d in (warm_dir, full_dir, fresh_dir):
            init_dataset(spec, d)
        t = time.perf_counter()
        session = RenderSession(spec)
        startup = time.perf_counter() - t
        render_into(session, *jobs[0], warm_dir)  # warm-up: first render compiles kernels, loads OIDN
        session.timings = {"build": 0.0, "render": 0.0, "total": 0.0, "images": 0}
        t = time.perf_counter()
        for ci, ii in jobs:
            render_into(session, ci, ii, warm_dir)
        warm = (time.perf_counter() - t) / len(jobs)
        tm = dict(session.timings)
        t = time.perf_counter()
        for ci, ii in jobs:
            render_into(session, ci, ii, full_dir, full_frame=True)
        full = (time.perf_counter() - t) / len(jobs)
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(spec.to_json())
        fresh_times = []
        for ci, ii in jobs[: args.fresh]:
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", FRESH, str(spec_file), str(ci), str(ii), str(fresh_dir)],
                check=True,
                capture_output=True,
            )
            fresh_times.append(time.perf_counter() - t)
        fresh = sum(fresh_times) / len(fresh_times)
    outside = 1.0 - tm["render"] / tm["total"]
    print(f"preset {args.preset}, {len(jobs)} images at {args.size}, {args.samples} spp + denoise, 1 thread")
    print(f"session start (import bpy + stage)      {startup * 1000:8.0f} ms")
    print(f"warm worker, border crop   per image    {warm * 1000:8.0f} ms   (baseline 1.00x)")
    print(f"  of which Cycles render                {tm['render'] / tm['images'] * 1000:8.0f} ms")
    print(f"  person builds (per image, amortised)  {tm['build'] / tm['images'] * 1000:8.0f} ms")
    print(f"  share outside Cycles                  {outside * 100:8.1f} %")
    print(
        f"(a) full frame, crop after per image    {full * 1000:8.0f} ms   {full / warm:6.2f}x the warm worker"
    )
    print(
        f"(b) fresh process per image             {fresh * 1000:8.0f} ms   {fresh / warm:6.2f}x the warm worker"
    )


if __name__ == "__main__":
    main()
