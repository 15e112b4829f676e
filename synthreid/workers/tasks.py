"""Units of work: enqueueing a dataset (catalog rows + one task per character) and running
a ``render_character`` task so that a re-run does only the missing work.

Enqueue streams: characters are planned in batches (in parallel processes for large
datasets) and each batch is committed with its tasks, so memory stays flat whatever the size
and workers can start before planning ends. Before anything is written, the size is checked
against the free disk space (image files estimated from the output size).

The render package is reached through ``RenderBackend`` (imported lazily, bpy only inside the
worker); unit tests pass a fake backend instead.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from synthreid.dataset import check_dataset_name
from synthreid.errors import DatasetError
from synthreid.workers.catalog import Catalog, Task
from synthreid.workers.catalog.base import PlanBatch, dump_json
from synthreid.workers.interrupts import StopRequested, TaskLost
from synthreid.workers.ordered_writes import write_in_order
from synthreid.workers.repair import RepairReport, requeue_damaged
from synthreid.workers.storage import remove_character_temps

log = logging.getLogger(__name__)

RENDER_QUEUE = "render"
BATCH_IMAGES = 20_000  # image rows per committed batch (~10 MB of JSON)
PARALLEL_FROM = 2_000  # characters from which planning runs in a process pool
META_BYTES = 2_500  # meta/STEM.json and the labels.jsonl row of one image
CATALOG_BYTES = 1_500  # catalog rows + indexes per image (SQLite; Postgres is similar)
ALL_STATES = ("pending", "running", "done", "failed")


class RenderBackend:
    """The render package's planning, output and Blender session functions (lazy imports).

    ``render_threads``: Cycles threads of this process's session when the spec leaves them to
    Blender (``render.threads = 0``); a worker's setting, not the dataset's (threads do not
    change a pixel, see tests/blender/test_determinism_processes.py).
    """

    def __init__(self, render_threads: int | None = None):
        self.render_threads = render_threads
        self._session = None
        self._session_spec: str | None = None
        self._initialised: set[tuple[str, str]] = set()

    def load_spec(self, spec_or_preset: str):
        from synthreid.render.spec import DatasetSpec

        return DatasetSpec.load(spec_or_preset)

    def spec_from_dict(self, data: dict):
        from synthreid.render.spec import DatasetSpec

        return DatasetSpec.from_dict(data)

    def plan_character(self, spec, ci: int):
        """The ``CharacterPlan`` of character ``ci`` (planning: enqueue only)."""
        from synthreid.render.plan import plan_character

        return plan_character(spec, ci)

    def plan_image(self, spec, ci: int, ii: int, character):
        """The ``ImagePlan`` of image ``ii`` of ``character`` (planning: enqueue only)."""
        from synthreid.render.plan import plan_image

        return plan_image(spec, ci, ii, character)

    def character_plan(self, data, where: str):
        """A stored character plan (catalog JSON) as a ``CharacterPlan``, or PlanError."""
        from synthreid.render.model import CharacterPlan

        return CharacterPlan.from_json(data, where)

    def image_plan(self, data, character, where: str):
        """A stored image plan (catalog JSON, without its character) as an ``ImagePlan``."""
        from synthreid.render.model import ImagePlan

        return ImagePlan.from_json(data, character, where)

    def writer(self, spec, root: Path):
        """The ``DatasetWriter`` of dataset folder ``root`` (it also says which images are done)."""
        from synthreid.render.writer import DatasetWriter

        return DatasetWriter(root, spec.output.format)

    def init_dataset(self, spec, root: Path) -> None:
        """Create the dataset folder once per process (idempotent on disk as well). Its
        labels.jsonl comes at finalize, from the plans in the catalog (workers may start
        before enqueue has planned every character)."""
        key = (spec.to_json(), str(root))
        if key in self._initialised:
            return
        import fcntl

        from synthreid.render.output import init_dataset

        if (root / "manifest.json").is_file():
            # Created already (the manifest is written last): only checked, no lock needed.
            init_dataset(spec, root, labels=False)
            self._initialised.add(key)
            return

        # Workers starting on a new dataset at once would see each other's half-created
        # folder; a lock file next to it serializes the first creation (flock works on one
        # host and on NFSv4 shared storage). A creation killed before its manifest is
        # completed by init_dataset (``output.half_initialised``).
        root.parent.mkdir(parents=True, exist_ok=True)
        with open(root.parent / f".{root.name}.init.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                init_dataset(spec, root, labels=False)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._initialised.add(key)

    def finalize_dataset(self, spec, root: Path, plans) -> None:
        """Write labels.jsonl from the stored ``plans`` and the finished images' rows."""
        from synthreid.render.output import finalize_dataset

        finalize_dataset(root, plans)

    def close(self) -> None:
        """Close the render session (removes its temp folder)."""
        if self._session is not None:
            self._session.close()
            self._session = None
            self._session_spec = None

    def session(self, spec):
        """One RenderSession per process and spec: bpy is imported once and the room kept."""
        key = spec.to_json()
        if self._session is None or self._session_spec != key:
            if self._session is not None:
                self._session.close()
            from synthreid.render.blender.session import RenderSession

            run_spec = spec
            if self.render_threads and spec.render.threads == 0:
                run_spec = spec.replace(render={**spec.to_dict()["render"], "threads": self.render_threads})
            self._session = RenderSession(run_spec)
            self._session_spec = key
        return self._session


