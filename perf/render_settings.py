"""Warm render time of two render settings, as a ratio measured in one run (issue 13).

Each round starts one child process per setting (alternating, so a change of machine load hits
both alike); a child builds one warm RenderSession, renders 2 warm-up images, then times
``--images`` images of the same plans. Prints ms per image per round and the median ratio.
The quality side of the same comparison is ``perf/render_quality.py``.

Usage: .venv/bin/python perf/render_settings.py [--images 16] [--rounds 3] [--size 64x128]
           [--a samples=16,denoise_prefilter=accurate] [--b ""]
(--a defaults to the settings before 2026-12-02; an empty --b means the current defaults)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from perf.render_quality import parse_overrides  # noqa: E402

CHILD = """
import json, sys, time
from synthreid.render.blender.session import RenderSession
from synthreid.render.plan import plan_images
from synthreid.render.spec import DatasetSpec
spec = DatasetSpec.from_dict(json.loads(sys.argv[1]))
n = int(sys.argv[2])
session = RenderSession(spec)
plans = list(plan_images(spec))
for plan in plans[:2]:
    session.render(plan)
t0 = time.perf_counter()
for plan in plans[2:2 + n]:
    session.render(plan)
print(json.dumps({"ms": (time.perf_counter() - t0) / n * 1000}))
"""


def spec_json(preset: str, images: int, size: str, overrides: dict) -> str:
    from synthreid.render.spec import DatasetSpec

    w, h = (int(v) for v in size.lower().split("x"))
    spec = DatasetSpec.preset(preset).replace(
        name="settings", characters=(images + 2 + 1) // 2, images_per_character=2, output={"size": [w, h]}
    )
    render = {**json.loads(spec.to_json())["render"], "threads": 1, **overrides}
    return spec.replace(render=render).to_json()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="IV")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", default="64x128")
    ap.add_argument("--a", default="samples=16,denoise_prefilter=accurate")
    ap.add_argument("--b", default="")
    args = ap.parse_args(argv)
    specs = {
        k: spec_json(args.preset, args.images, args.size, parse_overrides(v))
        for k, v in (("a", args.a), ("b", args.b))
    }
    times: dict[str, list[float]] = {"a": [], "b": []}
    for r in range(args.rounds):
        for k in ("a", "b"):
            res = subprocess.run(
                [sys.executable, "-c", CHILD, specs[k], str(args.images)],
                capture_output=True,
                text=True,
                check=False,
            )
            if res.returncode != 0:
                sys.exit(f"setting {k}: the child failed:\n{res.stderr[-2000:]}")
            times[k].append(json.loads(res.stdout.strip().splitlines()[-1])["ms"])
            print(f"round {r + 1}: {k} {times[k][-1]:.0f} ms/image", flush=True)
    a, b = statistics.median(times["a"]), statistics.median(times["b"])
    print(f"# preset {args.preset} {args.size}, 1 thread, warm, {args.images} images x {args.rounds} rounds")
    print(f"a ({args.a or 'current defaults'}): median {a:.0f} ms/image")
    print(f"b ({args.b or 'current defaults'}): median {b:.0f} ms/image")
    print(f"b vs a: {a / b:.2f}x images per core-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
