"""The worker: a long-lived process that claims tasks, renews their leases and runs them.

One process keeps one RenderSession (bpy imported once, the room kept between characters).
SIGTERM/SIGINT: the current image is finished, then the task is released for another worker
(a second signal exits at once; the lease then bounds recovery). A gpu task's child process
is terminated at once and its task released (refine and benchmark runs resume from their
last checkpoint). Lost Postgres connections are retried inside the catalog; lost Redis
connections here, both with capped backoff. Once stopping, the catalog is given up on after
one lease (the lease, not this process, protects the task), and a watchdog ends the process
``lease + STOP_SLACK`` seconds after the first signal whatever it is blocked on.

Threads: the main loop (claim, run), a heartbeat (lease renewal every lease/3 s) and the
reaper (every reaper interval, so queue recovery does not wait for a long render); each
thread has its own catalog connection.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence

from synthreid.workers.catalog import (
    Catalog,
    CatalogError,
    CatalogUnavailable,
    RunState,
    Task,
    TaskState,
    open_catalog,
)
from synthreid.workers.config import ConfigError, FarmConfig, install_secret_filter
from synthreid.workers.dispatch import DispatchError, LocalDispatcher, dispatch, make_dispatcher
from synthreid.workers.gpu_tasks import JobFailed, run_gpu_task
from synthreid.workers.interrupts import StopRequested, TaskLost
from synthreid.workers.jobs import GPU_QUEUE, GPU_TASK_KINDS
from synthreid.workers.reaper import reap
from synthreid.workers.tasks import RENDER_QUEUE, RenderBackend, finalize_pending, run_render_task

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
STOP_SLACK = 60.0  # after the first stop signal: lease + this, then the watchdog exits the process
QUEUE_KINDS: dict[str, tuple[str, ...]] = {
    RENDER_QUEUE: ("render_character",),
    GPU_QUEUE: tuple(GPU_TASK_KINDS),
}


def task_kinds(queues: Sequence[str]) -> tuple[str, ...]:
    """The task kinds a worker of ``queues`` may run; ConfigError for an unknown queue."""
    unknown = [q for q in queues if q not in QUEUE_KINDS]
    if unknown:
        raise ConfigError(f"--queues: unknown queue {unknown[0]!r} (expected {', '.join(QUEUE_KINDS)})")
    return tuple(k for q in queues for k in QUEUE_KINDS[q])


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs tasks of ``queues`` until stopped (or, with ``burst``, until none is unfinished)."""

    def __init__(
        self,
        config: FarmConfig,
        queues: Sequence[str] = ("render",),
        *,
        burst: bool = False,
        backend: RenderBackend | None = None,
        catalog_factory: Callable[[], Catalog] | None = None,
        dispatcher=None,
        name: str | None = None,
        poll_seconds: float = 2.0,
    ):
        self.config = config
        self.queues = list(queues)
        self.kinds = task_kinds(self.queues)
        self.burst = burst
        self.backend = backend or RenderBackend()
        # Connect with a short retry window (a stop signal is honoured between windows); once
        # connected, the main loop's catalog retries lost connections until a stop.
        self.catalog_factory = catalog_factory or (lambda: open_catalog(config, retry_for=5.0))
        self.dispatcher = dispatcher if dispatcher is not None else make_dispatcher(config)
        self.name = name or worker_name()
        self.poll_seconds = poll_seconds
        self.stop_requested = threading.Event()
        self.current: Task | None = None
        self.lease_lost = threading.Event()
        self.stats = {"done": 0, "failed": 0, "released": 0, "lost": 0, "rendered": 0, "reused": 0}
        self._hb_stop = threading.Event()
        self._catalog: Catalog | None = None
        self._watchdog: threading.Timer | None = None

    # ---- signals and heartbeat ---------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def handler(signum, frame):
            if self.stop_requested.is_set():
                log.warning("worker %s: second signal, exiting now", self.name)
                self._give_up(0.0)
                raise SystemExit(128 + signum)
            log.info(
                "worker %s: %s received; finishing the current image, then stopping",
                self.name,
                signal.Signals(signum).name,
            )
            self.request_stop(signum)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop after the current image; give up on the catalog after one lease; hard exit after
        ``lease + STOP_SLACK`` s (the watchdog) in case anything still blocks."""
        self.stop_requested.set()
        self._give_up(self.config.lease_seconds)
        if self._watchdog is None:
            bound = self.config.lease_seconds + STOP_SLACK

            def expire():
                log.error(
                    "worker %s: still not stopped %.0f s after the stop signal; exiting (the lease "
                    "returns its task to the queue)",
                    self.name,
                    bound,
                )
                logging.shutdown()
                os._exit(128 + int(signum))

            self._watchdog = threading.Timer(bound, expire)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _give_up(self, seconds: float) -> None:
        if self._catalog is not None:
            self._catalog.give_up_after(seconds)

    def _heartbeat_loop(self) -> None:
        """Renew the current task's lease every lease/3 seconds (own connection, own thread)."""
        interval = max(0.2, self.config.lease_seconds / 3)
        cat = None
        while not self._hb_stop.wait(interval):
            try:
                if cat is None:
                    cat = open_catalog(self.config, auto_upgrade=False, retry_for=interval)
                task = self.current
                if task is not None and not cat.renew_lease(task.id, self.name, self.config.lease_seconds):
                    now = cat.get_task(task.id)
                    # Not renewed because it just finished is fine; only another owner means lost.
                    if self.current is task and now is not None and now.state != "done":
                        log.warning("task %d: lease lost to another worker", task.id)
                        self.lease_lost.set()
                cat.heartbeat(self.name, task.id if task else None)
            except Exception as exc:  # noqa: BLE001 - keep beating; the main loop handles real failures
                log.warning("heartbeat: %s", exc)
                if cat is not None:
                    cat.close()
                cat = None
        if cat is not None:
            cat.close()

    # ---- main loop -----------------------------------------------------------------------------
    def _open_catalog(self) -> Catalog | None:
        """The main loop's catalog, retried until it answers or the worker is asked to stop."""
        delay = 0.5
        while not self.stop_requested.is_set():
            try:
                cat = self.catalog_factory()
                cat.retry_for = float("inf")
                if self.stop_requested.is_set():
                    cat.give_up_after(self.config.lease_seconds)
                return cat
            except CatalogUnavailable as exc:
                log.warning("%s; retrying in %.1f s", exc, delay)
                self.stop_requested.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        return None

    def _reaper_loop(self) -> None:
        """Reaper passes every reaper interval on its own connection (renders do not delay them)."""
        interval = self.config.reaper_interval
        cat = None
        while not self._hb_stop.wait(interval):
            try:
                if cat is None:
                    cat = open_catalog(self.config, auto_upgrade=False, retry_for=max(interval, 1.0))
                reap(cat, self.dispatcher, lease=self.config.lease_seconds)
            except Exception as exc:  # noqa: BLE001 - the next pass retries; the main loop handles real failures
                log.warning("reaper: %s", exc)
                if cat is not None:
                    cat.close()
                cat = None
        if cat is not None:
            cat.close()

    def run(self) -> dict:  # noqa: C901, PLR0912, PLR0915 - the worker loop: signals, lease, backoff and reaping in one place on purpose
        install_secret_filter(self.config)
        # Temp folders of SIGKILLed renderers are swept by the entry points before this runs
        # (`synthreid worker`: scratch.private_tempdir; `synthreid render`: render_dataset).
        catalog = self._open_catalog()
        if catalog is None:
            log.info("worker %s stopped before the catalog answered", self.name)
            return self.stats
        self._catalog = catalog
        threads = [threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)]
        if not isinstance(self.dispatcher, LocalDispatcher):
            threads.append(threading.Thread(target=self._reaper_loop, name="reaper", daemon=True))
        log.info(
            "worker %s: queues %s, %s dispatch, lease %.0f s%s",
            self.name,
            ",".join(self.queues),
            self.dispatcher.kind,
            self.config.lease_seconds,
            ", burst" if self.burst else "",
        )
        backoff = 0.5
        last_repair = 0.0
        try:
            catalog.register_worker(self.name, socket.gethostname(), os.getpid(), self.queues)
            for t in threads:
                t.start()
            if not isinstance(self.dispatcher, LocalDispatcher):
                reap(catalog, self.dispatcher, lease=self.config.lease_seconds)
            while not self.stop_requested.is_set():
                try:
                    task = self.dispatcher.next_task(
                        catalog,
                        self.name,
                        self.queues,
                        self.config.lease_seconds,
                        self.poll_seconds,
                        kinds=self.kinds,
                    )
                    backoff = 0.5
                except getattr(self.dispatcher, "connection_errors", ()) as exc:
                    log.warning("queue unreachable (%s); retrying in %.1f s", exc, backoff)
                    self.stop_requested.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                except CatalogError as exc:
                    if self.stop_requested.is_set():
                        break
                    log.error("%s; retrying in %.1f s", exc, backoff)
                    self.stop_requested.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if task is None:
                    last_repair = self._repair(catalog, last_repair)
                    if self.burst and catalog.unfinished_tasks(queues=self.queues) == 0:
                        self._repair(catalog, 0.0)
                        log.info("worker %s: burst mode and nothing left to do", self.name)
                        break
                    continue
                if not self._run_task(catalog, task):
                    self.stop_requested.wait(backoff)  # the catalog refused a write: do not spin
                    backoff = min(backoff * 2, MAX_BACKOFF)
        except CatalogError as exc:
            if not self.stop_requested.is_set():
                raise
            log.warning(
                "worker %s: gave up on the catalog while stopping (%s); leases return its task",
                self.name,
                exc,
            )
        finally:
            self._hb_stop.set()
            for t in threads:
                if t.is_alive():
                    t.join(timeout=5)
            try:
                catalog.worker_stopped(self.name)
            except CatalogError as exc:
                log.warning("worker %s: stop not recorded in the catalog (%s)", self.name, exc)
            catalog.close()
            self.backend.close()
            if self._watchdog is not None:
                self._watchdog.cancel()
            log.info("worker %s stopped: %s", self.name, self.stats)
        return self.stats

    def _repair(self, catalog: Catalog, last: float) -> float:
        """When idle, at most every reaper interval: finalize complete datasets left unfinalized
        (a finalize that failed, or whose worker died). Returns the time of this pass."""
        now = time.monotonic()
        if RENDER_QUEUE not in self.queues or now - last < self.config.reaper_interval:
            return last
        try:
            finalize_pending(
                catalog,
                backend=self.backend,
                data_root=self.config.dataset_root,
                stale_after=self.config.lease_seconds,
            )
        except CatalogError as exc:
            log.warning("finalize repair: %s", exc)
        return now

    def _run_task(self, catalog: Catalog, task: Task) -> bool:
        """Run one claimed task and record its outcome; False when the catalog refused to
        record it (disk full, unreachable while stopping: the lease returns the task)."""
        self.lease_lost.clear()
        self.current = task
        t0 = time.perf_counter()
        gpu = task.kind in GPU_TASK_KINDS
        try:
            if task.kind not in self.kinds:
                raise ValueError(f"task {task.id}: kind {task.kind!r} is not served by queues {self.queues}")
            if gpu:
                result = run_gpu_task(
                    catalog,
                    task,
                    worker=self.name,
                    config=self.config,
                    should_stop=self.stop_requested.is_set,
                    lease_ok=lambda: not self.lease_lost.is_set(),
                )
                self.stats["done"] += 1
                log.info(
                    "task %d (%s run %r) done in %.1f s",
                    task.id,
                    task.kind,
                    result["run"],
                    time.perf_counter() - t0,
                )
                return True
            result = run_render_task(
                catalog,
                task,
                worker=self.name,
                data_root=self.config.dataset_root,
                backend=self.backend,
                should_stop=self.stop_requested.is_set,
                lease_ok=lambda: not self.lease_lost.is_set(),
            )
            self.stats["done"] += 1
            self.stats["rendered"] += result["rendered"]
            self.stats["reused"] += result["reused"]
            log.info(
                "task %d (%s) done in %.2f s: %d rendered, %d already on disk",
                task.id,
                task.payload,
                time.perf_counter() - t0,
                result["rendered"],
                result["reused"],
            )
            return True
        except StopRequested:
            self.current = None
            try:
                released = catalog.release_task(task.id, self.name)
                if released and gpu:
                    catalog.run_attempt_ended(task.id, RunState.QUEUED)
            except CatalogError as exc:
                log.warning("task %d: not released (%s); its lease returns it to the queue", task.id, exc)
                return False
            if released:
                self.stats["released"] += 1
                log.info("task %d released", task.id)
                try:
                    dispatch(catalog, self.dispatcher, [(task.id, task.queue)])
                except (DispatchError, CatalogError) as exc:
                    log.warning("task %d: %s; the reaper will dispatch it", task.id, exc)
            return True
        except TaskLost:
            self.stats["lost"] += 1
            log.warning("task %d: lease lost; another worker finishes it", task.id)
            return True
        except Exception as exc:  # noqa: BLE001 - any task failure is recorded on the task
            # A child's failure is explained by its log lines; our traceback would only push them out.
            err = (
                f"{type(exc).__name__}: {exc}"
                if isinstance(exc, (JobFailed, CatalogError))
                else f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
            )
            self.stats["failed"] += 1
            try:
                state = catalog.fail_task(task.id, self.name, err, self.config.retry_backoff)
                if gpu and state is not None:
                    ended = RunState.FAILED if state is TaskState.FAILED else RunState.RETRYING
                    catalog.run_attempt_ended(task.id, ended, err)
            except CatalogError as cexc:
                log.error(
                    "task %d attempt %d failed (%s: %s) and the failure could not be recorded (%s); "
                    "its lease returns it to the queue",
                    task.id,
                    task.attempts,
                    type(exc).__name__,
                    exc,
                    cexc,
                )
                return False
            log.error(
                "task %d attempt %d failed (%s: %s); now %s",
                task.id,
                task.attempts,
                type(exc).__name__,
                exc,
                state or "not ours",
            )
            return True
        finally:
            self.current = None


def run_one_task_by_id(task_id: int) -> None:
    """Claim and run one task in this process (used when a stock `rq worker` runs our jobs)."""
    config = FarmConfig.from_env()
    w = Worker(config, list(QUEUE_KINDS), dispatcher=LocalDispatcher())
    catalog = w.catalog_factory()
    try:
        task = catalog.claim(w.name, config.lease_seconds, task_id=task_id, queues=w.queues, kinds=w.kinds)
        if task is not None:
            w._run_task(catalog, task)
    finally:
        catalog.close()


def execute_task(task_id: int) -> None:  # pragma: no cover - run by a stock `rq worker` only
    """RQ job function (``dispatch.JOB_FUNC``): run one task by id in this process (the JSON
    payload is the id only)."""
    run_one_task_by_id(int(task_id))
