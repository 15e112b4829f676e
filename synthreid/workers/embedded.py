"""``synthreid render``: the farm embedded in one command, on this machine.

One executor (issue 12): a local render is the farm's own path, not a second protocol. The
dataset folder holds its catalog, ``DATASET/.synthreid/catalog.sqlite3`` (SQLite, the
farm's embedded default), and the command

1. plans the dataset once, into labels.jsonl, when the folder is new (``output.init_dataset``);
2. enqueues it through ``tasks.enqueue_dataset`` (what ``synthreid enqueue`` runs), the plans
   read back from labels.jsonl (``tasks.stored_batches``), never planned again; a rerun
   resumes: done images are checked against their files (``repair.requeue_damaged``) and
   images already complete on disk but not yet in the catalog are recorded
   (``Catalog.adopt_finished_images``), so only what is missing is rendered;
3. starts N worker processes, each the farm's ``Worker`` (claim, lease, ``run_render_task``,
   commit, finalize) on local dispatch, in burst mode, Blender started before it claims;
4. shows one progress bar (rate, ETA) over images, read from the catalog (each image is
   recorded as soon as its files are written), and reports failed persons as they fail;
5. finalizes labels.jsonl through the farm's finalize (``tasks.finalize_dataset``; after a
   stop, ``tasks.write_labels`` with what was done) and returns a ``RenderReport``.

One render per dataset folder at a time (``.synthreid/render.lock``). Workers log to
``.synthreid/workers.log`` (rewritten by each run).

Stopping: the parent alone handles SIGINT, SIGTERM and SIGHUP. The first sends SIGTERM to the
workers, which finish the image in progress and give their task back (the farm worker's own
stop); workers still starting Blender hold no task and are killed. Then labels.jsonl is
finalized with what was done and ``RenderInterrupted`` raised. A second signal kills the
workers at once and removes their temp files (every file is written atomically, so nothing
half-written is left; their tasks are given back by the next run). Workers ignore the
terminal's SIGINT/SIGHUP and die with the parent (Linux parent-death signal, plus a watchdog
thread on the parent's sentinel elsewhere). Each run keeps Blender's scratch files in one
``$TMPDIR/synthreid-render-PID-*`` folder, removed on exit (or by the next run when the
parent was SIGKILLed).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import wait as wait_for_any
from pathlib import Path
from typing import Any

from tqdm import tqdm

from synthreid.cliutil import available_cores
from synthreid.errors import DatasetError, SynthreidError
from synthreid.fsutil import remove_stale_temps
from synthreid.render.output import check_folder, init_dataset
from synthreid.render.scratch import TMP_PREFIX, remove_worker_temps, sweep_orphan_temp_dirs
from synthreid.render.spec import DatasetSpec
from synthreid.render.writer import DatasetWriter
from synthreid.workers.catalog import Catalog, open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.dispatch import LocalDispatcher
from synthreid.workers.storage import remove_character_temps
from synthreid.workers.tasks import (
    RENDER_QUEUE,
    RenderBackend,
    enqueue_dataset,
    finalize_dataset,
    stored_batches,
    write_labels,
)
from synthreid.workers.worker import Worker

log = logging.getLogger(__name__)

STATE_DIR = ".synthreid"  # inside the dataset folder: the embedded farm's catalog, lock and log
CATALOG_FILE = "catalog.sqlite3"
LOCK_FILE = "render.lock"
LOG_FILE = "workers.log"
STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s)
# Signals a terminal sends to the whole foreground process group: workers ignore them.
GROUP_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGHUP", None)) if s)
POLL_S = 0.2  # the parent's reaction time to a signal or a worker's exit; idle workers' poll
READ_S = 0.5  # how often the parent reads progress from the catalog (a COUNT over image rows)
FATAL_EXIT = 3  # a worker's exit status when Blender (or its catalog) could not start
# Nothing else claims an embedded task: the lease only bounds a worker's own stop.
LEASE_S = 60.0


@dataclass
class RenderReport:
    """What one ``render_dataset`` call did (seconds are wall time).

    ``rendered`` / ``skipped``: images rendered by this run / complete before it;
    ``failed``: (what, error) per failed person (its images are left for the next run) or
    worker that died; ``interrupted``: the number of the first stop signal received (None
    when the run ended by itself); ``left``: images of this run not rendered;
    ``finalized``: labels.jsonl was rewritten (not after a second signal).
    """

    root: Path
    rendered: int
    skipped: int
    failed: list[tuple[str, str]]
    seconds: float
    interrupted: int | None = None
    left: int = 0
    finalized: bool = True


class RenderInterrupted(KeyboardInterrupt):
    """``render_dataset`` was stopped by a signal (after cleaning up); ``report`` says what was
    done and ``report.interrupted`` which signal. A KeyboardInterrupt, so that callers that
    do not handle it stop as on Ctrl-C instead of taking the dataset as complete."""

    def __init__(self, report: RenderReport):
        name = signal.Signals(report.interrupted).name if report.interrupted is not None else "a signal"
        super().__init__(f"render of {report.root} interrupted by {name}")
        self.report = report


def embedded_config(root: Path) -> FarmConfig:
    """The farm configuration of the dataset folder ``root``: its own SQLite catalog, local
    dispatch, every dataset name mapped to ``root``; one attempt per task (a render error is
    reported, and the next run tries the person again)."""
    root = Path(root).absolute()
    state = root / STATE_DIR
    return FarmConfig(
        database_url=f"sqlite:///{state / CATALOG_FILE}",
        data_dir=state,
        lease_seconds=LEASE_S,
        max_attempts=1,
        retry_backoff=0.0,
        plan_processes=1,
        dataset_dir=root,
    )


@contextlib.contextmanager
def _dataset_lock(root: Path) -> Iterator[None]:
    """Hold ``root/.synthreid/render.lock``: one render of a dataset folder at a time."""
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    with open(state / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise DatasetError(
                f"{root}: being rendered by {holder} (lock {state / LOCK_FILE}); wait for it to end or stop it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"synthreid render (pid {os.getpid()})\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only warnings and errors from ``logger`` while inside."""
    lg = logging.getLogger(logger)
    old = lg.level
    lg.setLevel(max(old, logging.WARNING))
    try:
        yield
    finally:
        lg.setLevel(old)


