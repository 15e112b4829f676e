"""The ``workers`` table: who is alive (heartbeats), on which queues, doing which task."""

from __future__ import annotations

import time
from collections.abc import Sequence

from synthreid.workers.catalog.values import TableMixin


class WorkersMixin(TableMixin):
    """Worker registrations and heartbeats (mixed into ``Catalog``)."""

    # ---- workers ---------------------------------------------------------------------------
    def register_worker(self, name: str, host: str, pid: int, queues: Sequence[str]) -> None:
        now = time.time()

        def fn(cur):
            self.q(cur, "DELETE FROM workers WHERE name = ?", (name,))
            self.q(
                cur,
                "INSERT INTO workers (name, host, pid, queues, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, host, pid, ",".join(queues), now, now),
            )

        self.run(fn)

    def heartbeat(self, name: str, task_id: int | None) -> None:
        self.run(
            lambda cur: self.q(
                cur,
                "UPDATE workers SET heartbeat_at = ?, task_id = ? WHERE name = ?",
                (time.time(), task_id, name),
            )
        )

    def worker_stopped(self, name: str) -> None:
        self.run(
            lambda cur: self.q(
                cur, "UPDATE workers SET stopped_at = ?, task_id = NULL WHERE name = ?", (time.time(), name)
            )
        )

    def live_workers(self, within: float) -> list[dict]:
        def fn(cur):
            rows = self.q(
                cur,
                "SELECT name, host, pid, queues, heartbeat_at, task_id, tasks_done FROM workers "
                "WHERE heartbeat_at >= ? AND stopped_at IS NULL ORDER BY name",
                (time.time() - within,),
            ).fetchall()
            keys = ("name", "host", "pid", "queues", "heartbeat_at", "task_id", "tasks_done")
            return [dict(zip(keys, r, strict=True)) for r in rows]

        return self.run(fn)
