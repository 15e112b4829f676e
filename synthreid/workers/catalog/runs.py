"""The ``runs`` table (design §3): refiner and re-ID runs with config, inputs, metrics (JSON)
and artifact paths; for runs done as farm tasks also the state of their latest task, its
progress and last error (migration 0003).

A run done in the farm is named after its folder ``DATA_DIR/runs/NAME``; only the worker
records runs (``finish_gpu_task``); ``record_run`` without a name matches a run by its folder.
Mixed into ``Catalog``: every public method is one transaction through ``self.run``.
"""

from __future__ import annotations

import os
import time

from synthreid.errors import DatasetError
from synthreid.workers.catalog.values import (
    ACTIVE_TASK_STATES,
    CatalogError,
    RunState,
    TableMixin,
    dump_json,
    load_json,
)

RUN_KEYS = (
    "id",
    "name",
    "kind",
    "state",
    "config",
    "inputs",
    "metrics",
    "artifacts",
    "run_dir",
    "task_id",
    "progress",
    "error",
    "created_at",
    "updated_at",
    "finished_at",
)


def _common_dir(artifacts: dict | None) -> str | None:
    """The folder holding every artifact (the run folder), or None."""
    paths = [os.path.dirname(str(p)) for p in (artifacts or {}).values() if p]
    if not paths:
        return None
    try:
        return os.path.commonpath(paths)
    except ValueError:  # relative and absolute paths mixed
        return None


