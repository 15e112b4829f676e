"""Render a dataset on this machine with long-lived Blender worker processes.

Each worker process imports bpy once, builds the stage once and renders whole characters
(so the person is built once per character); the parent shows one progress bar (rate, ETA)
over images. Finished images are skipped, so running again resumes.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from synthreid.errors import SynthreidError
from synthreid.fsutil import remove_stale_temps
from synthreid.render.output import finalize_dataset, image_done, init_dataset
from synthreid.render.plan import plan_character, plan_image
from synthreid.render.spec import DatasetSpec

log = logging.getLogger(__name__)


@dataclass
class RenderReport:
    """What one ``render_dataset`` call did (seconds are wall time)."""

    root: Path
    rendered: int
    skipped: int
    failed: list[tuple[str, str]]
    seconds: float


def missing_images(spec: DatasetSpec, root: Path) -> dict[int, list[int]]:
    """{character index: [image indices not yet finished]} in dataset folder ``root``."""
    todo: dict[int, list[int]] = {}
    for ci in range(spec.characters):
        character = plan_character(spec, ci)
        for ii in range(spec.images_per_character):
            stem = plan_image(spec, ci, ii, character)["stem"]
            if not image_done(root, stem):
                todo.setdefault(ci, []).append(ii)
    return todo


def _worker_main(spec_dict: dict, root: str, tasks, events) -> None:
    """Worker process: render characters from ``tasks`` until a None arrives."""
    import sys

    # A parent that imported bpy hands its sys.path (with bpy's scripts/modules folder) to
    # spawned children, where `import bpy` would then find the wrong package.
    sys.path[:] = [p for p in sys.path if "/bpy/" not in p.replace("\\", "/")]
    try:
        from synthreid.render.blender.session import RenderSession

        session = RenderSession(DatasetSpec.from_dict(spec_dict))
    except Exception:  # noqa: BLE001 - reported to the parent, which fails clearly
        events.put(("fatal", os.getpid(), traceback.format_exc()))
        return
    while True:
        item = tasks.get()
        if item is None:
            break
        ci, indices = item
        for ii in indices:
            try:
                row = session.render_image(ci, ii, root)
                events.put(("done", row["stem"], row["render_seconds"], row["total_seconds"]))
            except Exception as exc:  # noqa: BLE001 - one bad image must not stop the run
                events.put(("failed", f"{ci}/{ii}", f"{type(exc).__name__}: {exc}"))
    session.close()
    events.put(("exit", os.getpid(), session.timings))


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def render_dataset(spec: DatasetSpec, root: str | Path, workers: int | None = None,
                   progress: bool = True) -> RenderReport:
    """Render every missing image of ``spec`` into ``root`` with ``workers`` processes."""
    t0 = time.perf_counter()
    root = Path(root)
    init_dataset(spec, root)
    remove_stale_temps(root)
    todo = missing_images(spec, root)
    n_todo = sum(len(v) for v in todo.values())
    skipped = spec.total_images - n_todo
    workers = max(1, min(workers or default_workers(), len(todo) or 1))
    if workers > 1 and spec.render.threads == 0:
        # Small crops scale poorly across threads; one thread per process scales well.
        spec = spec.replace(render={**spec.to_dict()["render"], "threads": 1})
    failed: list[tuple[str, str]] = []
    rendered = 0
    if n_todo:
        ctx = mp.get_context("spawn")  # bpy must not be forked from a parent that imported it
        tasks, events = ctx.Queue(), ctx.Queue()
        for ci in sorted(todo):
            tasks.put((ci, todo[ci]))
        for _ in range(workers):
            tasks.put(None)
        procs = [ctx.Process(target=_worker_main, args=(spec.to_dict(), str(root), tasks, events), daemon=True)
                 for _ in range(workers)]
        for p in procs:
            p.start()
        alive = workers
        bar = tqdm(total=n_todo, unit="img", desc=f"render {spec.name}", disable=not progress, smoothing=0.1)
        try:
            while alive:
                try:
                    ev = events.get(timeout=1.0)
                except queue_mod.Empty:
                    if not any(p.is_alive() for p in procs):
                        break
                    continue
                if ev[0] == "done":
                    rendered += 1
                    bar.update(1)
                elif ev[0] == "failed":
                    failed.append((ev[1], ev[2]))
                    bar.write(f"failed {ev[1]}: {ev[2]}")
                elif ev[0] == "fatal":
                    raise SynthreidError(f"render worker {ev[1]} could not start:\n{ev[2]}")
                elif ev[0] == "exit":
                    alive -= 1
        finally:
            bar.close()
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.terminate()
    finalize_dataset(root, spec)
    return RenderReport(root, rendered, skipped, failed, time.perf_counter() - t0)


def override_counts(spec: DatasetSpec, characters: int | None, images: int | None,
                    name: str | None = None, **sections) -> DatasetSpec:
    """A copy of ``spec`` with CLI overrides applied (validated like the TOML)."""
    data = spec.to_dict()
    if characters is not None:
        data["characters"] = characters
    if images is not None:
        data["images_per_character"] = images
    if name is not None:
        data["name"] = name
    for section, values in sections.items():
        if values:
            data[section] = {**data[section], **values}
    return DatasetSpec.from_dict(data)

