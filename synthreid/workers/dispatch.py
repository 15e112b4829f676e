"""Dispatch: how workers learn about tasks.

``RQDispatcher`` (the farm): one RQ job per task, carrying only the task id, serialized with
RQ's JSON serializer (never pickle). Job ids are deterministic (``synthreid-task-ID``), so the
reaper can ask Redis whether a task's job still exists and re-send the ones Redis lost. Workers
pop job ids from the RQ queues and claim the task in the catalog; the catalog stays the truth,
so a duplicate or stale job is harmless. A message that is not one of ours (undecodable,
another function, no task id, a task of another queue) is logged, copied to the dead-letter
list ``synthreid-dead-letter`` and skipped: it never stops a worker and is never executed.

``LocalDispatcher`` (embedded default, no Redis): nothing is sent; workers claim the oldest
claimable task straight from the catalog.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence

from synthreid.errors import SynthreidError
from synthreid.workers.catalog import Catalog, Task
from synthreid.workers.config import mask_url

log = logging.getLogger(__name__)

JOB_FUNC = "synthreid.workers.worker.execute_task"
# Where JOB_FUNC lived before; jobs already in Redis under that name are still ours.
LEGACY_JOB_FUNCS = ("synthreid.workers.tasks.execute_task",)
QUEUE_PREFIX = "synthreid-"
JOB_ID_PREFIX = "synthreid-task-"
DEAD_LETTER = "synthreid-dead-letter"
DEAD_LETTER_MAX = 10_000  # newest entries kept
SEND_BATCH = 1000
MEMBERSHIP_MAX = 200_000  # queue length up to which the reaper checks job ids against the queue


class DispatchError(SynthreidError):
    """The queue (Redis) could not be reached."""


def job_id(task_id: int) -> str:
    return f"{JOB_ID_PREFIX}{int(task_id)}"


class LocalDispatcher:
    kind = "local"

    def send(self, tasks: Sequence[tuple[int, str]]) -> int:
        return len(tasks)

    def next_task(
        self,
        catalog: Catalog,
        worker: str,
        queues: Sequence[str],
        lease: float,
        timeout: float,
        kinds: Sequence[str] | None = None,
    ) -> Task | None:
        task = catalog.claim(worker, lease, queues=queues, kinds=kinds)
        if task is None:
            time.sleep(min(timeout, 1.0))
        return task

    def missing(self, task_ids: Sequence[int]) -> list[int]:
        return []

    def queue_lengths(self, queues: Sequence[str]) -> dict[str, int]:
        return {}

    def dead_letters(self) -> int:
        return 0

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


class Malformed(Exception):
    """A queue message that is not a job of ours (the reason is the message)."""


class Foreign(Malformed):
    """A well-formed job of another queue pushed onto ours: its hash belongs to that queue."""


class RQDispatcher:
    kind = "rq"

    def __init__(self, url: str):
        import redis

        self.url = url
        self.redis = redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=15
        )
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
                for start in range(0, len(ids), SEND_BATCH):
                    chunk = [
                        Queue.prepare_data(
                            JOB_FUNC,
                            args=(i,),
                            result_ttl=0,
                            failure_ttl=86400,
                            description=f"task {i}",
                            job_id=job_id(i),
                        )
                        for i in dict.fromkeys(ids[start : start + SEND_BATCH])
                    ]
                    q.enqueue_many(chunk)
        except self.connection_errors as exc:
            raise DispatchError(f"Redis at {self._where()} unreachable: {exc}") from exc
        return len(tasks)

    def missing(self, task_ids: Sequence[int]) -> list[int]:
        """The task ids among ``task_ids`` whose job is not in Redis (lost, flushed, popped by a
        worker that died before claiming); raises DispatchError when Redis is unreachable.

        A job hash is not enough: a worker killed between popping the id from its queue and
        deleting the hash leaves a hash no queue refers to. So the ids of the queues holding
        those hashes are read too (queues up to ``MEMBERSHIP_MAX`` long; a longer queue's
        hashes are trusted, and a job popped there by a dying worker waits for `reconcile`)."""
        from rq.job import Job

        if not task_ids:
            return []
        try:
            pipe = self.redis.pipeline(transaction=False)
            for i in task_ids:
                pipe.hget(Job.key_for(job_id(i)), "origin")
            origins = pipe.execute()
            lost = [i for i, o in zip(task_ids, origins, strict=True) if o is None]
            queued: dict[str, set[bytes] | None] = {}
            for i, o in zip(task_ids, origins, strict=True):
                if o is None:
                    continue
                name = o.decode("utf-8", "replace") if isinstance(o, bytes) else str(o)
                if name not in queued:
                    queued[name] = self._queue_ids(name)
                ids = queued[name]
                if ids is not None and job_id(i).encode() not in ids:
                    lost.append(i)
        except self.connection_errors as exc:
            raise DispatchError(f"Redis at {self._where()} unreachable: {exc}") from exc
        return sorted(lost)

    def _queue_ids(self, origin: str) -> set[bytes] | None:
        """The job ids in RQ queue ``origin`` (its full name), or None when it is longer than
        ``MEMBERSHIP_MAX`` (reading it whole on every reaper pass would cost too much)."""
        key = f"rq:queue:{origin}"
        if int(self.redis.llen(key)) > MEMBERSHIP_MAX:
            return None
        return {x if isinstance(x, bytes) else str(x).encode() for x in self.redis.lrange(key, 0, -1)}

    def queue_lengths(self, queues: Sequence[str]) -> dict[str, int]:
        try:
            return {q: int(self.redis.llen(self._queue(q).key)) for q in queues}
        except self.connection_errors as exc:
            raise DispatchError(f"Redis at {self._where()} unreachable: {exc}") from exc

    def dead_letters(self) -> int:
        try:
            return int(self.redis.llen(DEAD_LETTER))
        except self.connection_errors as exc:
            raise DispatchError(f"Redis at {self._where()} unreachable: {exc}") from exc

    def next_task(
        self,
        catalog: Catalog,
        worker: str,
        queues: Sequence[str],
        lease: float,
        timeout: float,
        kinds: Sequence[str] | None = None,
    ) -> Task | None:
        """Block up to ``timeout`` s for a job, then claim its task. Redis errors propagate
        (the worker backs off and reconnects); a malformed or foreign message is dead-lettered."""
        from rq import Queue
        from rq.exceptions import DequeueTimeout

        keys = {self._queue(q).key: q for q in queues}
        try:
            key, raw_id = Queue.lpop(list(keys), max(1, int(timeout)), connection=self.redis)
        except DequeueTimeout:
            return None
        key = key.decode() if isinstance(key, bytes) else key
        queue = keys.get(key, key)
        try:
            task_id = self._decode(raw_id, QUEUE_PREFIX + queue)
        except self.connection_errors:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a hostile message does, the worker lives
            self.dead_letter(
                queue, raw_id, f"{type(exc).__name__}: {exc}", keep_hash=isinstance(exc, Foreign)
            )
            return None
        if task_id is None:
            return None
        task = catalog.claim(worker, lease, task_id=task_id, queues=queues, kinds=kinds)
        if task is None:
            other = catalog.get_task(task_id)
            if other is not None and (
                other.queue not in queues or (kinds is not None and other.kind not in kinds)
            ):
                # Never run another queue's task here: its own worker takes it from its own queue
                # (the reaper re-sends it there if its job is gone).
                self.dead_letter(
                    queue,
                    raw_id,
                    f"task {task_id} is a {other.kind!r} task of queue "
                    f"{other.queue!r}, not of {','.join(queues)}",
                    keep_hash=True,
                )
            else:
                log.debug("task %d: not claimable (done, or leased to a live worker); job dropped", task_id)
        return task

    def _decode(self, raw_id, origin: str) -> int | None:
        """Task id of a popped job id (its job hash is deleted), None for a stale id. Raises
        Malformed (or whatever RQ raises on a broken job) for anything not ours."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        jid = raw_id.decode("utf-8") if isinstance(raw_id, bytes) else str(raw_id)
        try:
            job = Job.fetch(jid, connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            if self.redis.exists(Job.key_for(jid)):
                raise Malformed("job hash without RQ's fields") from None
            log.debug("job %s: gone (already taken); dropped", jid)
            return None
        if job.origin and job.origin != origin:
            raise Foreign(f"job of queue {job.origin!r} found on {origin!r}")
        if job.func_name != JOB_FUNC and job.func_name not in LEGACY_JOB_FUNCS:
            raise Malformed(f"job function {job.func_name!r} is not {JOB_FUNC}")
        args = job.args
        if (
            not isinstance(args, (list, tuple))
            or len(args) != 1
            or isinstance(args[0], bool)
            or not isinstance(args[0], int)
            or args[0] <= 0
        ):
            raise Malformed(f"job arguments {args!r:.100}: expected one task id")
        job.delete(remove_from_queue=False)
        return int(args[0])

    def dead_letter(self, queue: str, raw_id, reason: str, keep_hash: bool = False) -> None:
        """Log a bad message and move it to the dead-letter list (bounded) with its job hash."""
        from rq.job import Job

        jid = raw_id.decode("utf-8", "backslashreplace") if isinstance(raw_id, bytes) else str(raw_id)
        log.warning("queue %s: message %r skipped and dead-lettered: %s", queue, jid[:200], reason[:500])
        entry = {"queue": queue, "job_id": jid[:1000], "reason": reason[:2000], "at": time.time()}
        try:
            key = Job.key_for(jid[:1000])
            if self.redis.type(key) in (b"hash", "hash"):
                fields = self.redis.hgetall(key)
                entry["hash"] = {_text(k, 200): _text(v, 2000) for k, v in list(fields.items())[:40]}
            pipe = self.redis.pipeline()
            pipe.lpush(DEAD_LETTER, json.dumps(entry))
            pipe.ltrim(DEAD_LETTER, 0, DEAD_LETTER_MAX - 1)
            if not keep_hash:
                pipe.delete(key)
            pipe.execute()
        except self.connection_errors:
            raise
        except Exception as exc:  # noqa: BLE001 - the message is skipped either way
            log.warning("queue %s: could not dead-letter %r: %s", queue, jid[:200], exc)

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
        return mask_url(self.url)

    def close(self) -> None:
        self.redis.close()


def _text(v, limit: int) -> str:
    s = v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v)
    return s[:limit]


def make_dispatcher(config):
    return RQDispatcher(config.redis_url) if config.redis_url else LocalDispatcher()


def _batches(tasks: Iterable[tuple[int, str]], size: int) -> Iterable[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    for t in tasks:
        batch.append((int(t[0]), t[1]))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def dispatch(catalog: Catalog, dispatcher, tasks: Iterable[tuple[int, str]], batch: int = 10_000) -> int:
    """Send tasks in batches (memory stays flat for any number); if the queue is down, mark the
    unsent ones undispatched so a reaper sends them later and raise DispatchError."""
    if dispatcher.kind == "local":  # workers claim from the catalog; nothing to send or mark
        return sum(1 for _ in tasks)
    n = 0
    for chunk in _batches(tasks, batch):
        ids = [t for t, _ in chunk]
        catalog.mark_dispatched(ids)
        try:
            dispatcher.send(chunk)
        except DispatchError:
            catalog.undispatch(ids)
            raise
        n += len(chunk)
    return n
