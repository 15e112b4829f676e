"""The ``tasks`` table: claiming with a lease, renewing, finishing, failing with backoff,
releasing, reaping expired leases, and the dispatch bookkeeping (which tasks RQ carries)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from synthreid.workers.catalog.values import CatalogError, TableMixin, Task, TaskState, dump_json, load_json

TASK_COLS = (
    "id, kind, queue, payload, dataset_id, character_id, n_images, state, attempts, "
    "max_attempts, worker, lease_until, last_error"
)


class TasksMixin(TableMixin):
    """Tasks and their leases (mixed into ``Catalog``)."""

    # ---- tasks -----------------------------------------------------------------------------
    def get_task(self, task_id: int) -> Task | None:
        row = self.run(
            lambda cur: self.q(cur, f"SELECT {TASK_COLS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        )
        return _task_row(row)

    def claim(
        self,
        worker: str,
        lease_seconds: float,
        *,
        task_id: int | None = None,
        queues: Sequence[str] = ("render",),
        kinds: Sequence[str] | None = None,
    ) -> Task | None:
        """Lease one task to ``worker``: the given id, or the oldest claimable one of ``queues``.

        Claimable: of one of ``queues`` (and ``kinds`` when given), and pending and due, running
        with an expired lease, or already leased to this worker (a retry after a lost
        connection). Returns None when nothing could be claimed.
        """
        now = time.time()
        cond = (
            "((state = 'pending' AND not_before <= ?) OR (state = 'running' AND "
            "(lease_until < ? OR worker = ?)))"
        )
        own = f"queue IN ({', '.join('?' * len(queues))})"
        own_params = list(queues)
        if kinds is not None:
            own += f" AND kind IN ({', '.join('?' * len(kinds)) or 'NULL'})"
            own_params += list(kinds)
        if task_id is not None:
            pick = f"SELECT id FROM tasks WHERE id = ? AND {own} AND {cond}"
            pick_params = [task_id, *own_params, now, now, worker]
        else:
            pick = f"SELECT id FROM tasks WHERE {own} AND {cond} ORDER BY id LIMIT 1"
            pick_params = [*own_params, now, now, worker]
        sql = (
            f"UPDATE tasks SET state = 'running', worker = ?, lease_until = ?, started_at = ?, "
            f"attempts = attempts + (CASE WHEN state = 'running' AND worker = ? THEN 0 ELSE 1 END) "
            f"WHERE id = ({pick} {self.skip_locked}) AND {cond} RETURNING {TASK_COLS}"
        )
        params = [worker, now + lease_seconds, now, worker, *pick_params, now, now, worker]
        return _task_row(self.run(lambda cur: self.q(cur, sql, params).fetchone()))

    def renew_lease(self, task_id: int, worker: str, lease_seconds: float) -> bool:
        """Extend this worker's lease; False when the task is no longer leased to it."""

        def fn(cur):
            c = self.q(
                cur,
                "UPDATE tasks SET lease_until = ? WHERE id = ? AND worker = ? AND state = 'running'",
                (time.time() + lease_seconds, task_id, worker),
            )
            return c.rowcount == 1

        return self.run(fn)

    def finish_render_task(self, task_id: int, worker: str, rows: dict[int, dict]) -> bool:
        """Mark the rendered images done and the task done in one transaction.

        ``rows``: image id -> label row (``image``, ``mask``, ``checksum``, ``bbox``). Only when the
        task is still leased to ``worker``; True also when it is already done (idempotent).
        """
        now = time.time()

        def fn(cur):
            state = self.q(cur, "SELECT state, worker FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if state is None:
                raise CatalogError(f"task {task_id}: not in the catalog")
            if state[0] == "done":
                return True
            if state[0] != "running" or state[1] != worker:
                return False
            cur.executemany(
                self._sql(
                    "UPDATE images SET state = 'done', path = ?, mask_path = ?, bbox = ?, checksum = ?, "
                    "rendered_at = ?, worker = ? WHERE id = ? AND state <> 'done'"
                ),
                [
                    (
                        r.get("image"),
                        r.get("mask"),
                        dump_json(r.get("bbox")),
                        r.get("checksum"),
                        now,
                        worker,
                        image_id,
                    )
                    for image_id, r in rows.items()
                ],
            )
            self.q(
                cur,
                "UPDATE tasks SET state = 'done', finished_at = ?, lease_until = NULL, last_error = NULL "
                "WHERE id = ?",
                (now, task_id),
            )
            self.q(cur, "UPDATE workers SET tasks_done = tasks_done + 1 WHERE name = ?", (worker,))
            return True

        return self.run(fn)

    def image_done(self, task_id: int, worker: str, image_id: int, row: dict) -> bool:
        """Record one rendered image of a running task (its label row: ``image``, ``mask``,
        ``checksum``, ``bbox``) as soon as its files are written, so progress is seen per image
        and a stopped task keeps what it rendered. False (nothing written) when the task is no
        longer leased to ``worker``."""
        now = time.time()

        def fn(cur):
            ours = self.q(
                cur,
                "SELECT 1 FROM tasks WHERE id = ? AND worker = ? AND state = 'running'",
                (task_id, worker),
            ).fetchone()
            if ours is None:
                return False
            self.q(
                cur,
                "UPDATE images SET state = 'done', path = ?, mask_path = ?, bbox = ?, checksum = ?, "
                "rendered_at = ?, worker = ? WHERE id = ? AND state <> 'done'",
                (
                    row.get("image"),
                    row.get("mask"),
                    dump_json(row.get("bbox")),
                    row.get("checksum"),
                    now,
                    worker,
                    image_id,
                ),
            )
            return True

        return self.run(fn)

    def release_running(self, dataset_id: int) -> int:
        """Give every running task of a dataset back (pending, the attempt not counted), for
        the one process that owns the dataset's workers (the embedded farm: a run whose workers
        were killed). Returns how many."""

        def fn(cur):
            return self.q(
                cur,
                "UPDATE tasks SET state = 'pending', lease_until = NULL, worker = NULL, "
                "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, dispatched_at = NULL "
                "WHERE dataset_id = ? AND state = 'running'",
                (dataset_id,),
            ).rowcount

        return self.run(fn)

    def fail_worker_tasks(self, worker: str, error: str) -> int:
        """Fail the running tasks of a worker that died (no retry in this run: ``resume_dataset``
        gives them fresh attempts); returns how many."""
        return self.run(
            lambda cur: (
                self.q(
                    cur,
                    "UPDATE tasks SET state = 'failed', last_error = ?, lease_until = NULL, finished_at = ? "
                    "WHERE worker = ? AND state = 'running'",
                    (error[-4000:], time.time(), worker),
                ).rowcount
            )
        )

    def failed_tasks(self, dataset_id: int) -> list[tuple[int, int, str]]:
        """(task id, character index, last error) of a dataset's failed tasks, by task id."""
        return [
            (int(r[0]), int(r[1]), r[2] or "")
            for r in self.run(
                lambda cur: self.q(
                    cur,
                    "SELECT t.id, c.idx, t.last_error FROM tasks t JOIN characters c ON c.id = t.character_id "
                    "WHERE t.dataset_id = ? AND t.state = 'failed' ORDER BY t.id",
                    (dataset_id,),
                ).fetchall()
            )
        ]

    def fail_task(self, task_id: int, worker: str, error: str, backoff: float) -> TaskState | None:
        """Record a failed attempt: back to pending after ``backoff * 2**(attempts-1)`` seconds, or
        failed for good once attempts reach max_attempts. Returns the new state (None if not ours)."""

        def fn(cur):
            row = self.q(
                cur,
                "SELECT attempts, max_attempts FROM tasks WHERE id = ? AND worker = ? AND state = 'running'",
                (task_id, worker),
            ).fetchone()
            if row is None:
                return None
            attempts, max_attempts = row
            error_text = error[-4000:]
            if attempts >= max_attempts:
                self.q(
                    cur,
                    "UPDATE tasks SET state = 'failed', last_error = ?, lease_until = NULL, "
                    "finished_at = ? WHERE id = ?",
                    (error_text, time.time(), task_id),
                )
                return TaskState.FAILED
            delay = backoff * 2 ** max(attempts - 1, 0)
            self.q(
                cur,
                "UPDATE tasks SET state = 'pending', last_error = ?, lease_until = NULL, worker = NULL, "
                "not_before = ?, dispatched_at = NULL WHERE id = ?",
                (error_text, time.time() + delay, task_id),
            )
            return TaskState.PENDING

        return self.run(fn)

    def release_task(self, task_id: int, worker: str) -> bool:
        """Give a leased task back unfinished (graceful stop); the attempt is not counted."""

        def fn(cur):
            c = self.q(
                cur,
                "UPDATE tasks SET state = 'pending', lease_until = NULL, worker = NULL, "
                "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, dispatched_at = ? "
                "WHERE id = ? AND worker = ? AND state = 'running'",
                (time.time(), task_id, worker),
            )
            return c.rowcount == 1

        return self.run(fn)

    def reap(self) -> list[tuple[int, str]]:
        """Expired leases back to pending (or failed when out of attempts) and due, undispatched
        pending tasks marked dispatched. Returns the (task id, queue) pairs to dispatch now."""
        now = time.time()

        def fn(cur):
            self.q(
                cur,
                "UPDATE tasks SET state = 'failed', finished_at = ?, lease_until = NULL, "
                "last_error = 'lease expired after the last attempt (worker ' || COALESCE(worker, 'unknown') || ' lost)' "
                "WHERE state = 'running' AND lease_until < ? AND attempts >= max_attempts",
                (now, now),
            )
            self.q(
                cur,
                "UPDATE tasks SET state = 'pending', dispatched_at = NULL, lease_until = NULL, "
                "last_error = 'lease expired (worker ' || COALESCE(worker, 'unknown') || ' lost)', worker = NULL "
                "WHERE state = 'running' AND lease_until < ?",
                (now,),
            )
            rows = self.q(
                cur,
                "UPDATE tasks SET dispatched_at = ? WHERE state = 'pending' AND not_before <= ? "
                "AND dispatched_at IS NULL RETURNING id, queue",
                (now, now),
            ).fetchall()
            return sorted(tuple(r) for r in rows)

        return self.run(fn)

    def stale_queued(self, older_than: float, limit: int = 1000) -> list[tuple[int, str]]:
        """Up to ``limit`` due pending tasks sent to the queue more than ``older_than`` s ago
        (their job may be lost); their send time is set to now, so concurrent reapers check
        disjoint sets and each task is looked at again only after another ``older_than``."""
        now = time.time()

        def fn(cur):
            rows = self.q(
                cur,
                f"UPDATE tasks SET dispatched_at = ? WHERE id IN (SELECT id FROM tasks WHERE "
                f"state = 'pending' AND not_before <= ? AND dispatched_at < ? ORDER BY dispatched_at "
                f"LIMIT ? {self.skip_locked}) AND state = 'pending' RETURNING id, queue",
                (now, now, now - older_than, limit),
            ).fetchall()
            return sorted(tuple(r) for r in rows)

        return self.run(fn)

    def queued_count(self, older_than: float = 0.0) -> tuple[int, int]:
        """(due pending tasks sent to a queue, of them sent more than ``older_than`` s ago)."""
        now = time.time()

        def fn(cur):
            return tuple(
                int(v or 0)
                for v in self.q(
                    cur,
                    "SELECT COUNT(*), SUM(CASE WHEN dispatched_at < ? THEN 1 ELSE 0 END) FROM tasks "
                    "WHERE state = 'pending' AND not_before <= ? AND dispatched_at IS NOT NULL",
                    (now - older_than, now),
                ).fetchone()
            )

        return self.run(fn)

    def undispatch(self, task_ids: Sequence[int]) -> None:
        """Forget that tasks were dispatched (the queue could not take them); the reaper retries."""
        if task_ids:
            self.run(
                lambda cur: cur.executemany(
                    self._sql("UPDATE tasks SET dispatched_at = NULL WHERE id = ? AND state = 'pending'"),
                    [(i,) for i in task_ids],
                )
            )

    def mark_dispatched(self, task_ids: Sequence[int]) -> None:
        if task_ids:
            now = time.time()
            self.run(
                lambda cur: cur.executemany(
                    self._sql("UPDATE tasks SET dispatched_at = ? WHERE id = ?"), [(now, i) for i in task_ids]
                )
            )

    def redispatchable(self) -> list[tuple[int, str]]:
        """For reconcile: every due pending task and every running one whose lease expired."""
        now = time.time()

        def fn(cur):
            self.q(
                cur,
                "UPDATE tasks SET dispatched_at = NULL WHERE state = 'pending' AND not_before > ?",
                (now,),
            )
            rows = self.q(
                cur,
                "UPDATE tasks SET dispatched_at = ? WHERE (state = 'pending' AND not_before <= ?) "
                "OR (state = 'running' AND lease_until < ?) RETURNING id, queue",
                (now, now, now),
            ).fetchall()
            return sorted(tuple(r) for r in rows)

        return self.run(fn)


def _task_row(row) -> Task | None:
    if row is None:
        return None
    vals = list(row)
    vals[3] = load_json(vals[3])
    vals[7] = TaskState(vals[7])
    return Task(*vals)
