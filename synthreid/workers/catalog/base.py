"""Catalog interface and the SQL shared by the SQLite and Postgres implementations.

``Catalog`` is one connection and one transaction per public method; its SQL is split by table:
this module holds the connection, schema migrations and the ``datasets`` / ``characters`` /
``images`` tables, the mixins ``tasks`` (leases, retries, reaping, dispatch bookkeeping),
``worker_rows`` (heartbeats) and ``runs`` (gpu runs) the rest. All SQL is written once with ``?`` placeholders (converted per driver) and always
parameterized. Times are epoch seconds (float) from the caller's clock: hosts of one farm
must keep their clocks in sync (NTP), as leases compare them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from synthreid.errors import DatasetError
from synthreid.workers.catalog.runs import RunsMixin
from synthreid.workers.catalog.tasks import TasksMixin
from synthreid.workers.catalog.values import (
    CatalogError,
    CatalogFull,
    CatalogUnavailable,
    Task,
    dump_json,
    load_json,
)
from synthreid.workers.catalog.worker_rows import WorkersMixin

log = logging.getLogger(__name__)

# NNNN_name.sql for every catalog, or NNNN_name.DIALECT.sql where the dialects differ (a
# version then has one file per dialect, so the version numbers stay the same everywhere).
MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(postgres|sqlite))?\.sql$")
DIALECTS = ("postgres", "sqlite")
DATASET_KEYS = (
    "id",
    "name",
    "kind",
    "spec",
    "characters",
    "images_per_character",
    "created_at",
    "finalized_at",
    "planned_characters",
    "finalizing_at",
    "finalize_error",
)
DATASET_COLS = ", ".join(DATASET_KEYS)


@dataclass(frozen=True)
class PlanBatch:
    """Planned rows of characters ``start..stop-1``, JSON already encoded.

    ``characters``: (index, seed, attributes JSON); ``images``: (character index, image index,
    camera id, stem, params JSON).
    """

    start: int
    stop: int
    characters: list
    images: list

    @classmethod
    def from_rows(cls, characters, images) -> PlanBatch:
        chars = [(ci, seed, a if isinstance(a, str) else dump_json(a)) for ci, seed, a in characters]
        imgs = [
            (ci, ii, cam, stem, p if isinstance(p, str) else dump_json(p)) for ci, ii, cam, stem, p in images
        ]
        idx = [c[0] for c in chars]
        return cls(min(idx, default=0), max(idx, default=-1) + 1, chars, imgs)


def _planned_elsewhere(name: str) -> str:
    return f"dataset {name!r}: another enqueue --resume is planning it at the same time"


def migrations(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, sql text) of every numbered migration for ``dialect`` ("postgres" or
    "sqlite"), ascending."""
    folder = resources.files("synthreid.workers.catalog").joinpath("migrations")
    return select_migrations(((e.name, e.read_text()) for e in folder.iterdir()), dialect)


