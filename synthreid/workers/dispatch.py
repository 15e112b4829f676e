"""Dispatch: how workers learn about tasks.

``RQDispatcher`` (the farm): one RQ job per task, carrying only the task id, serialized with
RQ's JSON serializer (never pickle). Workers pop job ids from the RQ queues and claim the
task in the catalog; the catalog stays the truth, so a duplicate or stale job is harmless.

``LocalDispatcher`` (embedded default, no Redis): nothing is sent; workers claim the oldest
claimable task straight from the catalog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from synthreid.errors import SynthreidError
from synthreid.workers.catalog import Catalog, Task

log = logging.getLogger(__name__)

JOB_FUNC = "synthreid.workers.tasks.execute_task"
QUEUE_PREFIX = "synthreid-"


class DispatchError(SynthreidError):
    """The queue (Redis) could not be reached."""


class LocalDispatcher:
    kind = "local"

    def send(self, tasks: Sequence[tuple[int, str]]) -> int:
        return len(tasks)

    def next_task(self, catalog: Catalog, worker: str, queues: Sequence[str], lease: float,
                  timeout: float) -> Task | None:
        task = catalog.claim(worker, lease, queues=queues)
        if task is None:
            time.sleep(min(timeout, 1.0))
        return task

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


class RQDispatcher:
    kind = "rq"

    def __init__(self, url: str):
        import redis

        self.url = url
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30,
                                          health_check_interval=15)
        self.connection_errors = (redis.ConnectionError, redis.TimeoutError)

    def _queue(self, name: str):
        from rq import Queue
        from rq.serializers import JSONSerializer

        return Queue(QUEUE_PREFIX + name, connection=self.redis, serializer=JSONSerializer)

    def send(self, tasks: Sequence[tuple[int, str]]) -> int:
        """Put one job per task id on its queue; raises DispatchError when Redis is unreachable."""
        from rq import Queue

        by_queue: dict[str, list[int]] = {}
        for task_id, queue in tasks:
            by_queue.setdefault(queue, []).append(int(task_id))
        try:
            for queue, ids in by_queue.items():
                q = self._queue(queue)
                for start in range(0, len(ids), 1000):
                    chunk = [Queue.prepare_data(JOB_FUNC, args=(i,), result_ttl=0, failure_ttl=86400,
                                                description=f"task {i}") for i in ids[start:start + 1000]]
                    q.enqueue_many(chunk)
        except self.connection_errors as exc:
            raise DispatchError(f"Redis at {self._where()} unreachable: {exc}") from exc
        return len(tasks)

    def next_task(self, catalog: Catalog, worker: str, queues: Sequence[str], lease: float,
                  timeout: float) -> Task | None:
        """Block up to ``timeout`` s for a job, then claim its task. Redis errors propagate
        (the worker backs off and reconnects)."""
        from rq import Queue
        from rq.exceptions import DequeueTimeout, NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        keys = [self._queue(q).key for q in queues]
        try:
            _, job_id = Queue.lpop(keys, max(1, int(timeout)), connection=self.redis)
        except DequeueTimeout:
            return None
        job_id = job_id.decode() if isinstance(job_id, bytes) else job_id
        try:
            job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return None
        task_id = int(job.args[0])
        job.delete(remove_from_queue=False)
        task = catalog.claim(worker, lease, task_id=task_id)
        if task is None:
            log.debug("task %d: not claimable (done, or leased to a live worker); job dropped", task_id)
        return task

    def clear(self, queues: Sequence[str] = ("render", "gpu")) -> None:
        """Empty our queues (reconcile rebuilds them from the catalog)."""
        try:
            for q in queues:
                self._queue(q).empty()
        except self.connection_errors as exc:
            raise DispatchError(f"Redis at {self._where()} unreachable: {exc}") from exc

    def ping(self) -> None:
        try:
            self.redis.ping()
        except self.connection_errors as exc:
            raise DispatchError(f"Redis at {self._where()} unreachable: {exc}") from exc

    def _where(self) -> str:
        return self.url.split("@")[-1]

    def close(self) -> None:
        self.redis.close()


def make_dispatcher(config):
    return RQDispatcher(config.redis_url) if config.redis_url else LocalDispatcher()


def dispatch(catalog: Catalog, dispatcher, tasks: Sequence[tuple[int, str]]) -> int:
    """Send tasks; if the queue is down, mark them undispatched so a reaper sends them later."""
    if not tasks:
        return 0
    catalog.mark_dispatched([t for t, _ in tasks])
    try:
        return dispatcher.send(tasks)
    except DispatchError:
        catalog.undispatch([t for t, _ in tasks])
        raise
