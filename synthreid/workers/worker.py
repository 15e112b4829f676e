"""The worker: a long-lived process that claims tasks, renews their leases and runs them.

One process keeps one RenderSession (bpy imported once, the room kept between characters).
SIGTERM/SIGINT: the current image is finished, then the task is released for another worker
(a second signal exits at once; the lease then bounds recovery). A gpu task's child process
is terminated at once and its task released (refine and benchmark runs resume from their
last checkpoint). Lost Postgres connections
are retried inside the catalog; lost Redis connections here, both with capped backoff.
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

from synthreid.workers.catalog import Catalog, Task, open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.dispatch import DispatchError, LocalDispatcher, dispatch, make_dispatcher
from synthreid.workers.gpu_tasks import JobFailed, run_gpu_task
from synthreid.workers.jobs import GPU_TASK_KINDS
from synthreid.workers.reaper import reap
from synthreid.workers.tasks import RenderBackend, StopRequested, TaskLost, run_render_task

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs tasks of ``queues`` until stopped (or, with ``burst``, until none is unfinished)."""

    def __init__(self, config: FarmConfig, queues: Sequence[str] = ("render",), *, burst: bool = False,
                 backend: RenderBackend | None = None, catalog_factory: Callable[[], Catalog] | None = None,
                 dispatcher=None, name: str | None = None, poll_seconds: float = 2.0):
        self.config = config
        self.queues = list(queues)
        self.burst = burst
        self.backend = backend or RenderBackend()
        self.catalog_factory = catalog_factory or (lambda: open_catalog(config, retry_for=float("inf")))
        self.dispatcher = dispatcher if dispatcher is not None else make_dispatcher(config)
        self.name = name or worker_name()
        self.poll_seconds = poll_seconds
        self.stop_requested = threading.Event()
        self.current: Task | None = None
        self.lease_lost = threading.Event()
        self.stats = {"done": 0, "failed": 0, "released": 0, "lost": 0, "rendered": 0, "reused": 0}
        self._hb_stop = threading.Event()

    # ---- signals and heartbeat ---------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def handler(signum, frame):
            if self.stop_requested.is_set():
                log.warning("worker %s: second signal, exiting now", self.name)
                raise SystemExit(128 + signum)
            log.info("worker %s: %s received; finishing the current image, then stopping",
                     self.name, signal.Signals(signum).name)
            self.stop_requested.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

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
    def run(self) -> dict:
        catalog = self.catalog_factory()
        catalog.register_worker(self.name, socket.gethostname(), os.getpid(), self.queues)
        hb = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        hb.start()
        log.info("worker %s: queues %s, %s dispatch, lease %.0f s%s", self.name, ",".join(self.queues),
                 self.dispatcher.kind, self.config.lease_seconds, ", burst" if self.burst else "")
        next_reap = 0.0
        backoff = 0.5
        try:
            while not self.stop_requested.is_set():
                if not isinstance(self.dispatcher, LocalDispatcher) and time.monotonic() >= next_reap:
                    reap(catalog, self.dispatcher)
                    next_reap = time.monotonic() + self.config.reaper_interval
                try:
                    task = self.dispatcher.next_task(catalog, self.name, self.queues, self.config.lease_seconds,
                                                     self.poll_seconds)
                    backoff = 0.5
                except getattr(self.dispatcher, "connection_errors", ()) as exc:
                    log.warning("queue unreachable (%s); retrying in %.1f s", exc, backoff)
                    self.stop_requested.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if task is None:
                    if self.burst and catalog.unfinished_tasks(queues=self.queues) == 0:
                        log.info("worker %s: burst mode and nothing left to do", self.name)
                        break
                    continue
                self._run_task(catalog, task)
        finally:
            self._hb_stop.set()
            hb.join(timeout=5)
            catalog.worker_stopped(self.name)
            catalog.close()
            log.info("worker %s stopped: %s", self.name, self.stats)
        return self.stats

    def _run_task(self, catalog: Catalog, task: Task) -> None:
        self.lease_lost.clear()
        self.current = task
        t0 = time.perf_counter()
        gpu = task.kind in GPU_TASK_KINDS
        try:
            if gpu:
                result = run_gpu_task(catalog, task, worker=self.name, config=self.config,
                                      should_stop=self.stop_requested.is_set,
                                      lease_ok=lambda: not self.lease_lost.is_set())
                self.stats["done"] += 1
                log.info("task %d (%s run %r) done in %.1f s", task.id, task.kind, result["run"],
                         time.perf_counter() - t0)
                return
            if task.kind != "render_character":
                raise ValueError(f"task {task.id}: unknown kind {task.kind!r}")
            result = run_render_task(catalog, task, worker=self.name, data_root=self.config.dataset_root,
                                     backend=self.backend, should_stop=self.stop_requested.is_set,
                                     lease_ok=lambda: not self.lease_lost.is_set())
            self.stats["done"] += 1
            self.stats["rendered"] += result["rendered"]
            self.stats["reused"] += result["reused"]
            log.info("task %d (%s) done in %.2f s: %d rendered, %d already on disk", task.id,
                     task.payload, time.perf_counter() - t0, result["rendered"], result["reused"])
        except StopRequested:
            self.current = None
            if catalog.release_task(task.id, self.name):
                self.stats["released"] += 1
                if gpu:
                    catalog.run_attempt_ended(task.id, "queued")
                log.info("task %d released", task.id)
                try:
                    dispatch(catalog, self.dispatcher, [(task.id, task.queue)])
                except DispatchError as exc:
                    log.warning("task %d: %s; the reaper will dispatch it", task.id, exc)
        except TaskLost:
            self.stats["lost"] += 1
            log.warning("task %d: lease lost; another worker finishes it", task.id)
        except Exception as exc:  # noqa: BLE001 - any task failure is recorded on the task
            # A child's failure is explained by its log lines; our traceback would only push them out.
            err = (f"{type(exc).__name__}: {exc}" if isinstance(exc, JobFailed)
                   else f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
            state = catalog.fail_task(task.id, self.name, err, self.config.retry_backoff)
            if gpu and state:
                catalog.run_attempt_ended(task.id, "failed" if state == "failed" else "retrying", err)
            self.stats["failed"] += 1
            log.error("task %d attempt %d failed (%s: %s); now %s", task.id, task.attempts,
                      type(exc).__name__, exc, state or "not ours")
        finally:
            self.current = None


def run_one_task_by_id(task_id: int) -> None:
    """Claim and run one task in this process (used when a stock `rq worker` runs our jobs)."""
    config = FarmConfig.from_env()
    w = Worker(config, dispatcher=LocalDispatcher())
    catalog = w.catalog_factory()
    try:
        task = catalog.claim(w.name, config.lease_seconds, task_id=task_id)
        if task is not None:
            w._run_task(catalog, task)
    finally:
        catalog.close()