class TaskList(Sequence):
    """A dataset's unfinished tasks as (task id, queue), read from the catalog page by page
    (a list of ten million pairs would not fit the memory bound)."""

    def __init__(self, catalog: Catalog, dataset_id: int, states: tuple[str, ...] = ("pending", "running")):
        self.catalog, self.dataset_id, self.states = catalog, dataset_id, states
        self._len: int | None = None

    def __len__(self) -> int:
        if self._len is None:
            self._len = self.catalog.count_tasks(self.dataset_id, self.states)
        return self._len

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return self.catalog.iter_tasks(self.dataset_id, self.states)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(self)[i]
        for k, t in enumerate(self):
            if k == (i if i >= 0 else len(self) + i):
                return t
        raise IndexError(i)


@dataclass
class EnqueueResult:
    dataset_id: int
    name: str
    characters: int
    images: int
    tasks: Sequence[tuple[int, str]]
    resumed: bool
    seconds: float
    repair: RepairReport | None = None  # resume: done images checked against their files


def estimate_bytes(spec) -> tuple[int, int]:
    """(bytes of files, bytes of catalog rows) per image, conservatively.

    PNG crops of rendered people take about 1.2 bytes per pixel (JPEG 0.4) and masks 0.15;
    without a fixed output size the crop is taken as a quarter of the camera frame.
    """
    if spec.output.size:
        w, h = spec.output.size
        px = w * h
    else:
        w, h = spec.camera.resolution
        px = w * h // 4
    per_px = 1.2 if spec.output.format == "png" else 0.4
    return int(px * (per_px + 0.15)) + META_BYTES, CATALOG_BYTES


def _free_bytes(path: Path) -> int:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def check_capacity(spec, data_dir: Path | None, catalog_dir: Path | None = None) -> int:
    """Refuse (DatasetError) a dataset whose estimated size exceeds the free space of the data
    directory (and of the SQLite catalog's folder); returns the estimated bytes."""
    images = spec.characters * spec.images_per_character
    files, rows = estimate_bytes(spec)
    need = {}
    if data_dir is not None:
        need[Path(data_dir)] = images * files
    if catalog_dir is not None:
        need[Path(catalog_dir)] = need.get(Path(catalog_dir), 0) + images * rows
    for where, n in need.items():
        free = _free_bytes(where)
        if n > free:
            raise DatasetError(
                f"dataset {spec.name!r}: {spec.characters:,} characters x {spec.images_per_character:,} images "
                f"need about {n / 1e9:,.1f} GB on {where} (estimated {files:,} B of files"
                + (
                    f" + {rows:,} B of catalog"
                    if catalog_dir is not None and Path(catalog_dir) == where
                    else ""
                )
                + f" per image) but only {free / 1e9:,.1f} GB are free: lower --characters/--images "
                "or free space"
            )
    return sum(need.values())


