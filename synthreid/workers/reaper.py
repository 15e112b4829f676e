"""Recovery: the reaper (a thread in every worker) and ``reconcile`` (by hand, optional).

Each reaper pass (every ``SYNTHREID_REAPER_INTERVAL`` s):

1. expired leases go back to pending (or failed when out of attempts), and due pending tasks
   not yet sent are sent;
2. self-healing: pending tasks sent to the queue more than one lease ago are looked up in
   Redis, and those whose job is gone (Redis restarted empty, flushed, a job popped by a
   worker that died before claiming it) are sent again.

So a task is never stuck because of the queue for longer than about one lease plus one
reaper interval; the catalog is the truth and a duplicate job is harmless.
"""

from __future__ import annotations

import logging

from synthreid.workers.catalog import Catalog
from synthreid.workers.dispatch import DispatchError, dispatch

log = logging.getLogger(__name__)

CHECK_BATCH = 1000  # tasks looked up in Redis per query
CHECK_MAX = 100_000  # most tasks looked up per pass (a wholly lost queue: batches until found)


def reap(catalog: Catalog, dispatcher, lease: float | None = None) -> int:
    """One reaper pass; returns the tasks (re-)sent. ``lease``: also heal lost jobs older than it.

    Safe to run in many workers at once: each task is flipped by exactly one UPDATE.
    """
    tasks = catalog.reap()
    n = 0
    if tasks:
        try:
            n = dispatch(catalog, dispatcher, tasks)
            log.info("reaper: re-dispatched %d tasks", n)
        except DispatchError as exc:
            log.warning("reaper: %s; %d tasks stay undispatched", exc, len(tasks))
            return 0
    if lease is not None and dispatcher.kind != "local":
        n += heal(catalog, dispatcher, lease)
    return n


def heal(catalog: Catalog, dispatcher, lease: float) -> int:
    """Re-send pending tasks queued more than ``lease`` s ago whose job Redis no longer holds."""
    sent = checked = 0
    while checked < CHECK_MAX:
        stale = catalog.stale_queued(lease, CHECK_BATCH)
        if not stale:
            break
        checked += len(stale)
        queue_of = dict(stale)
        try:
            lost = dispatcher.missing([t for t, _ in stale])
            if lost:
                dispatch(catalog, dispatcher, [(t, queue_of[t]) for t in lost])
        except DispatchError as exc:
            # Back to "sent long ago", so that the next pass checks them again.
            catalog.undispatch([t for t, _ in stale])
            log.warning("reaper: %s; lost jobs are re-sent once Redis answers", exc)
            break
        if lost:
            sent += len(lost)
            log.warning(
                "reaper: %d of %d queued tasks had lost their job (Redis restarted or flushed?); sent again",
                len(lost),
                len(stale),
            )
        if len(lost) < len(stale):
            break  # the queue holds jobs: no wholesale loss, the rest is checked on later passes
    return sent


def reconcile(catalog: Catalog, dispatcher, clear: bool = True) -> int:
    """Rebuild the queues from the catalog: every due pending task and every expired lease.

    ``clear`` empties the queues first so that they hold one job per unfinished task.
    """
    if clear:
        dispatcher.clear()
    return dispatch(catalog, dispatcher, catalog.redispatchable())
