"""Units of work: enqueueing a dataset (catalog rows + one task per character) and running
a ``render_character`` task so that a re-run does only the missing work.

The render package is reached through ``RenderBackend`` (imported lazily, bpy only inside the
worker); unit tests pass a fake backend instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from synthreid.dataset import check_dataset_name
from synthreid.errors import DatasetError
from synthreid.workers.catalog import Catalog, Task
from synthreid.workers.storage import finished_row, remove_character_temps

log = logging.getLogger(__name__)

RENDER_QUEUE = "render"


class RenderBackend:
    """The render package's planning, output and Blender session functions (lazy imports)."""

    def __init__(self):
        self._session = None
        self._session_spec: str | None = None
        self._initialised: set[tuple[str, str]] = set()

    def load_spec(self, spec_or_preset: str):
        from synthreid.render.spec import DatasetSpec

        return DatasetSpec.load(spec_or_preset)

    def spec_from_dict(self, data: dict):
        from synthreid.render.spec import DatasetSpec

        return DatasetSpec.from_dict(data)

    def plan_character(self, spec, ci: int) -> dict:
        from synthreid.render.plan import plan_character

        return plan_character(spec, ci)

    def plan_image(self, spec, ci: int, ii: int, character: dict) -> dict:
        from synthreid.render.plan import plan_image

        return plan_image(spec, ci, ii, character)

    def init_dataset(self, spec, root: Path) -> None:
        """Create the dataset folder once per process (idempotent on disk as well)."""
        key = (spec.to_json(), str(root))
        if key in self._initialised:
            return
        import fcntl

        from synthreid.render.output import init_dataset

        # Workers starting on a new dataset at once would see each other's half-created
        # folder; a lock file next to it serializes the first creation (flock works on one
        # host and on NFSv4 shared storage).
        root.parent.mkdir(parents=True, exist_ok=True)
        with open(root.parent / f".{root.name}.init.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                init_dataset(spec, root)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._initialised.add(key)

    def finalize_dataset(self, spec, root: Path) -> None:
        from synthreid.render.output import finalize_dataset

        finalize_dataset(root, spec)

    def session(self, spec):
        """One RenderSession per process and spec: bpy is imported once and the room kept."""
        key = spec.to_json()
        if self._session is None or self._session_spec != key:
            if self._session is not None:
                self._session.close()
            from synthreid.render.blender.session import RenderSession

            self._session = RenderSession(spec)
            self._session_spec = key
        return self._session


@dataclass
class EnqueueResult:
    dataset_id: int
    name: str
    characters: int
    images: int
    tasks: list[tuple[int, str]]
    resumed: bool
    seconds: float


def enqueue_dataset(catalog: Catalog, spec, *, name: str | None = None, resume: bool = False,
                    max_attempts: int = 3, backend: RenderBackend | None = None,
                    progress: bool = True) -> EnqueueResult:
    """Write ``spec`` as a dataset into the catalog: every character's and image's sampled
    parameters in one transaction, plus one render task per character.

    An existing name raises DatasetError unless ``resume`` (then the same spec is required and
    its unfinished and failed tasks are returned for dispatch). Nothing is written on error.
    """
    backend = backend or RenderBackend()
    t0 = time.perf_counter()
    if name is not None:
        spec = spec.replace(name=check_dataset_name(name))
    name = check_dataset_name(spec.name)
    existing = catalog.get_dataset(name)
    if existing is not None:
        if not resume:
            raise DatasetError(f"dataset {name!r} already exists in the catalog "
                               "(use --resume to continue it, or choose another --name)")
        if existing["spec"] != spec.to_dict():
            raise DatasetError(f"dataset {name!r}: --resume needs the same spec it was enqueued with "
                               "(the catalog holds a different one)")
        tasks = catalog.resume_dataset(existing["id"])
        return EnqueueResult(existing["id"], name, existing["characters"],
                             existing["characters"] * existing["images_per_character"], tasks, True,
                             time.perf_counter() - t0)

    characters, images = [], []
    for ci in tqdm(range(spec.characters), desc=f"plan {name}", unit="char", disable=not progress):
        char = backend.plan_character(spec, ci)
        characters.append((ci, spec.seed, char))
        for ii in range(spec.images_per_character):
            row = backend.plan_image(spec, ci, ii, char)
            images.append((ci, ii, row["camid"], row["stem"], row))
    tasks = catalog.create_rendered_dataset(name, spec.to_dict(), characters, images, RENDER_QUEUE, max_attempts)
    ds = catalog.get_dataset(name)
    return EnqueueResult(ds["id"], name, len(characters), len(images), tasks, False, time.perf_counter() - t0)


class TaskLost(Exception):
    """The task's lease passed to another worker while this one worked on it."""


class StopRequested(Exception):
    """The worker was asked to stop; the task is released unfinished."""


def run_render_task(catalog: Catalog, task: Task, *, worker: str, data_root: Callable[[str], Path],
                    backend: RenderBackend, should_stop: Callable[[], bool] = lambda: False,
                    lease_ok: Callable[[], bool] = lambda: True) -> dict:
    """Render the missing images of one character, then mark them and the task done together.

    Images already complete on disk (from an earlier, interrupted attempt) are not rendered
    again. Raises StopRequested / TaskLost between images; render errors propagate (the caller
    records the failed attempt). Returns counts {'rendered', 'reused', 'finished'}.
    """
    ds = catalog.get_dataset_by_id(task.dataset_id)
    if ds is None:
        raise DatasetError(f"task {task.id}: dataset {task.dataset_id} is not in the catalog")
    spec = backend.spec_from_dict(ds["spec"])
    root = data_root(ds["name"])
    char = catalog.character(task.character_id)
    images = catalog.character_images(task.character_id)
    backend.init_dataset(spec, root)
    removed = remove_character_temps(root, [im["stem"] for im in images])
    if removed:
        log.info("task %d: removed %d temp files of an interrupted attempt", task.id, removed)
    rows: dict[int, dict] = {}
    rendered = reused = 0
    for im in images:
        if im["state"] == "done":
            continue
        row = finished_row(root, im["stem"])
        if row is None:
            if should_stop():
                raise StopRequested()
            if not lease_ok():
                raise TaskLost()
            row = backend.session(spec).render_image(char["index"], im["index"], root)
            rendered += 1
        else:
            reused += 1
        rows[im["id"]] = row
    finished = catalog.finish_render_task(task.id, worker, rows)
    if not finished:
        raise TaskLost()
    if catalog.unfinished_tasks(task.dataset_id) == 0:
        backend.finalize_dataset(spec, root)
        catalog.mark_finalized(task.dataset_id)
        log.info("dataset %s: all tasks finished, labels.jsonl written", ds["name"])
    return {"rendered": rendered, "reused": reused, "finished": finished}


def execute_task(task_id: int) -> None:  # pragma: no cover - for a stock `rq worker`, see worker.py
    """RQ job function: run one task by id in this process (the JSON payload is the id only)."""
    from synthreid.workers.worker import run_one_task_by_id

    run_one_task_by_id(int(task_id))