# ---- worker process ------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    """Make this process end when the parent does, even when the parent is SIGKILLed."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    parent = mp.parent_process()
    if parent is not None:
        # Elsewhere (and as a second line on Linux): the sentinel becomes ready when it exits.
        threading.Thread(
            target=_exit_with, args=(parent.sentinel,), name="parent-watchdog", daemon=True
        ).start()


def _exit_with(sentinel) -> None:
    wait_for_any([sentinel])
    os._exit(1)


def _worker_main(
    root: str, dataset: str, name: str, tmp: str, parent_pid: int, threads: int | None, log_level: int
) -> None:
    """Worker process: the farm's ``Worker`` in burst mode on the dataset's embedded catalog.

    Blender is started before the first claim, so a worker killed while starting holds no task.
    """
    # The parent blocked these signals while starting us; ignore them first, then unblock,
    # so a Ctrl-C in the terminal never raises KeyboardInterrupt inside Blender.
    for s in GROUP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)
    _die_with_parent(parent_pid)
    # Blender's scratch files (the stage's outputs, its own session folder) go under the
    # parent's temp folder, which the parent removes whatever happens to us.
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = tmp
    if not os.environ.get("SYNTHREID_BLENDER_VERBOSE"):
        # Only Blender writes to a worker's stdout (status lines, memory reports at exit).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    # A parent that imported bpy hands its sys.path (with bpy's scripts/modules folder) to
    # spawned children, where `import bpy` would then find the wrong package.
    sys.path[:] = [p for p in sys.path if "/bpy/" not in p.replace("\\", "/")]
    config = embedded_config(Path(root))
    handler = logging.FileHandler(config.data_dir / LOG_FILE)
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s"))
    logging.basicConfig(level=log_level, handlers=[handler], force=True)
    backend = RenderBackend(render_threads=threads)
    worker = Worker(
        config,
        [RENDER_QUEUE],
        burst=True,
        backend=backend,
        dispatcher=LocalDispatcher(),
        name=name,
        poll_seconds=POLL_S,
    )
    worker.install_signal_handlers()  # SIGTERM: finish the image, give the task back, exit
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the parent's
    code = 0
    try:
        catalog = open_catalog(config, auto_upgrade=False)
        try:
            ds = catalog.get_dataset(dataset)
        finally:
            catalog.close()
        if ds is None:
            raise DatasetError(f"dataset {dataset!r} is not in {config.sqlite_path}")
        backend.session(backend.spec_from_dict(ds["spec"]))  # bpy imported, stage built
    except Exception:  # noqa: BLE001 - the parent reports it with the log's last lines
        log.exception("render worker %s could not start", name)
        code = FATAL_EXIT
    if code == 0:
        try:
            worker.run()
        except Exception:  # noqa: BLE001 - logged; the parent reports the exit status
            log.exception("render worker %s failed", name)
            code = 1
    # Blender's interpreter teardown takes about a second and has nothing to save (every file
    # is written and renamed, the parent removes the temp folder): leave once the log is out.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


