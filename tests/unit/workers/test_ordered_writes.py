"""ordered_writes: batches stored on several connections commit in planning order, and one
failure stops every writer (no thread left, the first error raised)."""

from __future__ import annotations

import random
import threading

import pytest

from synthreid.workers.catalog.base import PlanBatch
from synthreid.workers.ordered_writes import CommitOrder, WritingAborted, write_in_order


class Ledger:
    """Stands in for the catalog: ``clone`` gives a connection whose commits are recorded."""

    def __init__(self):
        self.lock = threading.Lock()
        self.commits: list[int] = []
        self.clones = 0
        self.closed = 0

    def clone(self):
        with self.lock:
            self.clones += 1
        return self

    def close(self):
        with self.lock:
            self.closed += 1


def batches(n: int, size: int = 3, start: int = 0):
    return [PlanBatch(a, a + size, [], []) for a in range(start, start + n * size, size)]


def test_commits_follow_batch_order_whatever_each_insert_takes():
    shuffled = 0
    for seed in range(5):
        # Batch k's insert waits until batch k+1 is inserted: a later batch finishes first.
        k = 6 + 3 * random.Random(seed).randrange(11)
        next_in = threading.Event()
        ledger = Ledger()
        inserted = []

        def store(cat, batch, before_commit, k=k, next_in=next_in, inserted=inserted):
            if batch.start == k and not next_in.wait(timeout=60):
                raise TimeoutError(f"batch {k + 3} was never inserted")
            with cat.lock:
                inserted.append(batch.start)
            if batch.start == k + 3:
                next_in.set()
            before_commit()
            with cat.lock:
                cat.commits.append(batch.start)

        committed = []
        write_in_order(
            ledger,
            iter(batches(12, start=6)),
            store,
            writers=3,
            start=6,
            on_commit=lambda b, c=committed: c.append(b.stop),
        )
        assert ledger.commits == list(range(6, 42, 3))
        assert sorted(committed) == list(range(9, 45, 3))
        assert ledger.clones == ledger.closed == 3
        shuffled += inserted != sorted(inserted)
    assert shuffled > 0  # inserts did finish out of order; commits never did


def test_a_failing_writer_stops_the_others_and_its_error_is_raised():
    ledger = Ledger()

    def store(cat, batch, before_commit):
        if batch.start == 9:
            raise RuntimeError("disk full at 9")
        before_commit()
        with cat.lock:
            cat.commits.append(batch.start)

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="disk full at 9"):
        write_in_order(ledger, iter(batches(20)), store, writers=2, start=0)
    assert ledger.commits == [0, 3, 6]  # nothing after the failed batch commits
    assert threading.active_count() == before and ledger.closed == 2


def test_a_failing_batch_source_stops_the_writers():
    ledger = Ledger()

    def source():
        yield from batches(2)
        raise KeyboardInterrupt

    def store(cat, batch, before_commit):
        before_commit()
        with cat.lock:
            cat.commits.append(batch.start)

    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        write_in_order(ledger, source(), store, writers=2, start=0)
    assert threading.active_count() == before and ledger.closed == 2


def test_a_waiting_writer_is_released_by_an_abort():
    order = CommitOrder(0)
    seen = []

    def wait():
        try:
            order.wait_turn(5)
        except WritingAborted as exc:
            seen.append(str(exc))

    t = threading.Thread(target=wait)
    t.start()
    order.abort(RuntimeError("lost"))
    t.join(timeout=10)
    assert not t.is_alive() and "another writer failed (lost)" in seen[0]
    with pytest.raises(ValueError, match="writers: expected 1 or more"):
        write_in_order(Ledger(), [], lambda *a: None, writers=0, start=0)
