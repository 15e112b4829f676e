"""prefetch: order, one item ahead, errors at their item, early stop closes the source."""

import threading

import pytest

from synthreid.workers.prefetch import prefetch


def test_yields_every_item_in_order():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetch([])) == []


def test_source_runs_ahead_of_the_consumer_but_no_further_than_depth():
    made = []
    consumed = threading.Event()

    def source():
        for i in range(10):
            made.append(i)
            yield i

    it = prefetch(source(), depth=1)
    assert next(it) == 0
    # The thread makes item 1 while the consumer holds item 0, then waits (queue of 1) with
    # item 2 made and blocked: wait for that state, never for a time.
    while len(made) < 3:
        consumed.wait(0.01)
    assert made == [0, 1, 2]
    assert list(it) == list(range(1, 10))


def test_an_error_of_the_source_is_raised_at_its_item():
    def source():
        yield 1
        yield 2
        raise KeyError("planned badly")

    got = []
    with pytest.raises(KeyError, match="planned badly"):
        for x in prefetch(source()):
            got.append(x)
    assert got == [1, 2]


def test_stopping_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetch(source(), depth=2, name="test-prefetch")
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()
    assert closed.is_set()
    assert not any(t.name == "test-prefetch" for t in threading.enumerate())


def test_depth_below_one_is_refused():
    with pytest.raises(ValueError, match="depth"):
        list(prefetch([1], depth=0))
