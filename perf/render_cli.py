"""`synthreid render` end to end, this checkout against another one (e.g. the commit before a
change of the executor), as ratios measured in one run.

Each round renders the same small spec into a fresh folder with each checkout and each worker
count, alternating (A1 B1 A2 B2, then the next round), so a busy machine slows both alike.
Per run it reports the wall time of the command (Blender start-up included) and the steady
rate: images after the first of each worker divided by the time between the first and the
last meta row written (start-up excluded). Printed: the median over rounds and the ratio
this / other.

Usage: .venv/bin/python perf/render_cli.py --other /path/to/old/checkout [--rounds 3]
                                            [--characters 8 --images 2] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SPEC = """name = "perfcli"
seed = 7
characters = {characters}
images_per_character = {images}
[output]
size = [64, 128]
[render]
samples = 16
denoise = true
max_bounces = 4
threads = 0
[splits]
test = 1
val = 1
"""


def run_once(checkout: Path, spec: Path, out: Path, workers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "synthreid.cli",
            "render",
            str(spec),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--quiet",
        ],
        cwd=checkout,
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t0
    times = sorted(p.stat().st_mtime for p in (out / "meta").glob("*.json"))
    steady = (
        (len(times) - workers) / (times[-1] - times[0])
        if len(times) > workers and times[-1] > times[0]
        else 0.0
    )
    return {"wall": wall, "images": len(times), "steady_rate": steady}


def digests(root: Path) -> dict[str, str]:
    return {
        f"{sub}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("images", "masks")
        for p in sorted((root / sub).iterdir())
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", required=True, help="the checkout to compare with (its repository root)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--characters", type=int, default=8)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    checkouts = {"this": REPO, "other": Path(args.other).resolve()}
    results: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        spec = tmp / "spec.toml"
        spec.write_text(SPEC.format(characters=args.characters, images=args.images))
        for r in range(args.rounds):
            for w in counts:
                order = ("this", "other") if r % 2 == 0 else ("other", "this")
                for label in order:
                    res = run_once(checkouts[label], spec, tmp / f"{label}-{w}-{r}", w)
                    res["digests"] = digests(tmp / f"{label}-{w}-{r}")
                    results.setdefault((label, w), []).append(res)
                    print(
                        f"round {r + 1} {label:5s} {w} worker(s): {res['images']} images, wall {res['wall']:.2f} s, "
                        f"steady {res['steady_rate']:.2f} img/s",
                        flush=True,
                    )
    n = args.characters * args.images
    ref = results[("other", counts[0])][0]["digests"]
    same = all(x["digests"] == ref for v in results.values() for x in v)
    print(f"\nevery run wrote the same {len(ref)} image and mask files, byte for byte: {same}")
    print(f"{n} images at 64x128, 16 spp + denoise; median of {args.rounds} alternating rounds")
    med = {
        k: {m: statistics.median(x[m] for x in v) for m in ("wall", "steady_rate")}
        for k, v in results.items()
    }
    for w in counts:
        a, b = med[("this", w)], med[("other", w)]
        print(
            f"{w} worker(s): wall this {a['wall']:.2f} s vs other {b['wall']:.2f} s -> {a['wall'] / b['wall']:.2f}x; "
            f"steady this {1000 / a['steady_rate']:.0f} ms/img vs other {1000 / b['steady_rate']:.0f} ms/img "
            f"-> rate {a['steady_rate'] / b['steady_rate']:.2f}x"
        )
    if len(counts) >= 2:
        for label in ("this", "other"):
            one, two = med[(label, counts[0])], med[(label, counts[1])]
            print(
                f"{label}: {counts[1]} vs {counts[0]} workers: wall {one['wall'] / two['wall']:.2f}x faster, "
                f"steady rate {two['steady_rate'] / one['steady_rate']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
