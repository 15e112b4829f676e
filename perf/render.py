"""Render speed, as ratios measured in one run (design §8).

Compares, on the same images:
  warm     one long-lived RenderSession (bpy imported once, stage kept, person per character)
  full     the same session rendering the whole frame and cropping afterwards
  fresh    a new Python process per image (import bpy, build the stage, render one image)
and reports the share of a warm worker's wall time spent outside Cycles' own rendering.

Stage breakdown (issue 13): where one warm image's time goes, from our own timers
(time.perf_counter around our calls) and Blender's render status lines (the ``render_stats``
handler: Cycles reports "Synchronizing object", "Updating Scene BVH", "Sample i/N",
"Compositing"; a stage lasts from its first line to the next stage's first line). Denoising
runs inside Cycles' sampling loop without a line of its own; it is measured as the difference
of the sampling stage with and without the denoiser on the same plans.

Usage: .venv/bin/python perf/render.py [--images 8] [--size 64x128] [--samples 20] [--fresh 3]
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


STAGES = (
    ("build", "person build (per character, amortised)"),
    ("prepare", "our Python: pose, crop frame, camera, light"),
    ("depsgraph", "render call -> Cycles starts (depsgraph)"),
    ("sync", "Blender -> Cycles scene sync"),
    ("bvh", "BVH build"),
    ("device", "other device updates"),
    ("sample", "path tracing + denoising"),
    ("composite", "compositor + PNG files of rgb, mask"),
    ("teardown", "render end -> render call returns"),
    ("readback", "our Python: read PNGs, compose, resize, joints"),
    ("write", "dataset write (encode PNGs, meta)"),
)


def _stage_of(status: str) -> str | None:
    """Stage of one Cycles status line (the part after 'Scene, ViewLayer | ')."""
    if status.startswith("Compositing") or "| Compositing" in status:
        return "composite"
    part = status.rsplit("ViewLayer | ", 1)[-1]
    if part.startswith("Sample") or part.startswith("Finished"):
        return "sample"
    if "BVH" in part:
        return "bvh"
    if part.startswith(("Synchronizing", "Initializing", "Waiting", "Updating Scene", "Updating Shaders")):
        return "sync"
    if part.startswith(("Updating Mesh", "Updating Objects", "Updating Geometry")) and "device" not in part:
        return "sync"
    if part.startswith("Updating"):
        return "device"
    return None


class StageClock:
    """Times the stages of each render of a RenderSession from Blender's handlers and wrappers
    around the session's own calls. ``per_image()`` gives mean ms per stage over ``images``."""

    def __init__(self, session):
        import bpy

        self.session = session
        self.sums = dict.fromkeys([k for k, _ in STAGES], 0.0)
        self.images = 0
        self.first_sample = 0.0  # Sample 0 -> Sample 1: set-up of the sampling loop + 1 sample
        self._events: list[tuple[float, str]] = []

        @bpy.app.handlers.persistent
        def on_init(*_):
            self._events.append((time.perf_counter(), "init"))

        @bpy.app.handlers.persistent
        def on_stats(status, *_):
            self._events.append((time.perf_counter(), str(status)))

        @bpy.app.handlers.persistent
        def on_post(*_):
            self._events.append((time.perf_counter(), "post"))

        self._handlers = [("render_init", on_init), ("render_stats", on_stats), ("render_post", on_post)]
        for name, fn in self._handlers:
            getattr(bpy.app.handlers, name).append(fn)
        stage_render = session.stage.render

        def timed_stage_render():
            self._events.clear()
            self._t_call = time.perf_counter()
            out = stage_render()
            self._t_return = time.perf_counter()
            return out

        session.stage.render = timed_stage_render

    def close(self) -> None:
        import bpy

        for name, fn in self._handlers:
            getattr(bpy.app.handlers, name).remove(fn)
        del self.session.stage.render

    def render_into(self, ci: int, ii: int, root) -> None:
        """``render_into`` of one image, its stages added to the sums."""
        session = self.session
        plan = plan_image(session.spec, ci, ii)
        build0 = session.timings["build"]
        t0 = time.perf_counter()
        result = session.render(plan)
        t1 = time.perf_counter()
        DatasetWriter(root, session.spec.output.format).write(plan, result)
        t2 = time.perf_counter()
        build = session.timings["build"] - build0
        marks = {"init": None, "post": None}
        spans = dict.fromkeys(("sync", "bvh", "device", "sample", "composite"), 0.0)
        current, since, samples = "sync", None, []
        # A stage lasts from one of its status lines to the next line of another stage.
        for t, what in self._events:
            if what in marks:
                marks[what] = t
                if what == "init":
                    since = t
                continue
            stage = _stage_of(what)
            if stage is not None and since is not None:
                spans[current] += t - since
                current, since = stage, t
            if "| Sample " in what:
                samples.append(t)
        if marks["init"] is None or marks["post"] is None or not samples:
            raise RuntimeError("no render status lines seen: are the handlers installed?")
        spans[current] += marks["post"] - since
        add = {
            "build": build,
            "prepare": self._t_call - t0 - build,
            "depsgraph": marks["init"] - self._t_call,
        }
        add.update(spans)
        add["teardown"] = self._t_return - marks["post"]
        add["readback"] = t1 - self._t_return
        add["write"] = t2 - t1
        for k, v in add.items():
            self.sums[k] += v
        if len(samples) > 1:
            self.first_sample += samples[1] - samples[0]
        self.images += 1

    def per_image(self) -> dict[str, float]:
        return {k: v / max(1, self.images) * 1000 for k, v in self.sums.items()}