def _plan_range(spec, start: int, stop: int, backend=None) -> PlanBatch:
    """Plan characters ``start..stop-1`` with their images, JSON encoded."""
    chars, images = [], []
    if backend is None or type(backend) is RenderBackend:  # the real planner: its block-wise form
        from synthreid.render.plan import plan_characters

        for char, plans in plan_characters(spec, start, stop):
            chars.append((char.pid, spec.seed, dump_json(char.to_json())))
            for plan in plans:
                images.append(
                    (plan.pid, plan.index, plan.camid, plan.stem, dump_json(plan.to_json(character=False)))
                )
        return PlanBatch(start, stop, chars, images)
    plan_character, plan_image = backend.plan_character, backend.plan_image
    for ci in range(start, stop):
        char = plan_character(spec, ci)
        chars.append((ci, spec.seed, dump_json(char.to_json())))
        for ii in range(spec.images_per_character):
            plan = plan_image(spec, ci, ii, char)
            images.append((ci, ii, plan.camid, plan.stem, dump_json(plan.to_json(character=False))))
    return PlanBatch(start, stop, chars, images)


_POOL_SPEC = None


def _pool_init(spec_dict: dict) -> None:
    global _POOL_SPEC
    from synthreid.render.spec import DatasetSpec

    _POOL_SPEC = DatasetSpec.from_dict(spec_dict)


def _pool_plan(bounds: tuple[int, int]) -> PlanBatch:
    return _plan_range(_POOL_SPEC, *bounds)


