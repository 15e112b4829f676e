"""How long building and posing a procedural person takes next to rendering it.

Run: ``.venv/bin/python perf/people.py [--n 20] [--renders 3]``. Prints per-person build,
pose and vertex-query times, and Cycles render times (CPU, 16 samples, denoised) of a tight
person crop at 64x128 and 128x256; the ratios build / render are what matters (the baseline
is the render measured in the same run).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@contextlib.contextmanager
def quiet_stdout():
    """Silence Blender's per-render log lines (written to fd 1 by C code)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="characters to build")
    ap.add_argument("--renders", type=int, default=3, help="renders per resolution")
    ap.add_argument("--preset", default="IV")
    args = ap.parse_args()

    import bpy
    from tqdm import tqdm

    from synthreid.render.blender.person import build_person
    from synthreid.render.sampling.people import sample_character, sample_pose
    from synthreid.render.spec import DatasetSpec

    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.render.engine = "CYCLES"
    sc.cycles.device = "CPU"
    sc.cycles.samples = 16
    sc.cycles.use_denoising = True
    world = bpy.data.worlds.new("w")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs[1].default_value = 0.8
    sc.world = world
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (math.radians(40), 0, math.radians(30))
    sc.collection.objects.link(sun)
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    cam.data.lens = 50
    sc.collection.objects.link(cam)
    sc.camera = cam

    spec = DatasetSpec.preset(args.preset)
    rng = np.random.default_rng(0)
    chars = [sample_character(spec, rng) for _ in range(args.n)]
    t_sample = time.perf_counter()
    for _ in range(200):
        sample_character(spec, rng)
    t_sample = (time.perf_counter() - t_sample) / 200

    build, pose, verts = [], [], []
    people = None
    for c in tqdm(chars, desc="build+pose", unit="person"):
        t0 = time.perf_counter()
        p = build_person(c)
        t1 = time.perf_counter()
        p.pose(sample_pose(spec, c, rng))
        t2 = time.perf_counter()
        p.world_vertices()
        t3 = time.perf_counter()
        build.append(t1 - t0)
        pose.append(t2 - t1)
        verts.append(t3 - t2)
        if people is None:
            people = p  # keep the first one for the renders
        else:
            p.remove()

    # tight crop: camera 4 m in front, frame fitted to the person's height
    h = chars[0]["height"]
    cam.location = (0.0, -4.0 - 1.0, h / 2)
    cam.rotation_euler = (math.radians(90), 0, 0)
    cam.data.sensor_fit = "VERTICAL"
    cam.data.sensor_height = 36.0
    cam.data.lens = 36.0 * 5.0 / (h * 1.1)
    renders = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w, hh in ((64, 128), (128, 256)) if args.renders > 0 else ():  # --renders 0: builds only
            sc.render.resolution_x, sc.render.resolution_y = w, hh
            times = []
            for i in range(args.renders + 1):
                sc.render.filepath = f"{tmp}/r{w}_{i}.png"
                t0 = time.perf_counter()
                with quiet_stdout():
                    bpy.ops.render.render(write_still=True)
                if i:  # the first render warms up kernels and caches
                    times.append(time.perf_counter() - t0)
            renders[(w, hh)] = statistics.median(times)
    people.remove()

    med = statistics.median
    print()
    print(f"sample_character          {t_sample * 1e3:8.2f} ms")
    print(
        f"build_person  median      {med(build) * 1e3:8.1f} ms   (max {max(build) * 1e3:.1f} ms, n={len(build)})"
    )
    print(f"pose          median      {med(pose) * 1e3:8.2f} ms")
    print(f"world_vertices median     {med(verts) * 1e3:8.2f} ms")
    for (w, hh), t in renders.items():
        print(
            f"render {w}x{hh} (16 spp)   {t * 1e3:8.1f} ms   build/render = {med(build) / t:.3f}   "
            f"pose/render = {med(pose) / t:.4f}"
        )


if __name__ == "__main__":
    main()