def breakdown(args, jobs, tmp: Path) -> None:
    """Print the stage breakdown of warm images (one process: this one, a fresh session)."""
    from synthreid.render.blender.session import RenderSession

    spec = make_spec(args)
    rows = {}
    for denoise in (True, False):
        s = spec.replace(render={**spec.to_dict()["render"], "denoise": denoise})
        root = tmp / f"breakdown-{denoise}"
        init_dataset(s, root)
        session = RenderSession(s)
        render_into(session, *jobs[0], root)  # warm-up
        clock = StageClock(session)
        c0 = time.process_time()
        for ci, ii in jobs:
            clock.render_into(ci, ii, root)
        cpu = (time.process_time() - c0) / len(jobs) * 1000
        rows[denoise] = (clock.per_image(), clock.first_sample / clock.images * 1000, cpu)
        clock.close()
        session.close()
    per, first, cpu = rows[True]
    total = sum(per.values())
    print(f"# stage breakdown of one warm image ({len(jobs)} images, ms per image, mean)")
    for k, label in STAGES:
        print(f"  {label:<46} {per[k]:7.1f} ms  {per[k] / total * 100:5.1f} %")
    print(f"  {'total (wall)':<46} {total:7.1f} ms   CPU time of the process {cpu:.0f} ms")
    denoise = per["sample"] - rows[False][0]["sample"]
    samples = spec.render.samples
    print(
        f"  of path tracing + denoising: denoising {denoise:.1f} ms (same plans without denoiser: "
        f"{rows[False][0]['sample']:.1f} ms); first sample incl. set-up {first:.1f} ms, "
        f"the other {samples - 1} samples {(rows[False][0]['sample'] - rows[False][1]) / max(1, samples - 1):.1f} ms each"
    )


def make_spec(args) -> DatasetSpec:
    w, h = (int(v) for v in args.size.split("x"))
    return (
        DatasetSpec.preset(args.preset)
        .replace(
            name="perf",
            characters=max(2, args.images // 2),
            images_per_character=2,
            output={
                "size": [w, h],
                "margin": 0.03,
                "format": "png",
                "crop": "silhouette",
                "supersample": 1.0,
            },
        )
        .replace(
            render={
                **DatasetSpec.preset(args.preset).to_dict()["render"],
                "samples": args.samples,
                "threads": 1,
            }
        )
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
    ap.add_argument("--samples", type=int, default=DatasetSpec.preset("IV").render.samples)
    ap.add_argument("--fresh", type=int, default=3, help="images rendered by fresh processes")
    ap.add_argument("--breakdown-only", action="store_true", help="print only the stage breakdown")
    args = ap.parse_args()
    if args.breakdown_only:
        spec = make_spec(args)
        jobs = [(ci, ii) for ci in range(spec.characters) for ii in range(2)][: args.images]
        with tempfile.TemporaryDirectory() as tmp:
            breakdown(args, jobs, Path(tmp))
        return
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
    print(
        f"preset {args.preset}, {len(jobs)} images at {args.size}, {args.samples} spp + denoise "
        f"({spec.render.denoise_prefilter} prefilter), 1 thread"
    )
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
    with tempfile.TemporaryDirectory() as tmp:
        breakdown(args, jobs, Path(tmp))


if __name__ == "__main__":
    main()
