"""Run an iterator one step ahead of its consumer, in a thread.

Enqueue plans a batch (Python, holding the GIL) and then waits for the catalog to store it
(Postgres parses and indexes the rows while psycopg2 waits with the GIL released). With the
planner in a thread, the next batch is planned during that wait instead of after it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL_S = 0.1  # how often a blocked producer looks whether the consumer has gone


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()


def _put(box: queue.Queue, gone: threading.Event, value) -> bool:
    """Put ``value`` unless the consumer has gone; whether it was put."""
    while not gone.is_set():
        try:
            box.put(value, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _produce(items: Iterable, box: queue.Queue, gone: threading.Event) -> None:
    it = iter(items)
    try:
        for item in it:
            if not _put(box, gone, item):
                return
        _put(box, gone, _END)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
        _put(box, gone, _Raised(exc))
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def prefetch(items: Iterable[T], depth: int = 1, name: str = "prefetch") -> Iterator[T]:
    """Yield ``items`` in order while a daemon thread computes up to ``depth`` (>= 1) items
    ahead. An exception raised by ``items`` is raised here, at the item where it happened.
    When the consumer stops early (break, an exception, ``close()``), the thread stops after
    the item it is computing and the source iterator is closed in that thread."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    box: queue.Queue = queue.Queue(maxsize=depth)
    gone = threading.Event()
    thread = threading.Thread(target=_produce, args=(items, box, gone), name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        gone.set()
        thread.join()
