"""Warm render time of two render settings, as a ratio measured in one run (issue 13).

Each round starts one child process per setting (alternating, so a change of machine load hits
both alike); a child builds one warm RenderSession, renders 2 warm-up images, then times
``--images`` images of the same plans: wall ms per image, and CPU ms per image (all threads of
the process: ``time.process_time``), the core-seconds an image really costs. With
``--workers 1,2`` each setting also runs as 2 children at once (their timed loops start
together), giving images/s of 2 workers and the scaling 2 vs 1. Prints every round and the
median ratios. The quality side of the same comparison is ``perf/render_quality.py``.

Besides ``[render]`` keys a setting takes ``pool=all``: bpy is imported before the session, so
Blender's thread pool spans every CPU whatever render.threads says (the behaviour before
2026-12-02, see ``synthreid.render.blender.import_bpy``), and ``blas=all``: NumPy's OpenBLAS
pool keeps one thread per CPU (before 2026-12-03, ``synthreid.render.blender.limit_blas``).

Usage: .venv/bin/python perf/render_settings.py [--images 16] [--rounds 3] [--size 64x128]
           [--a samples=16,denoise_prefilter=accurate,pool=all,blas=all] [--b ""] [--workers 1,2]
(--a defaults to the settings before 2026-12-02; an empty --b means the current defaults)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from perf.render_quality import parse_overrides  # noqa: E402

CHILD = """
import json, os, sys, time
pool, blas = sys.argv[3].split("/")
if blas == "all":  # NumPy's BLAS pool left at one thread per CPU (before 2026-12-03)
    import synthreid.render.blender as _blender
    _blender.limit_blas = lambda threads: None
if pool == "all":
    import bpy  # noqa: F401 - before the session: a thread pool over every CPU
from synthreid.render.blender.session import RenderSession
from synthreid.render.plan import plan_images
from synthreid.render.spec import DatasetSpec
spec = DatasetSpec.from_dict(json.loads(sys.argv[1]))
n = int(sys.argv[2])
session = RenderSession(spec)
plans = list(plan_images(spec))
for plan in plans[:2]:
    session.render(plan)
gate, workers = sys.argv[4], int(sys.argv[5])
open(os.path.join(gate, str(os.getpid())), "w").close()
while len(os.listdir(gate)) < workers:  # all workers warm: start timing together
    time.sleep(0.005)
t0, c0 = time.monotonic(), time.process_time()
for plan in plans[2:2 + n]:
    session.render(plan)
t1, c1 = time.monotonic(), time.process_time()
print(json.dumps({"ms": (t1 - t0) / n * 1000, "cpu_ms": (c1 - c0) / n * 1000, "t0": t0, "t1": t1}))
"""


def run_workers(spec: str, images: int, pool: str, workers: int) -> dict:
    """``workers`` children of one setting at once; their timed loops start together."""
    with tempfile.TemporaryDirectory(prefix="synthreid-settings-") as gate:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, spec, str(images), pool, gate, str(workers)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        rows = []
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                sys.exit(f"a child failed:\n{err[-2000:]}")
            rows.append(json.loads(out.strip().splitlines()[-1]))
    span = max(r["t1"] for r in rows) - min(r["t0"] for r in rows)
    return {
        "ms": statistics.mean(r["ms"] for r in rows),
        "cpu_ms": statistics.mean(r["cpu_ms"] for r in rows),
        "img_s": workers * images / span,
    }


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
    ap.add_argument("--a", default="samples=16,denoise_prefilter=accurate,pool=all,blas=all")
    ap.add_argument("--b", default="")
    ap.add_argument("--workers", default="1", help="worker counts to run, e.g. 1,2 (children at once)")
    args = ap.parse_args(argv)
    specs, pools = {}, {}
    for k, v in (("a", args.a), ("b", args.b)):
        overrides = parse_overrides(v)
        pool, blas = str(overrides.pop("pool", "spec")), str(overrides.pop("blas", "spec"))
        if pool not in ("all", "spec") or blas not in ("all", "spec"):
            sys.exit(f"--{k}: pool and blas must be 'all' or 'spec', got {pool!r}, {blas!r}")
        pools[k] = f"{pool}/{blas}"
        specs[k] = spec_json(args.preset, args.images, args.size, overrides)
    counts = [int(v) for v in args.workers.split(",")]
    rows: dict[tuple[str, int], list[dict]] = {(k, w): [] for k in "ab" for w in counts}
    for r in range(args.rounds):
        for w in counts:
            for k in ("a", "b"):
                row = run_workers(specs[k], args.images, pools[k], w)
                rows[k, w].append(row)
                print(
                    f"round {r + 1}, {w} worker(s): {k} {row['ms']:.0f} ms/image wall, "
                    f"{row['cpu_ms']:.0f} ms CPU, {row['img_s']:.2f} images/s",
                    flush=True,
                )

    def med(k: str, w: int, key: str) -> float:
        return statistics.median(row[key] for row in rows[k, w])

    print(
        f"# preset {args.preset} {args.size}, 1 thread per worker, warm, {args.images} images x {args.rounds} rounds"
    )
    print(f"# a = {args.a or 'current defaults'}; b = {args.b or 'current defaults'}")
    for w in counts:
        a, b = med("a", w, "ms"), med("b", w, "ms")
        ca, cb = med("a", w, "cpu_ms"), med("b", w, "cpu_ms")
        ta, tb = med("a", w, "img_s"), med("b", w, "img_s")
        print(
            f"{w} worker(s): a {a:.0f} ms/image wall, {ca:.0f} ms CPU, {ta:.2f} images/s | "
            f"b {b:.0f} ms/image wall, {cb:.0f} ms CPU, {tb:.2f} images/s"
        )
        print(
            f"  b vs a: {tb / ta:.2f}x images per second of {w} worker(s) "
            f"({tb / w:.2f} vs {ta / w:.2f} images per core-second), {ca / cb:.2f}x images per CPU-second"
        )
    if len(counts) > 1:
        lo, hi = counts[0], counts[-1]
        for k in ("a", "b"):
            scale = med(k, hi, "img_s") / med(k, lo, "img_s")
            print(f"  {k}: {hi} workers give {scale:.2f}x {lo} ({scale / (hi / lo):.2f} of linear)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