# ---- parent --------------------------------------------------------------------------------
class _StopNow(BaseException):
    """Raised in the parent by a second stop signal: leave at once."""


class _Stopper:
    """The parent's handler of STOP_SIGNALS while workers run (main thread only)."""

    def __init__(self):
        self.signum: int | None = None
        self.count = 0
        self._old: dict[int, Any] = {}
        # A byte per signal wakes the parent's wait at once (a signal alone does not end it).
        self.wake_fd, self._wake_w = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_w, False)

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_fd, 64):
                pass

    def close(self) -> None:
        for fd in (self.wake_fd, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def install(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        for s in STOP_SIGNALS:
            self._old[s] = signal.signal(s, self._handle)
        return True

    def ignore(self) -> None:
        """Ignore further signals while cleaning up (kill, join and rmtree take milliseconds)."""
        for s in self._old:
            signal.signal(s, signal.SIG_IGN)

    def rearm(self) -> None:
        """Handle stop signals again after ignore(), with no moment where Python's default
        handler (KeyboardInterrupt at any line) is in place."""
        for s in self._old:
            signal.signal(s, self._handle)

    def restore(self) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old.clear()

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")
        if self.count > 1:
            raise _StopNow()


def _stop_message(signum: int) -> str:
    name = signal.Signals(signum).name
    return (
        f"synthreid: {name}: stopping after the images in progress "
        "(Ctrl-C again, or a second signal, stops at once)"
    )


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def adopt_finished(catalog: Catalog, dataset_id: int, writer: DatasetWriter, page: int = 2_000) -> int:
    """Record in the catalog the pending images that are complete on disk (``finished_row``):
    rendered before the catalog knew of them (an older ``synthreid render``, a process killed
    between writing and recording). Returns how many."""
    adopted = 0
    for rows in catalog.done_image_pages(dataset_id, page, state="pending"):
        found = {}
        for image_id, _, stem, _ in rows:
            row = writer.finished_row(stem)
            if row is not None:
                found[image_id] = row
        adopted += catalog.adopt_finished_images(dataset_id, found)[0]
    return adopted


def render_dataset(
    spec: DatasetSpec, root: str | Path, workers: int | None = None, progress: bool = True
) -> RenderReport:
    """Render every missing image of ``spec`` into ``root`` with ``workers`` farm worker
    processes (default: one per CPU core) on the folder's embedded catalog.

    A SIGINT/SIGTERM/SIGHUP while rendering stops it (see the module docstring) and raises
    ``RenderInterrupted`` carrying the report.
    """
    t0 = time.perf_counter()
    root = Path(root)
    check_folder(spec, root)  # refuse a foreign folder before the lock's .synthreid/ goes into it
    root.mkdir(parents=True, exist_ok=True)
    # The lock comes before init: two renders of one new folder must not both create it.
    with _dataset_lock(root):
        init_dataset(spec, root)  # plans the dataset once, into labels.jsonl, when it is new
        remove_stale_temps(root)
        sweep_orphan_temp_dirs()
        config = embedded_config(root)
        # A new catalog's migrations are the farm's business: no log lines for them here.
        with _quiet("synthreid.workers.catalog.base"):
            catalog = open_catalog(config)
        try:
            return _render(spec, root, config, catalog, workers, progress, t0)
        finally:
            catalog.close()


def _enqueue(spec: DatasetSpec, root: Path, config: FarmConfig, catalog: Catalog, progress: bool) -> int:
    """The dataset in the catalog, in step with the files on disk; returns its id."""
    existing = catalog.get_dataset(spec.name)
    if existing is not None:
        # Only this process runs the folder's workers (the lock): a running task is a killed run's.
        catalog.release_running(existing["id"])
    res = enqueue_dataset(
        catalog,
        spec,
        resume=existing is not None,
        max_attempts=config.max_attempts,
        progress=progress,
        dataset_root=config.dataset_root,
        planned=lambda start, batch: stored_batches(root, spec.seed, start, batch),
    )
    adopt_finished(catalog, res.dataset_id, DatasetWriter(root, spec.output.format))
    return res.dataset_id


def _render(
    spec: DatasetSpec,
    root: Path,
    config: FarmConfig,
    catalog: Catalog,
    workers: int | None,
    progress: bool,
    t0: float,
) -> RenderReport:
    dsid = _enqueue(spec, root, config, catalog, progress)
    skipped = catalog.count_images(dsid, "done")
    n_todo = spec.total_images - skipped
    n_tasks = catalog.unfinished_tasks(dsid)
    # default: one per usable core (affinity set and container CPU quota)
    workers = max(1, min(workers or available_cores(), n_tasks or 1))
    failed: list[tuple[str, str]] = []
    stopper = _Stopper()
    hard = False
    finalized = False
    installed = stopper.install()
    try:
        if n_tasks:
            hard = _run_workers(
                spec, root, config, catalog, dsid, n_todo, skipped, workers, progress, stopper, failed
            )
            _remove_failed_persons_files(catalog, dsid, DatasetWriter(root, spec.output.format))
        if not hard:
            try:
                _finalize(catalog, dsid, config)
                finalized = True
            except _StopNow:
                hard = True  # labels.jsonl is written atomically: the old one stays whole
    finally:
        if installed:
            stopper.restore()
        stopper.close()
    rendered = catalog.count_images(dsid, "done") - skipped
    failed += [(f"person {ci:05d}", _first_line(err)) for _, ci, err in catalog.failed_tasks(dsid)]
    report = RenderReport(
        root,
        rendered,
        skipped,
        failed,
        time.perf_counter() - t0,
        interrupted=stopper.signum,
        left=n_todo - rendered,
        finalized=finalized,
    )
    if report.interrupted is not None:
        raise RenderInterrupted(report)
    return report


def _remove_failed_persons_files(catalog: Catalog, dsid: int, writer: DatasetWriter) -> None:
    """Files a failed person's worker left half-committed (image and mask written, its label
    row not: e.g. a worker OOM-killed between them) and its temp files: never recorded, so
    removed, and the next run renders those images again. Only failed tasks: their workers
    are gone or gave up."""
    for task_id, ci, _ in catalog.failed_tasks(dsid):
        task = catalog.get_task(task_id)
        if task is None or task.character_id is None:
            continue
        stems = [im["stem"] for im in catalog.character_images(task.character_id) if im["state"] != "done"]
        removed = sum(writer.discard_uncommitted(stem) for stem in stems)
        removed += remove_character_temps(writer.root, stems)
        if removed:
            log.info("person %05d: removed %d files its worker left uncommitted", ci, removed)


def _finalize(catalog: Catalog, dsid: int, config: FarmConfig) -> None:
    """labels.jsonl from the catalog's plans: the farm's finalize when every task has ended
    (unless a worker did it already), else what was done so far."""
    backend = RenderBackend()
    ds = catalog.get_dataset_by_id(dsid)
    if ds is None or ds["finalized_at"] is not None:
        return
    t = time.perf_counter()
    if catalog.unfinished_tasks(dsid):
        write_labels(catalog, ds, backend=backend, data_root=config.dataset_root)
    elif not _finalized_here(catalog, dsid, backend, config):
        ds = catalog.get_dataset_by_id(dsid)
        if ds is not None and ds["finalized_at"] is None:
            raise SynthreidError(
                f"{config.dataset_dir}: labels.jsonl could not be written: {ds['finalize_error'] or 'unknown error'}"
            )
    log.debug("labels.jsonl written in %.2f s", time.perf_counter() - t)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "failed"


def _show_progress(catalog: Catalog, dsid: int, skipped: int, bar, seen_failed: set[int]) -> None:
    """Move the bar to the images done in the catalog; print persons newly failed."""
    done = catalog.count_images(dsid, "done") - skipped
    if done > bar.n:
        bar.update(done - bar.n)
    for task_id, ci, err in catalog.failed_tasks(dsid):
        if task_id not in seen_failed:
            seen_failed.add(task_id)
            with contextlib.suppress(OSError):
                bar.write(f"failed person {ci:05d}: {_first_line(err)}")


def _finalized_here(catalog: Catalog, dsid: int, backend: RenderBackend, config: FarmConfig) -> bool:
    with _quiet("synthreid.workers.tasks"):  # the command prints its own summary
        return finalize_dataset(
            catalog, dsid, backend=backend, data_root=config.dataset_root, stale_after=0.0
        )


def _run_workers(  # noqa: C901, PLR0912, PLR0915 - start, watch and stop in one place: every path must clean up
    spec: DatasetSpec,
    root: Path,
    config: FarmConfig,
    catalog: Catalog,
    dsid: int,
    n_todo: int,
    skipped: int,
    workers: int,
    progress: bool,
    stopper: _Stopper,
    failed: list,
) -> bool:
    """Start the workers, show progress until they are done or stopped; True after a hard stop."""
    ctx = mp.get_context("spawn")  # bpy must not be forked from a parent that imported it
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
    log_path = config.data_dir / LOG_FILE
    log_path.write_text("")
    names = [f"render-{os.getpid()}-{i}" for i in range(workers)]
    threads = 1 if workers > 1 else None  # small crops scale poorly across threads, well across processes
    level = logging.getLogger().getEffectiveLevel()
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(str(root.absolute()), spec.name, name, tmp, os.getpid(), threads, level),
            daemon=True,
            name=name,
        )
        for name in names
    ]
    hard, announced, ok, next_read = False, 0.0, False, 0.0
    bar = None
    seen_failed: set[int] = set()
    dead: set[str] = set()
    try:
        # Every child inherits these signals blocked: workers ignore them before unblocking, and
        # multiprocessing's resource tracker (started with the first process) keeps SIGHUP
        # blocked for good instead of dying on a hang-up (it ignores SIGINT itself).
        signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
        try:
            # Started first: starting it unblocks SIGINT and SIGTERM again when done, which
            # workers started after it would inherit.
            resource_tracker.ensure_running()
            signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
            for p in procs:
                p.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)
        bar = tqdm(total=n_todo, unit="img", desc=f"render {spec.name}", disable=not progress, smoothing=0.1)
        while True:
            if stopper.signum is not None and not announced:
                announced = time.perf_counter()
                if stopper.signum == getattr(signal, "SIGHUP", None):
                    bar.disable = True  # the terminal is probably gone: writing to it would fail
                else:
                    with contextlib.suppress(OSError):
                        bar.write(_stop_message(stopper.signum), file=sys.stderr)
                # Registered workers have Blender up and may be inside an image: they finish it
                # and give their task back. The others are still starting: nothing to finish.
                ready = {w["name"] for w in catalog.live_workers(within=1e9)}
                for p in procs:
                    if p.exitcode is None:
                        if p.name in ready:
                            p.terminate()  # SIGTERM
                        else:
                            p.kill()
            if time.perf_counter() >= next_read or all(p.exitcode is not None for p in procs):
                next_read = time.perf_counter() + READ_S
                _show_progress(catalog, dsid, skipped, bar, seen_failed)
            for p in procs:
                if p.exitcode in (0, None) or stopper.signum is not None or p.name in dead:
                    continue
                if p.exitcode == FATAL_EXIT:
                    raise SynthreidError(
                        f"render worker {p.pid} could not start (log: {log_path}):\n{_log_tail(log_path)}"
                    )
                # At once, so the others neither wait for its lease nor take its person up again.
                dead.add(p.name)
                msg = (
                    f"render worker {p.pid} died (exit code {p.exitcode}); its unfinished images are left "
                    f"for the next run (log: {log_path})"
                )
                if not catalog.fail_worker_tasks(p.name, msg):
                    failed.append(("worker", msg))  # idle when it died: no person to name
            if all(p.exitcode is not None for p in procs):
                break
            live = [p.sentinel for p in procs if p.exitcode is None]
            if stopper.wake_fd in wait_for_any([*live, stopper.wake_fd], timeout=POLL_S):
                stopper.drain()
        if announced:
            log.debug("stop: workers finished %.2f s after the signal", time.perf_counter() - announced)
        ok = True
    except _StopNow:
        hard = True
    finally:
        stopper.ignore()
        if bar is not None:
            with contextlib.suppress(OSError):
                bar.close()
        for p in procs:
            if p.pid is not None and p.exitcode is None and not ok:
                p.kill()  # a second signal or an error: discard the images in progress
        for p in procs:
            if p.pid is not None:
                p.join(timeout=10)
                if p.exitcode is None:
                    p.kill()
                    p.join()
        remove_worker_temps(root, [p.pid for p in procs if p.pid is not None])
        shutil.rmtree(tmp, ignore_errors=True)
        if not hard:
            catalog.release_running(dsid)  # tasks of killed workers go back for the next run
        stopper.rearm()
    return hard