def plan_batches(spec, start: int, batch: int, processes: int = 1, backend=None) -> Iterator[PlanBatch]:
    """Planned batches of ``batch`` characters from ``start`` on, in order.

    With ``processes`` > 1 a pool plans ahead, at most two batches per process in flight, so
    memory stays bounded when the catalog inserts slower than the pool plans.
    """
    ranges = ((a, min(a + batch, spec.characters)) for a in range(start, spec.characters, batch))
    if processes <= 1:
        for a, b in ranges:
            yield _plan_range(spec, a, b, backend)
        return
    ctx = multiprocessing.get_context("spawn")  # no inherited threads, locks or connections
    with ctx.Pool(processes, initializer=_pool_init, initargs=(spec.to_dict(),)) as pool:
        pending: collections.deque = collections.deque()
        for bounds in ranges:
            pending.append(pool.apply_async(_pool_plan, (bounds,)))
            if len(pending) >= 2 * processes:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _writers_and_batch(catalog: Catalog, spec, writers: int, batch_images: int) -> tuple[int, int]:
    """The writer connections the catalog allows, and the characters per batch."""
    if writers < 1:
        raise ValueError(f"writers: expected 1 or more, got {writers}")
    writers = writers if catalog.concurrent_writes else 1
    # Batches in flight grow with the writers (each holds one): smaller ones keep memory flat.
    return writers, max(1, batch_images // spec.images_per_character // writers)


def enqueue_dataset(
    catalog: Catalog,
    spec,
    *,
    name: str | None = None,
    resume: bool = False,
    max_attempts: int = 3,
    backend: RenderBackend | None = None,
    progress: bool = True,
    processes: int = 1,
    writers: int = 1,
    data_dir: Path | None = None,
    catalog_dir: Path | None = None,
    batch_images: int = BATCH_IMAGES,
    dataset_root: Callable[[str], Path] | None = None,
    planned: Callable[[int, int], Iterator[PlanBatch]] | None = None,
) -> EnqueueResult:
    """Write ``spec`` as a dataset into the catalog: every character's and image's sampled
    parameters plus one render task per character, planned and committed in batches of about
    ``batch_images`` image rows (memory stays flat; workers may start on the first batches).

    Before anything is written the estimated size is checked against the free space of
    ``data_dir`` / ``catalog_dir`` (when given). An existing name raises DatasetError unless
    ``resume`` (then the same spec is required: its planning is completed if it was
    interrupted, its done images are checked against their files under ``dataset_root(name)``
    when given and damaged ones re-queued (``repair.requeue_damaged``), and its unfinished and
    failed tasks are returned for dispatch). The first
    batch is committed together with the dataset row, so a planning error writes nothing.
    ``tasks`` of the result are read from the catalog lazily.

    ``writers``: connections storing batches at once, committed in order (``ordered_writes``;
    Postgres only, SQLite always stores with one).

    ``planned(start, batch)``: plans made already (``synthreid render`` reads them from the
    dataset's labels.jsonl, ``stored_batches``) as batches of ``batch`` characters from
    character ``start`` on, instead of planning here.
    """
    backend = backend or RenderBackend()
    t0 = time.perf_counter()
    if name is not None:
        spec = spec.replace(name=check_dataset_name(name))
    name = check_dataset_name(spec.name)
    writers, per_batch = _writers_and_batch(catalog, spec, writers, batch_images)
    # Only the real planner can run in worker processes (a test backend stays in-process).
    procs = processes if type(backend) is RenderBackend and spec.characters >= PARALLEL_FROM else 1
    existing = catalog.get_dataset(name)
    if existing is not None:
        if not resume:
            raise DatasetError(
                f"dataset {name!r} already exists in the catalog "
                "(use --resume to continue it, or choose another --name)"
            )
        if existing["spec"] != spec.to_dict():
            raise DatasetError(
                f"dataset {name!r}: --resume needs the same spec it was enqueued with "
                "(the catalog holds a different one)"
            )
        dsid = existing["id"]
        start = existing["planned_characters"]
        if start is not None:
            log.info("dataset %s: planning was interrupted at character %d; continuing", name, start)
            _plan_into(
                catalog,
                spec,
                name,
                dsid,
                start,
                per_batch,
                procs,
                backend,
                max_attempts,
                progress,
                planned=planned,
                writers=writers,
            )
        repair = None
        if dataset_root is not None:
            repair = requeue_damaged(catalog, dsid, dataset_root(name), progress=progress)
        catalog.resume_dataset(dsid)
        return EnqueueResult(
            dsid,
            name,
            existing["characters"],
            existing["characters"] * existing["images_per_character"],
            TaskList(catalog, dsid),
            True,
            time.perf_counter() - t0,
            repair,
        )
    check_capacity(spec, data_dir, catalog_dir)
    if planned is not None:
        batches = planned(0, per_batch)
    elif procs > 1:
        # The pool plans the first batch too, and the next ones while the first is stored.
        batches = plan_batches(spec, 0, per_batch, procs)
    else:
        batches = None
    try:
        if batches is not None:
            first = next(batches)
        else:
            first = _plan_range(spec, 0, min(per_batch, spec.characters), backend)
        dsid = catalog.begin_rendered_dataset(
            name,
            spec.to_dict(),
            spec.characters,
            spec.images_per_character,
            first,
            RENDER_QUEUE,
            max_attempts,
        )
        if first.stop < spec.characters:
            _plan_into(
                catalog,
                spec,
                name,
                dsid,
                first.stop,
                per_batch,
                procs,
                backend,
                max_attempts,
                progress,
                done=first.stop,
                planned=(lambda start, batch: batches) if batches is not None else None,
                writers=writers,
            )
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # a pool still planning is stopped
    return EnqueueResult(
        dsid,
        name,
        spec.characters,
        spec.characters * spec.images_per_character,
        TaskList(catalog, dsid, ALL_STATES),
        False,
        time.perf_counter() - t0,
    )


def _plan_into(
    catalog: Catalog,
    spec,
    name: str,
    dsid: int,
    start: int,
    per_batch: int,
    processes: int,
    backend,
    max_attempts: int,
    progress: bool,
    done: int | None = None,
    planned: Callable[[int, int], Iterator[PlanBatch]] | None = None,
    writers: int = 1,
) -> None:
    bar = tqdm(
        total=spec.characters,
        initial=done if done is not None else start,
        desc=f"plan {name}",
        unit="char",
        disable=not progress,
        smoothing=0.1,
    )
    try:
        batches = (
            planned(start, per_batch)
            if planned is not None
            else plan_batches(spec, start, per_batch, processes, None if processes > 1 else backend)
        )
        if writers > 1:

            def store(cat: Catalog, batch: PlanBatch, before_commit: Callable[[], None]) -> None:
                cat.add_planned_batch(
                    dsid, name, batch, RENDER_QUEUE, max_attempts, spec.characters, before_commit
                )

            write_in_order(
                catalog,
                batches,
                store,
                writers=writers,
                start=start,
                on_commit=lambda batch: bar.update(batch.stop - batch.start),
            )
            return
        for batch in batches:
            catalog.add_planned_batch(dsid, name, batch, RENDER_QUEUE, max_attempts, spec.characters)
            bar.update(batch.stop - batch.start)
    finally:
        bar.close()


def stored_batches(root: Path, seed: int, start: int, batch: int) -> Iterator[PlanBatch]:
    """The plans stored in dataset folder ``root`` (its labels.jsonl, ``output.stored_plans``)
    as catalog batches of ``batch`` characters from character ``start`` on, in order
    (``seed``: the dataset's, recorded with each character as enqueue does)."""
    from synthreid.render.output import stored_plans

    chars: list = []
    images: list = []
    last = None
    for plan in stored_plans(root):
        if plan.pid < start:
            continue
        if plan.character is not last:
            if len(chars) == batch:
                yield PlanBatch(chars[0][0], chars[-1][0] + 1, chars, images)
                chars, images = [], []
            last = plan.character
            chars.append((plan.pid, seed, dump_json(plan.character.to_json())))
        images.append((plan.pid, plan.index, plan.camid, plan.stem, dump_json(plan.to_json(character=False))))
    if chars:
        yield PlanBatch(chars[0][0], chars[-1][0] + 1, chars, images)


def catalog_plans(catalog: Catalog, dataset_id: int, backend: RenderBackend) -> Iterator:
    """The ``ImagePlan`` of every image of a dataset, as stored in the catalog at enqueue, in
    planning order, read page by page (flat memory); one ``CharacterPlan`` per person."""
    last_id, character = None, None
    for page in catalog.image_plan_pages(dataset_id):
        for char_id, char_json, params in page:
            if char_id != last_id:
                character = backend.character_plan(char_json, f"catalog character {char_id}")
                last_id = char_id
            yield backend.image_plan(params, character, f"catalog dataset {dataset_id} image")


def run_render_task(
    catalog: Catalog,
    task: Task,
    *,
    worker: str,
    data_root: Callable[[str], Path],
    backend: RenderBackend,
    should_stop: Callable[[], bool] = lambda: False,
    lease_ok: Callable[[], bool] = lambda: True,
) -> dict:
    """Render the missing images of one character from their plans stored in the catalog,
    then mark them and the task done together.

    Images already complete on disk (from an earlier, interrupted attempt) are not rendered
    again. Raises StopRequested / TaskLost between images; render errors propagate (the caller
    records the failed attempt). Returns counts {'rendered', 'reused', 'finished'}.
    """
    if task.dataset_id is None or task.character_id is None:
        raise DatasetError(f"task {task.id}: a render task without its dataset or character")
    ds = catalog.get_dataset_by_id(task.dataset_id)
    if ds is None:
        raise DatasetError(f"task {task.id}: dataset {task.dataset_id} is not in the catalog")
    spec = backend.spec_from_dict(ds["spec"])
    root = data_root(ds["name"])
    char = catalog.character(task.character_id)
    character = backend.character_plan(char["plan"], f"catalog character {task.character_id}")
    images = catalog.character_images(task.character_id)
    backend.init_dataset(spec, root)
    writer = backend.writer(spec, root)
    removed = remove_character_temps(root, [im["stem"] for im in images])
    if removed:
        log.info("task %d: removed %d temp files of an interrupted attempt", task.id, removed)
    rows: dict[int, dict] = {}
    rendered = reused = 0
    for im in images:
        if im["state"] == "done":
            continue
        row = writer.finished_row(im["stem"])
        if row is None:
            if should_stop():
                raise StopRequested()
            if not lease_ok():
                raise TaskLost()
            plan = backend.image_plan(im["params"], character, f"catalog image {im['id']}")
            row = writer.write(plan, backend.session(spec).render(plan))
            # Recorded at once: progress per image, and a stopped task keeps what it rendered.
            if not catalog.image_done(task.id, worker, im["id"], row):
                raise TaskLost()
            rendered += 1
        else:
            reused += 1
        rows[im["id"]] = row
    finished = catalog.finish_render_task(task.id, worker, rows)
    if not finished:
        raise TaskLost()
    finalize_dataset(catalog, task.dataset_id, backend=backend, data_root=data_root)
    return {"rendered": rendered, "reused": reused, "finished": finished}


def finalize_dataset(
    catalog: Catalog,
    dataset_id: int,
    *,
    backend: RenderBackend,
    data_root: Callable[[str], Path],
    stale_after: float = 600.0,
) -> bool:
    """Write labels.jsonl of a dataset whose tasks are all finished, once (idempotent: a claim
    in the catalog, re-runnable after ``stale_after`` s if its finalizer died). A failure is
    recorded on the dataset (``status`` shows it) and retried by the next idle worker; it
    never fails the task that completed the dataset. True when this call finalized it."""
    if not catalog.claim_finalize(dataset_id, stale_after):
        return False
    ds = catalog.get_dataset_by_id(dataset_id)
    if ds is None:
        raise DatasetError(f"dataset {dataset_id}: not in the catalog")
    try:
        write_labels(catalog, ds, backend=backend, data_root=data_root)
    except Exception as exc:  # noqa: BLE001 - recorded on the dataset; the next pass retries
        catalog.finalize_failed(dataset_id, f"{type(exc).__name__}: {exc}")
        log.error(
            "dataset %s: finalize failed (%s: %s); an idle worker retries it",
            ds["name"],
            type(exc).__name__,
            exc,
        )
        return False
    if not catalog.mark_finalized(dataset_id):
        log.info(
            "dataset %s: images were re-queued while it was finalized; finalized again once they are "
            "rendered",
            ds["name"],
        )
        return False
    log.info("dataset %s: all tasks finished, labels.jsonl written", ds["name"])
    return True


def write_labels(
    catalog: Catalog, ds: dict, *, backend: RenderBackend, data_root: Callable[[str], Path]
) -> None:
    """Write labels.jsonl of dataset row ``ds`` from the plans in the catalog and the finished
    images' rows on disk (planned rows for the rest): what finalize does, without its claim.
    ``synthreid render`` also calls it for a run that stopped early."""
    spec = backend.spec_from_dict(ds["spec"])
    backend.finalize_dataset(spec, data_root(ds["name"]), catalog_plans(catalog, ds["id"], backend))


def finalize_pending(
    catalog: Catalog, *, backend: RenderBackend, data_root: Callable[[str], Path], stale_after: float
) -> int:
    """Finalize every complete dataset left unfinalized (a finalize that failed or was killed)."""
    return sum(
        finalize_dataset(catalog, dsid, backend=backend, data_root=data_root, stale_after=stale_after)
        for dsid in catalog.unfinalized_datasets(stale_after)
    )
