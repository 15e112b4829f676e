"""Recovery: the reaper (inside every worker) and ``reconcile`` (after Redis was lost).

Recovery time is bounded by the task lease, not by RQ's own maintenance interval.
"""

from __future__ import annotations

import logging

from synthreid.workers.catalog import Catalog
from synthreid.workers.dispatch import DispatchError, dispatch

log = logging.getLogger(__name__)


def reap(catalog: Catalog, dispatcher) -> int:
    """Return expired leases to the queue and dispatch due retries; returns tasks dispatched.

    Safe to run in many workers at once: each task is flipped by exactly one UPDATE.
    """
    tasks = catalog.reap()
    if not tasks:
        return 0
    try:
        n = dispatch(catalog, dispatcher, tasks)
    except DispatchError as exc:
        log.warning("reaper: %s; %d tasks stay undispatched", exc, len(tasks))
        return 0
    log.info("reaper: re-dispatched %d tasks", n)
    return n


def reconcile(catalog: Catalog, dispatcher, clear: bool = True) -> int:
    """Rebuild the queues from the catalog: every due pending task and every expired lease.

    ``clear`` empties the queues first so that they hold one job per unfinished task.
    """
    if clear:
        dispatcher.clear()
    tasks = catalog.redispatchable()
    return dispatch(catalog, dispatcher, tasks)
