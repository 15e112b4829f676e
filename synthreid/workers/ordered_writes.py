"""Storing planned batches on several catalog connections at once, committed in planning order.

One database backend stores about 3,600 planned characters per second at most on a 2-core
machine (docs/farm.md, "Planning rate"): with enough planning processes, one connection is
the ceiling. Here each of ``writers`` threads holds its own connection (``Catalog.clone``),
inserts a batch in its own transaction while the others insert theirs, and then waits for
its turn to commit: a batch commits only after the batch before it, so the dataset's
``planned_characters`` watermark moves exactly as with one connection and an interrupted
enqueue resumes from it (batches inserted but not committed roll back with their
transaction).

The threads spend their time in the database driver, which releases the GIL while the server
works, so the enqueue process itself stays cheap (about 80 us of CPU per character).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterable

from synthreid.workers.catalog import Catalog
from synthreid.workers.catalog.base import PlanBatch


class WritingAborted(Exception):
    """Raised in a writer waiting for its turn when another writer (or the feeder) failed."""


class CommitOrder:
    """The next batch start allowed to commit; writers wait here for their turn."""

    def __init__(self, start: int):
        self._next = start
        self._cond = threading.Condition()
        self.error: BaseException | None = None

    def wait_turn(self, start: int) -> None:
        """Block until every batch before ``start`` is committed; WritingAborted on a failure."""
        with self._cond:
            while self._next != start and self.error is None:
                self._cond.wait()
            if self.error is not None:
                raise WritingAborted(f"batch from character {start}: another writer failed ({self.error})")

    def committed(self, stop: int) -> None:
        with self._cond:
            self._next = stop
            self._cond.notify_all()

    def abort(self, error: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.error = error
            self._cond.notify_all()


# store(catalog, batch, before_commit) -> None: one batch in one transaction, calling
# before_commit() after its rows are in and before it commits.
Store = Callable[[Catalog, PlanBatch, Callable[[], None]], None]


def write_in_order(
    catalog: Catalog,
    batches: Iterable[PlanBatch],
    store: Store,
    *,
    writers: int,
    start: int,
    on_commit: Callable[[PlanBatch], None] = lambda batch: None,
) -> None:
    """Store ``batches`` (consecutive, from character ``start`` on) with ``writers`` connections
    cloned from ``catalog``, committing them in order. The first error of a writer or of the
    batch iterator stops everything (batches not yet committed roll back) and is raised here;
    so is a KeyboardInterrupt of the calling thread, once every writer has stopped.
    ``on_commit`` runs in a writer thread after each commit, one call at a time (keep it short,
    e.g. a progress bar)."""
    if writers < 1:
        raise ValueError(f"writers: expected 1 or more, got {writers}")
    _Writers(catalog, store, writers, start, on_commit).run(batches)


class _Writers:
    _DONE = object()  # one per thread: no more batches

    def __init__(self, catalog: Catalog, store: Store, writers: int, start: int, on_commit):
        self.catalog, self.store, self.on_commit = catalog, store, on_commit
        self.order = CommitOrder(start)
        self.report = threading.Lock()  # on_commit runs in one thread at a time
        # One batch waits for a free writer: memory stays flat.
        self.todo: queue.Queue = queue.Queue(maxsize=1)
        self.threads = [
            threading.Thread(target=self._write, name=f"plan-writer-{i}", daemon=True) for i in range(writers)
        ]

    def run(self, batches: Iterable[PlanBatch]) -> None:
        for t in self.threads:
            t.start()
        try:
            for batch in batches:
                if self.order.error is not None:
                    break
                self.todo.put(batch)
        except BaseException as exc:
            self.order.abort(exc)
            raise
        finally:
            for _ in self.threads:
                self.todo.put(self._DONE)
            for t in self.threads:
                t.join()
        if self.order.error is not None:
            raise self.order.error

    def _write(self) -> None:
        cat = None
        try:
            cat = self.catalog.clone()
            while (batch := self.todo.get()) is not self._DONE:
                if self.order.error is not None:
                    continue  # drain, so that the feeder never blocks on a full queue
                self.store(cat, batch, functools.partial(self.order.wait_turn, batch.start))
                self.order.committed(batch.stop)
                with self.report:
                    self.on_commit(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.order.abort(exc)
            while self.todo.get() is not self._DONE:
                pass
        finally:
            if cat is not None:
                cat.close()