class RunsMixin(TableMixin):
    """Runs and gpu tasks (mixed into ``Catalog``)."""

    # ---- submit -----------------------------------------------------------------------------
    def create_gpu_task(
        self, *, kind: str, queue: str, payload: dict, run_name: str, run_kind: str, max_attempts: int
    ) -> tuple[int, str]:
        """Insert a task and point run ``run_name`` at it (state queued), in one transaction.

        Raises CatalogError when the run is of another kind or still has a pending or running
        task. Returns the (task id, queue) pair to dispatch.
        """

        def fn(cur):
            now = time.time()
            row = self.q(
                cur,
                "SELECT r.id, r.kind, t.id, t.state FROM runs r LEFT JOIN tasks t ON t.id = r.task_id "
                "WHERE r.name = ?",
                (run_name,),
            ).fetchone()
            if row is not None:
                if row[1] != run_kind:
                    raise CatalogError(f"run {run_name!r} is a {row[1]} run, not a {run_kind} run")
                if row[3] in ACTIVE_TASK_STATES:
                    raise CatalogError(
                        f"run {run_name!r}: task {row[2]} is still {row[3]}; wait for it "
                        "(`synthreid status`) before submitting more work on this run"
                    )
            task_id = self.q(
                cur,
                "INSERT INTO tasks (kind, queue, payload, max_attempts, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (kind, queue, dump_json(payload), max_attempts, now),
            ).fetchone()[0]
            if row is None:
                self.q(
                    cur,
                    "INSERT INTO runs (name, kind, config, inputs, state, task_id, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                    (run_name, run_kind, "{}", "{}", task_id, now, now),
                )
            else:
                self.q(
                    cur,
                    "UPDATE runs SET state = 'queued', task_id = ?, error = NULL, progress = NULL, "
                    "updated_at = ? WHERE id = ?",
                    (task_id, now, row[0]),
                )
            return int(task_id), queue

        return self.run(fn)

    # ---- while a task runs ------------------------------------------------------------------
    def start_run(self, name: str, task_id: int, run_dir: str) -> None:
        """Mark the run running in ``run_dir`` (an older record of that folder is detached)."""

        def fn(cur):
            now = time.time()
            self.q(
                cur,
                "UPDATE runs SET run_dir = NULL WHERE run_dir = ? AND (name IS NULL OR name <> ?)",
                (run_dir, name),
            )
            self.q(
                cur,
                "UPDATE runs SET state = 'running', run_dir = ?, updated_at = ? WHERE name = ? AND task_id = ?",
                (run_dir, now, name, task_id),
            )

        self.run(fn)

    def set_run_progress(self, name: str, progress: dict | None) -> None:
        self.run(
            lambda cur: self.q(
                cur,
                "UPDATE runs SET progress = ?, updated_at = ? WHERE name = ?",
                (None if progress is None else dump_json(progress), time.time(), name),
            )
        )

    def run_attempt_ended(self, task_id: int, state: RunState, error: str | None = None) -> None:
        """A gpu task's attempt ended without success: ``state`` is queued (released), retrying or failed."""
        state = RunState(state)  # ValueError naming the value when it is no run state
        self.run(
            lambda cur: self.q(
                cur,
                "UPDATE runs SET state = ?, error = COALESCE(?, error), updated_at = ? WHERE task_id = ?",
                (state.value, error, time.time(), task_id),
            )
        )

    # ---- results ----------------------------------------------------------------------------
    def _upsert_run(
        self,
        cur,
        *,
        kind,
        config=None,
        inputs=None,
        metrics=None,
        artifacts=None,
        name=None,
        run_dir=None,
        state=None,
        task_id=None,
    ) -> int:
        now = time.time()
        row = None
        if name is not None:
            row = self.q(cur, "SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
        if row is None and run_dir:
            row = self.q(cur, "SELECT id FROM runs WHERE run_dir = ?", (run_dir,)).fetchone()
        finished = now if state in (None, "done") else None
        if row is None:
            return int(
                self.q(
                    cur,
                    "INSERT INTO runs (name, kind, config, inputs, metrics, artifacts, run_dir, state, "
                    "task_id, created_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id",
                    (
                        name,
                        kind,
                        dump_json(config or {}),
                        dump_json(inputs or {}),
                        None if metrics is None else dump_json(metrics),
                        None if artifacts is None else dump_json(artifacts),
                        run_dir,
                        state or "done",
                        task_id,
                        now,
                        now,
                        finished,
                    ),
                ).fetchone()[0]
            )
        run_id = int(row[0])
        sets, params = ["kind = ?", "updated_at = ?"], [kind, now]
        for col, val in (
            ("config", config),
            ("inputs", inputs),
            ("metrics", metrics),
            ("artifacts", artifacts),
        ):
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(dump_json(val))
        if run_dir:
            self.q(cur, "UPDATE runs SET run_dir = NULL WHERE run_dir = ? AND id <> ?", (run_dir, run_id))
            sets.append("run_dir = ?")
            params.append(run_dir)
        if state is not None:
            sets += ["state = ?", "finished_at = ?"]
            params += [state, finished]
            if state == "done":
                sets.append("error = NULL")
        self.q(cur, f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", (*params, run_id))
        return run_id

    def record_run(
        self,
        kind: str,
        config: dict | None = None,
        inputs: dict | None = None,
        metrics: dict | None = None,
        artifacts: dict | None = None,
        *,
        name: str | None = None,
        run_dir: str | None = None,
        state: str | None = None,
    ) -> int:
        """Insert or update a run; returns its id.

        Matched by ``name`` if given, else by ``run_dir`` (default: the folder holding every
        artifact). ``None`` fields keep their stored value;
        ``state`` None leaves a matched run's state alone (new rows are 'done').
        """
        run_dir = run_dir or _common_dir(artifacts)
        return self.run(
            lambda cur: self._upsert_run(
                cur,
                kind=kind,
                config=config,
                inputs=inputs,
                metrics=metrics,
                artifacts=artifacts,
                name=name,
                run_dir=run_dir,
                state=state,
            )
        )

    def finish_gpu_task(self, task_id: int, worker: str, run: dict, dataset: dict | None = None) -> bool:
        """Record the run (state done), register a refined dataset if given, and finish the task,
        in one transaction; only while the task is leased to ``worker`` (True also when it is
        already done: idempotent).

        ``run``: keyword arguments of ``record_run``. ``dataset``: name, spec (its manifest),
        parent (dataset name), characters, images_per_character.
        """

        def fn(cur):
            st = self.q(cur, "SELECT state, worker FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if st is None:
                raise CatalogError(f"task {task_id}: not in the catalog")
            if st[0] == "done":
                return True
            if st[0] != "running" or st[1] != worker:
                return False
            now = time.time()
            run_id = self._upsert_run(cur, **{**run, "state": "done"})
            if dataset is not None:
                parent = self.q(
                    cur, "SELECT id FROM datasets WHERE name = ?", (dataset["parent"],)
                ).fetchone()
                old = self.q(
                    cur, "SELECT kind, refiner_run_id FROM datasets WHERE name = ?", (dataset["name"],)
                ).fetchone()
                if old is None:
                    self.q(
                        cur,
                        "INSERT INTO datasets (name, kind, spec, parent_id, refiner_run_id, characters, "
                        "images_per_character, created_at, finalized_at) VALUES (?, 'refined', ?, ?, ?, ?, ?, ?, ?)",
                        (
                            dataset["name"],
                            dump_json(dataset["spec"]),
                            parent[0] if parent else None,
                            run_id,
                            dataset["characters"],
                            dataset["images_per_character"],
                            now,
                            now,
                        ),
                    )
                elif old[0] != "refined" or old[1] != run_id:
                    raise DatasetError(
                        f"dataset {dataset['name']!r} already exists in the catalog "
                        f"(kind {old[0]}, not refined by this run)"
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

    # ---- reading ----------------------------------------------------------------------------
    def get_run(self, name: str) -> dict | None:
        def fn(cur):
            row = self.q(cur, f"SELECT {', '.join(RUN_KEYS)} FROM runs WHERE name = ?", (name,)).fetchone()
            return _run_row(row)

        return self.run(fn)

    def list_runs(self) -> list[dict]:
        """Every run with its latest task's state, attempts and last error (``task_*`` keys)."""

        def fn(cur):
            cols = ", ".join(f"r.{k}" for k in RUN_KEYS)
            rows = self.q(
                cur,
                f"SELECT {cols}, t.state, t.attempts, t.max_attempts, t.last_error FROM runs r "
                "LEFT JOIN tasks t ON t.id = r.task_id ORDER BY r.id",
            ).fetchall()
            out = []
            for r in rows:
                d = _run_dict(r[: len(RUN_KEYS)])
                d.update(
                    zip(
                        ("task_state", "task_attempts", "task_max_attempts", "task_error"),
                        r[len(RUN_KEYS) :],
                        strict=True,
                    )
                )
                out.append(d)
            return out

        return self.run(fn)


def _run_row(row) -> dict | None:
    return None if row is None else _run_dict(row)


def _run_dict(row) -> dict:
    d = dict(zip(RUN_KEYS, row, strict=True))
    for k in ("config", "inputs", "metrics", "artifacts", "progress"):
        d[k] = load_json(d[k])
    return d