def select_migrations(files: Iterable[tuple[str, str]], dialect: str) -> list[tuple[int, str, str]]:
    """The migrations of ``dialect`` among (file name, text) pairs: per version its
    ``NNNN_name.DIALECT.sql`` file, else its shared ``NNNN_name.sql``; other names are ignored.
    CatalogError when a version has neither (every dialect must reach every version)."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect {dialect!r}: expected one of {', '.join(DIALECTS)}")
    shared: dict[int, tuple[str, str]] = {}
    own: dict[int, tuple[str, str]] = {}
    versions: set[int] = set()
    for file_name, text in files:
        m = MIGRATION_RE.match(file_name)
        if m is None:
            continue
        version = int(m[1])
        versions.add(version)
        if m[3] is None:
            shared[version] = (m[2], text)
        elif m[3] == dialect:
            own[version] = (m[2], text)
    out = []
    for version in sorted(versions):
        found = own.get(version) or shared.get(version)
        if found is None:
            raise CatalogError(
                f"migration {version:04d} has a file for another dialect but none for {dialect} "
                f"(expected {version:04d}_NAME.{dialect}.sql or a shared {version:04d}_NAME.sql)"
            )
        out.append((version, *found))
    return out


def split_sql(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";\n") if s.strip().rstrip(";").strip()]


class Catalog(TasksMixin, WorkersMixin, RunsMixin):
    """One connection to the catalog. Not thread-safe: use one instance per thread.

    Every public operation is one transaction, retried from the start when the connection
    is lost (so operations are written to be safe to repeat).
    """

    tokens: dict[str, str] = {}
    dialect = "sqlite"  # which migration files apply (``migrations``)
    # Whether several connections may store one dataset's planned batches at once
    # (``ordered_writes``): not SQLite, whose one writer at a time would wait on itself.
    concurrent_writes = False
    skip_locked = ""
    connection_errors: tuple[type[BaseException], ...] = ()
    integrity_errors: tuple[type[BaseException], ...] = ()
    where = "catalog"

    def __init__(self, retry_for: float = 30.0):
        self.retry_for = retry_for
        self.give_up_at: float | None = None  # time.monotonic() after which retries stop (a stopping worker)
        self.conn: Any = None  # the driver's DB-API connection
        self._connect_with_retry()

    def give_up_after(self, seconds: float) -> None:
        """Stop retrying a lost connection ``seconds`` from now (raise CatalogUnavailable instead)."""
        t = time.monotonic() + seconds
        self.give_up_at = t if self.give_up_at is None else min(self.give_up_at, t)

    def _deadline(self) -> float:
        d = time.monotonic() + self.retry_for
        return d if self.give_up_at is None else min(d, self.give_up_at)

    def _wait(self, delay: float, deadline: float) -> None:
        """Sleep ``delay`` s in short slices, so a later ``give_up_after`` cuts the wait short."""
        end = time.monotonic() + delay
        while (now := time.monotonic()) < end:
            if self.give_up_at is not None and now >= min(deadline, self.give_up_at):
                return
            time.sleep(min(0.2, end - now))

    def _translate(self, exc: BaseException) -> BaseException | None:
        """A driver error as one of ours (disk full, ...), or None to let it propagate (drivers)."""
        return None

    def _clean(self, text: object) -> str:
        """An error text fit to print (drivers remove their password)."""
        return str(text).strip()

    # ---- driver hooks ---------------------------------------------------------------------
    def _connect(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin(self, cur) -> None:
        """Start a write transaction (drivers differ)."""

    def _sql(self, sql: str) -> str:
        return sql

    def _bulk_insert(self, cur, table: str, cols: Sequence[str], rows: list[tuple]) -> None:
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        cur.executemany(self._sql(sql), rows)

    def _lock_migrations(self, cur) -> None:
        """Serialize concurrent `db upgrade` runs."""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.conn is not None:
                self.conn.close()
        self.conn = None

    # ---- connection and transactions ------------------------------------------------------
    def _connect_with_retry(self) -> None:
        deadline = self._deadline()
        delay = 0.2
        while True:
            try:
                self.conn = self._connect()
                return
            except Exception as exc:
                ours = self._translate(exc)
                if ours is not None:
                    # e.g. a SQLite file on a full disk: WAL mode cannot size its -shm file
                    raise ours from None
                if not isinstance(exc, self.connection_errors):
                    raise
                if time.monotonic() + delay > min(deadline, self.give_up_at or deadline):
                    raise CatalogUnavailable(f"{self.where} unreachable: {self._clean(exc)}") from None
                log.warning("%s unreachable (%s); retrying in %.1f s", self.where, self._clean(exc), delay)
                self._wait(delay, deadline)
                delay = min(delay * 2, 30.0)

    @contextlib.contextmanager
    def _tx(self) -> Iterator:
        cur = self.conn.cursor()
        try:
            self._begin(cur)
            yield cur
            self.conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self.conn.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def run(self, fn):
        """Run ``fn(cursor)`` in one transaction; on a lost connection reconnect and rerun it
        (until ``retry_for`` or ``give_up_after`` runs out: CatalogUnavailable)."""
        deadline = self._deadline()
        delay = 0.2
        while True:
            try:
                if self.conn is None:
                    self.conn = self._connect()
                with self._tx() as cur:
                    return fn(cur)
            except self.connection_errors as exc:
                self.close()
                translated = self._translate(exc)
                if translated is not None:
                    raise translated from None
                if time.monotonic() + delay > min(deadline, self.give_up_at or deadline):
                    raise CatalogUnavailable(f"{self.where} unreachable: {self._clean(exc)}") from None
                log.warning(
                    "%s connection lost (%s); reconnecting in %.1f s", self.where, self._clean(exc), delay
                )
                self._wait(delay, deadline)
                delay = min(delay * 2, 30.0)
            except Exception as exc:
                translated = self._translate(exc)
                if translated is not None:
                    raise translated from None
                raise

    def q(self, cur, sql: str, params: Sequence = ()):
        cur.execute(self._sql(sql), tuple(params))
        return cur

    # ---- schema ----------------------------------------------------------------------------
    @staticmethod
    def latest_version() -> int:
        return max(v for v, _, _ in migrations())  # the same versions in every dialect

    def schema_version(self) -> int:
        def fn(cur):
            if not self._has_table(cur, "schema_migrations"):
                return 0
            row = self.q(cur, "SELECT MAX(version) FROM schema_migrations").fetchone()
            return int(row[0] or 0)

        return self.run(fn)

    def _has_table(self, cur, name: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def upgrade(self) -> list[int]:
        """Apply every pending migration, each in its own transaction; return the versions applied."""
        applied = []
        for version, name, text in migrations(self.dialect):

            def fn(cur, version=version, name=name, text=text):
                self._lock_migrations(cur)
                self.q(
                    cur,
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
                )
                if self.q(cur, "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                    return False
                for stmt in split_sql(text):
                    for token, value in self.tokens.items():
                        stmt = stmt.replace("{" + token + "}", value)
                    cur.execute(stmt)
                self.q(
                    cur,
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
                return True

            if self.run(fn):
                log.info("catalog: applied migration %04d_%s", version, name)
                applied.append(version)
        return applied

    def require_schema(self) -> None:
        have, want = self.schema_version(), self.latest_version()
        if have < want:
            raise CatalogError(
                f"catalog schema is at version {have}, code expects {want}: run `synthreid db upgrade`"
            )

    # ---- datasets --------------------------------------------------------------------------
    def get_dataset(self, name: str) -> dict | None:
        def fn(cur):
            row = self.q(cur, f"SELECT {DATASET_COLS} FROM datasets WHERE name = ?", (name,)).fetchone()
            return _dataset_row(row)

        return self.run(fn)

    def get_dataset_by_id(self, dataset_id: int) -> dict | None:
        def fn(cur):
            row = self.q(cur, f"SELECT {DATASET_COLS} FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
            return _dataset_row(row)

        return self.run(fn)

    def list_datasets(self) -> list[dict]:
        def fn(cur):
            rows = self.q(cur, f"SELECT {DATASET_COLS} FROM datasets ORDER BY id").fetchall()
            return [_dataset_row(r) for r in rows]

        return self.run(fn)

    def create_rendered_dataset(
        self,
        name: str,
        spec: dict,
        characters: list[tuple[int, int, dict]],
        images: Iterable[tuple[int, int, int, str, dict]],
        queue: str,
        max_attempts: int,
    ) -> list[tuple[int, str]]:
        """Write a small dataset, its characters, image rows and tasks in one transaction
        (``characters``: (index, seed, attributes); ``images``: (character index, image index,
        camera id, stem, params)); nothing is written on error. Returns the (task id, queue)
        pairs to dispatch. Large datasets go through ``begin_rendered_dataset`` and
        ``add_planned_batch`` instead (bounded memory)."""
        batch = PlanBatch.from_rows(characters, images)

        def fn(cur):
            dsid = self._insert_dataset(cur, name, spec, len(characters), spec.get("images_per_character", 0))
            self._insert_batch(cur, dsid, name, batch, queue, max_attempts)
            self.q(cur, "UPDATE datasets SET planned_characters = NULL WHERE id = ?", (dsid,))
            return [
                tuple(r)
                for r in self.q(
                    cur, "SELECT id, queue FROM tasks WHERE dataset_id = ? ORDER BY id", (dsid,)
                ).fetchall()
            ]

        return self.run(fn)

    def begin_rendered_dataset(
        self,
        name: str,
        spec: dict,
        characters: int,
        images_per_character: int,
        first: PlanBatch | None = None,
        queue: str = "render",
        max_attempts: int = 3,
    ) -> int:
        """Insert a dataset row in state "planning" (0 characters planned), with its first
        batch if given, in one transaction; returns its id. DatasetError when the name is taken
        (also when a concurrent enqueue of the same name wins the race)."""

        def fn(cur):
            dsid = self._insert_dataset(cur, name, spec, characters, images_per_character)
            if first is not None:
                self._insert_batch(cur, dsid, name, first, queue, max_attempts)
                self._set_planned(cur, dsid, first.stop, characters)
            return dsid

        return self.run(fn)

    def add_planned_batch(
        self,
        dataset_id: int,
        name: str,
        batch: PlanBatch,
        queue: str,
        max_attempts: int,
        characters: int,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        """Insert one planned batch (characters ``batch.start..stop-1``) and its tasks in one
        transaction; a batch already stored (a retried commit) is skipped. DatasetError when
        the dataset's planning is elsewhere (another ``enqueue --resume`` continues it).

        ``before_commit``: called once the rows are in and before the commit, for writers on
        several connections (``ordered_writes``): it returns when the batch before this one is
        committed, so the rows go in while that one is still being stored. The planning
        watermark is then read again and must be at ``batch.start`` (else the rows roll back)."""

        def planned_now(cur) -> int | None:
            row = self.q(
                cur, "SELECT planned_characters FROM datasets WHERE id = ?", (dataset_id,)
            ).fetchone()
            if row is None:
                raise CatalogError(f"dataset {name!r}: removed from the catalog while it was being planned")
            return row[0]

        def fn(cur):
            planned = planned_now(cur)
            if planned is None or planned >= batch.stop:
                return  # this batch is already in (the commit went through, its answer was lost)
            # Without a turn to wait for, the watermark must be at this batch already.
            if planned > batch.start or (before_commit is None and planned < batch.start):
                raise DatasetError(_planned_elsewhere(name))
            try:
                self._insert_batch(cur, dataset_id, name, batch, queue, max_attempts)
            except self.integrity_errors:
                raise DatasetError(_planned_elsewhere(name)) from None  # its rows are someone else's
            if before_commit is not None:
                before_commit()
                if planned_now(cur) != batch.start:  # read committed: sees the batch before
                    raise DatasetError(_planned_elsewhere(name))
            self._set_planned(cur, dataset_id, batch.stop, characters)

        self.run(fn)

    def clone(self) -> Catalog:
        """Another connection to the same catalog (its own transactions), for another thread."""
        raise CatalogError(f"{self.where}: one connection only")

    def _set_planned(self, cur, dataset_id: int, planned: int, characters: int) -> None:
        # NULL = every character planned (as for datasets written before migration 0004).
        self.q(
            cur,
            "UPDATE datasets SET planned_characters = ? WHERE id = ?",
            (None if planned >= characters else planned, dataset_id),
        )

    def _insert_dataset(self, cur, name: str, spec: dict, characters: int, per_char: int) -> int:
        exists = DatasetError(
            f"dataset {name!r} already exists in the catalog "
            "(use --resume to continue it, or choose another --name)"
        )
        if self.q(cur, "SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone():
            raise exists
        try:
            return int(
                self.q(
                    cur,
                    "INSERT INTO datasets (name, kind, spec, characters, images_per_character, "
                    "created_at, planned_characters) VALUES (?, 'rendered', ?, ?, ?, ?, 0) RETURNING id",
                    (name, dump_json(spec), characters, per_char, time.time()),
                ).fetchone()[0]
            )
        except self.integrity_errors:
            raise exists from None  # a concurrent enqueue of this name committed first

    def _insert_batch(
        self, cur, dsid: int, name: str, batch: PlanBatch, queue: str, max_attempts: int
    ) -> None:
        """Characters, images and one task per character of ``batch`` (JSON already encoded)."""
        now = time.time()
        self._bulk_insert(
            cur,
            "characters",
            ("dataset_id", "idx", "seed", "attributes"),
            [(dsid, ci, seed, attrs) for ci, seed, attrs in batch.characters],
        )
        if not batch.characters:
            return
        lo, hi = batch.characters[0][0], batch.characters[-1][0]
        char_ids = dict(
            self.q(
                cur,
                "SELECT idx, id FROM characters WHERE dataset_id = ? AND idx BETWEEN ? AND ?",
                (dsid, min(lo, hi), max(lo, hi)),
            ).fetchall()
        )
        counts: dict[int, int] = {}
        rows = []
        for ci, ii, cam, stem, params in batch.images:
            counts[ci] = counts.get(ci, 0) + 1
            rows.append((dsid, char_ids[ci], ii, cam, stem, params))
        self._bulk_insert(
            cur, "images", ("dataset_id", "character_id", "idx", "camid", "stem", "params"), rows
        )
        del rows
        self._bulk_insert(
            cur,
            "tasks",
            (
                "kind",
                "queue",
                "payload",
                "dataset_id",
                "character_id",
                "n_images",
                "max_attempts",
                "created_at",
            ),
            [
                (
                    "render_character",
                    queue,
                    dump_json({"dataset": name, "character": ci}),
                    dsid,
                    char_ids[ci],
                    counts.get(ci, 0),
                    max_attempts,
                    now,
                )
                for ci, _, _ in batch.characters
            ],
        )

    def iter_tasks(
        self, dataset_id: int, states: Sequence[str] = ("pending", "running"), page: int = 10_000
    ) -> Iterator[tuple[int, str]]:
        """(task id, queue) of a dataset's tasks in ``states``, read page by page (flat memory)."""
        last = 0
        marks = ", ".join("?" * len(states))
        while True:
            rows = self.run(
                lambda cur, last=last: self.q(
                    cur,
                    f"SELECT id, queue FROM tasks WHERE dataset_id = ? AND state IN ({marks}) AND id > ? "
                    "ORDER BY id LIMIT ?",
                    (dataset_id, *states, last, page),
                ).fetchall()
            )
            if not rows:
                return
            yield from (tuple(r) for r in rows)
            last = rows[-1][0]

    def count_tasks(self, dataset_id: int, states: Sequence[str] = ("pending", "running")) -> int:
        marks = ", ".join("?" * len(states))
        return int(
            self.run(
                lambda cur: self.q(
                    cur,
                    f"SELECT COUNT(*) FROM tasks WHERE dataset_id = ? AND state IN ({marks})",
                    (dataset_id, *states),
                ).fetchone()[0]
            )
        )

    def resume_dataset(self, dataset_id: int) -> list[tuple[int, str]]:
        """Reset failed tasks of a dataset to pending (fresh attempts); return its unfinished tasks.

        A dataset finalized with failed tasks is finalized again once they are done."""

        def fn(cur):
            reset = self.q(
                cur,
                "UPDATE tasks SET state = 'pending', attempts = 0, not_before = 0, dispatched_at = NULL "
                "WHERE dataset_id = ? AND state = 'failed'",
                (dataset_id,),
            ).rowcount
            if reset:
                self.q(
                    cur,
                    "UPDATE datasets SET finalized_at = NULL, finalizing_at = NULL, finalize_error = NULL "
                    "WHERE id = ?",
                    (dataset_id,),
                )
            return [
                tuple(r)
                for r in self.q(
                    cur,
                    "SELECT id, queue FROM tasks WHERE dataset_id = ? AND state "
                    "IN ('pending', 'running') ORDER BY id",
                    (dataset_id,),
                ).fetchall()
            ]

        return self.run(fn)

    def count_images(self, dataset_id: int, state: str = "done") -> int:
        return int(
            self.run(
                lambda cur: self.q(
                    cur, "SELECT COUNT(*) FROM images WHERE dataset_id = ? AND state = ?", (dataset_id, state)
                ).fetchone()[0]
            )
        )

    def done_image_pages(
        self, dataset_id: int, page: int = 2_000, state: str = "done"
    ) -> Iterator[list[tuple[int, int, str, str | None]]]:
        """A dataset's done images (or those in ``state``) as pages of (image id, character id,
        stem, checksum), by id (each page its own short transaction: flat memory, no lock held
        while files are read)."""
        last = 0
        while True:
            rows = self.run(
                lambda cur, last=last: self.q(
                    cur,
                    "SELECT id, character_id, stem, checksum FROM images WHERE dataset_id = ? AND state = ? "
                    "AND id > ? ORDER BY id LIMIT ?",
                    (dataset_id, state, last, page),
                ).fetchall()
            )
            if not rows:
                return
            yield [tuple(r) for r in rows]
            last = rows[-1][0]

    def requeue_images(self, dataset_id: int, image_ids: Sequence[int]) -> tuple[int, int]:
        """Send done images whose files are damaged back to pending, reopen their characters'
        tasks (pending, fresh attempts) and unfinalize the dataset, in one transaction.

        Images whose character's task is running are left alone (that worker read its image
        list already; the next check sees them). Returns (images re-queued, tasks reopened).
        """

        def fn(cur):
            chars: set[int] = set()
            images = 0
            for k in range(0, len(image_ids), 500):  # bounded parameter lists (SQLite's limit)
                part = list(image_ids[k : k + 500])
                rows = self.q(
                    cur,
                    f"UPDATE images SET state = 'pending', path = NULL, mask_path = NULL, bbox = NULL, "
                    f"checksum = NULL, rendered_at = NULL, worker = NULL WHERE dataset_id = ? AND "
                    f"state = 'done' AND id IN ({', '.join('?' * len(part))}) AND NOT EXISTS "
                    f"(SELECT 1 FROM tasks WHERE tasks.character_id = images.character_id AND "
                    f"tasks.state = 'running') RETURNING character_id",
                    (dataset_id, *part),
                ).fetchall()
                chars.update(r[0] for r in rows)
                images += len(rows)
            ordered = sorted(chars)
            tasks = 0
            for k in range(0, len(ordered), 500):
                part = ordered[k : k + 500]
                tasks += self.q(
                    cur,
                    f"UPDATE tasks SET state = 'pending', attempts = 0, not_before = 0, "
                    f"dispatched_at = NULL, lease_until = NULL, worker = NULL, finished_at = NULL, "
                    f"last_error = NULL WHERE dataset_id = ? AND kind = 'render_character' AND "
                    f"state IN ('done', 'failed') AND character_id IN "
                    f"({', '.join('?' * len(part))})",
                    (dataset_id, *part),
                ).rowcount
            if images:
                # labels.jsonl is written again once the re-queued images are rendered
                self.q(
                    cur,
                    "UPDATE datasets SET finalized_at = NULL, finalizing_at = NULL, finalize_error = NULL "
                    "WHERE id = ?",
                    (dataset_id,),
                )
            return images, tasks

        return self.run(fn) if image_ids else (0, 0)

    def adopt_finished_images(self, dataset_id: int, rows: dict[int, dict]) -> tuple[int, int]:
        """Record images found complete on disk while pending here (rendered before this catalog
        knew of them, or by a process killed before it recorded them): ``rows`` maps image id
        -> its label row. Images of a running task are left alone; a pending or failed task
        whose images are then all done is done. One transaction; (images, tasks) marked done."""
        now = time.time()

        def fn(cur):
            images = 0
            chars: set[int] = set()
            for image_id, r in rows.items():
                found = self.q(
                    cur,
                    "UPDATE images SET state = 'done', path = ?, mask_path = ?, bbox = ?, checksum = ?, "
                    "rendered_at = ? WHERE id = ? AND dataset_id = ? AND state <> 'done' AND NOT EXISTS "
                    "(SELECT 1 FROM tasks WHERE tasks.character_id = images.character_id AND "
                    "tasks.state = 'running') RETURNING character_id",
                    (
                        r.get("image"),
                        r.get("mask"),
                        dump_json(r.get("bbox")),
                        r.get("checksum"),
                        now,
                        image_id,
                        dataset_id,
                    ),
                ).fetchone()
                if found is not None:
                    images += 1
                    chars.add(found[0])
            tasks = 0
            for char_id in sorted(chars):
                tasks += self.q(
                    cur,
                    "UPDATE tasks SET state = 'done', finished_at = ?, lease_until = NULL, worker = NULL, "
                    "last_error = NULL WHERE character_id = ? AND kind = 'render_character' AND state IN "
                    "('pending', 'failed') AND NOT EXISTS (SELECT 1 FROM images WHERE images.character_id = ? "
                    "AND images.state <> 'done')",
                    (now, char_id, char_id),
                ).rowcount
            return images, tasks

        return self.run(fn) if rows else (0, 0)

    def character(self, character_id: int) -> dict:
        def fn(cur):
            row = self.q(
                cur,
                "SELECT id, dataset_id, idx, seed, attributes FROM characters WHERE id = ?",
                (character_id,),
            ).fetchone()
            if row is None:
                raise CatalogError(f"character {character_id}: not in the catalog")
            return {
                "id": row[0],
                "dataset_id": row[1],
                "index": row[2],
                "seed": row[3],
                "plan": load_json(row[4]),  # the stored CharacterPlan JSON
            }

        return self.run(fn)

    def character_images(self, character_id: int) -> list[dict]:
        """A character's images by index: id, index, camid, stem, state, checksum and params
        (the stored image plan, without its character)."""

        def fn(cur):
            rows = self.q(
                cur,
                "SELECT id, idx, camid, stem, state, checksum, params FROM images WHERE character_id = ? "
                "ORDER BY idx",
                (character_id,),
            ).fetchall()
            return [
                {
                    "id": r[0],
                    "index": r[1],
                    "camid": r[2],
                    "stem": r[3],
                    "state": r[4],
                    "checksum": r[5],
                    "params": load_json(r[6]),
                }
                for r in rows
            ]

        return self.run(fn)

    def image_plan_pages(self, dataset_id: int, page: int = 2_000) -> Iterator[list[tuple[int, dict, dict]]]:
        """A dataset's stored plans as pages of (character id, character JSON, image params
        JSON) in planning order: by character index, then image index (not by row id: batches
        stored on several connections get their ids interleaved). Each page, the images of
        about ``page`` / images-per-character characters, is its own short transaction."""

        def bounds(cur) -> tuple[int, int]:
            (last,) = self.q(
                cur, "SELECT MAX(idx) FROM characters WHERE dataset_id = ?", (dataset_id,)
            ).fetchone()
            row = self.q(
                cur, "SELECT images_per_character FROM datasets WHERE id = ?", (dataset_id,)
            ).fetchone()
            return (-1 if last is None else int(last)), max(1, int(row[0] or 1) if row else 1)

        last_idx, per_char = self.run(bounds)
        span = max(1, page // per_char)
        for lo in range(0, last_idx + 1, span):
            rows = self.run(
                lambda cur, lo=lo: self.q(
                    cur,
                    "SELECT i.character_id, c.attributes, i.params FROM characters c "
                    "JOIN images i ON i.character_id = c.id WHERE c.dataset_id = ? AND c.idx >= ? "
                    "AND c.idx < ? ORDER BY c.idx, i.idx",
                    (dataset_id, lo, lo + span),
                ).fetchall()
            )
            if rows:
                yield [(r[0], load_json(r[1]), load_json(r[2])) for r in rows]

    def dataset_images(self, dataset_id: int) -> list[dict]:
        def fn(cur):
            rows = self.q(
                cur,
                "SELECT stem, state, path, mask_path, checksum, worker FROM images "
                "WHERE dataset_id = ? ORDER BY stem",
                (dataset_id,),
            ).fetchall()
            return [
                dict(zip(("stem", "state", "path", "mask_path", "checksum", "worker"), r, strict=True))
                for r in rows
            ]

        return self.run(fn)

    def fully_planned(self, dataset_id: int) -> bool:
        """Every character of the dataset is in the catalog (its enqueue finished planning)."""
        row = self.run(
            lambda cur: self.q(
                cur, "SELECT planned_characters FROM datasets WHERE id = ?", (dataset_id,)
            ).fetchone()
        )
        return row is not None and row[0] is None

    def mark_finalized(self, dataset_id: int) -> bool:
        """Record a finished finalize; False (and the claim freed) when tasks were reopened
        meanwhile (``requeue_images``): their completion finalizes the dataset again."""

        def fn(cur):
            c = self.q(
                cur,
                "UPDATE datasets SET finalized_at = ?, finalizing_at = NULL, finalize_error = NULL "
                "WHERE id = ? AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.dataset_id = datasets.id AND "
                "tasks.state IN ('pending', 'running'))",
                (time.time(), dataset_id),
            )
            if c.rowcount == 1:
                return True
            self.q(cur, "UPDATE datasets SET finalizing_at = NULL WHERE id = ?", (dataset_id,))
            return False

        return self.run(fn)

    def claim_finalize(self, dataset_id: int, stale_after: float) -> bool:
        """Take the finalize of a complete, unfinalized dataset: True for exactly one caller
        (again after ``stale_after`` s, when its finalizer died). Complete: fully planned and
        no task pending or running."""
        now = time.time()

        def fn(cur):
            c = self.q(
                cur,
                "UPDATE datasets SET finalizing_at = ? WHERE id = ? AND kind = 'rendered' AND "
                "finalized_at IS NULL AND planned_characters IS NULL AND (finalizing_at IS NULL OR "
                "finalizing_at < ?) AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.dataset_id = datasets.id "
                "AND tasks.state IN ('pending', 'running'))",
                (now, dataset_id, now - stale_after),
            )
            return c.rowcount == 1

        return self.run(fn)

    def finalize_failed(self, dataset_id: int, error: str) -> None:
        """Record why a finalize failed and free it for the next try."""
        self.run(
            lambda cur: self.q(
                cur,
                "UPDATE datasets SET finalizing_at = NULL, finalize_error = ? WHERE id = ?",
                (error[-2000:], dataset_id),
            )
        )

    def unfinalized_datasets(self, stale_after: float, limit: int = 10) -> list[int]:
        """Ids of complete rendered datasets still not finalized (and not being finalized)."""
        now = time.time()
        return [
            r[0]
            for r in self.run(
                lambda cur: self.q(
                    cur,
                    "SELECT id FROM datasets WHERE kind = 'rendered' AND finalized_at IS NULL AND planned_characters "
                    "IS NULL AND (finalizing_at IS NULL OR finalizing_at < ?) AND NOT EXISTS (SELECT 1 FROM tasks WHERE "
                    "tasks.dataset_id = datasets.id AND tasks.state IN ('pending', 'running')) ORDER BY id LIMIT ?",
                    (now - stale_after, limit),
                ).fetchall()
            )
        ]

    def unfinished_tasks(self, dataset_id: int | None = None, queues: Sequence[str] | None = None) -> int:
        """Tasks still pending or running (of one dataset, or of the given queues)."""
        sql = "SELECT COUNT(*) FROM tasks WHERE state IN ('pending', 'running')"
        params: list[object] = []
        if dataset_id is not None:
            sql, params = sql + " AND dataset_id = ?", [dataset_id]
        if queues:
            sql += f" AND queue IN ({', '.join('?' * len(queues))})"
            params += list(queues)
        return int(self.run(lambda cur: self.q(cur, sql, params).fetchone()[0]))


def _dataset_row(row) -> dict | None:
    if row is None:
        return None
    d = dict(zip(DATASET_KEYS, row, strict=True))
    d["spec"] = load_json(d["spec"])
    return d


__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogFull",
    "CatalogUnavailable",
    "PlanBatch",
    "Task",
    "dump_json",
    "load_json",
]
