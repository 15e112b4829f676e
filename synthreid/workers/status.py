"""``synthreid status``: per dataset images done / total, failures, render rate, ETA; refiner and
re-ID runs (state, progress, metrics summary, last error); live workers; warnings when the
queue and the catalog disagree.

A dataset whose due tasks have waited longer than a lease with none running and nothing
finished is "stalled": it gets no ETA (a rate measured earlier would promise progress that
is not happening).

Counts come from the ``tasks`` table (one row per character, indexed on (dataset_id, state,
finished_at)): images are marked done in the same transaction that finishes their task, so
summing ``n_images`` over done tasks equals the number of done image rows, without scanning
a million image rows.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from synthreid.errors import DatasetError
from synthreid.workers.catalog import Catalog, RunState, TaskState

CHECK_SAMPLE = 1000  # queued tasks looked up in Redis by `status`


@dataclass
class DatasetStatus:
    name: str
    total: int
    done: int
    failed: int
    running_tasks: int
    pending_tasks: int
    failed_tasks: int
    retrying_tasks: int
    rate: float  # images per second over the recent window
    eta_seconds: float | None
    finalized: bool
    errors: list[dict] = field(default_factory=list)
    kind: str = "rendered"
    stalled: bool = False
    finalize_error: str | None = None
    planned: int | None = None  # characters planned so far while its enqueue runs; None = all
    characters: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def dataset_status(
    catalog: Catalog, ds: dict, window: float = 300.0, stall_after: float = 60.0
) -> DatasetStatus:
    """Counts, rate and ETA of one dataset; ``stall_after`` (s, one lease): how long due tasks
    may wait with none running and nothing finished before the dataset counts as stalled."""
    now = time.time()

    def fn(cur):
        by_state = {
            TaskState(r[0]): (int(r[1]), int(r[2] or 0))
            for r in catalog.q(
                cur,
                "SELECT state, COUNT(*), SUM(n_images) FROM tasks WHERE dataset_id = ? GROUP BY state",
                (ds["id"],),
            ).fetchall()
        }
        recent = catalog.q(
            cur,
            "SELECT SUM(n_images) FROM tasks WHERE dataset_id = ? AND state = 'done' AND finished_at >= ?",
            (ds["id"], now - window),
        ).fetchone()[0]
        retrying = catalog.q(
            cur,
            "SELECT COUNT(*) FROM tasks WHERE dataset_id = ? AND state = 'pending' "
            "AND last_error IS NOT NULL",
            (ds["id"],),
        ).fetchone()[0]
        errors = catalog.q(
            cur,
            "SELECT id, payload, attempts, last_error FROM tasks WHERE dataset_id = ? AND "
            "state = 'failed' ORDER BY id LIMIT 3",
            (ds["id"],),
        ).fetchall()
        due = catalog.q(
            cur,
            "SELECT COUNT(*) FROM tasks WHERE dataset_id = ? AND state = 'pending' AND not_before <= ?",
            (ds["id"], now),
        ).fetchone()[0]
        # Latest sign of life: a task finished, started, or came due (a retry after its backoff).
        active = catalog.q(
            cur, "SELECT MAX(finished_at), MAX(started_at) FROM tasks WHERE dataset_id = ?", (ds["id"],)
        ).fetchone()
        woke = catalog.q(
            cur,
            "SELECT MAX(not_before) FROM tasks WHERE dataset_id = ? AND state = 'pending' AND "
            "not_before <= ?",
            (ds["id"], now),
        ).fetchone()[0]
        last = max([float(v) for v in (*active, woke) if v is not None] + [float(ds["created_at"])])
        return by_state, int(recent or 0), int(retrying), errors, int(due), last

    total = ds["characters"] * ds["images_per_character"]
    if ds["kind"] != "rendered":  # refined/imported datasets are registered once complete
        total = (ds["spec"].get("counts") or {}).get("images", total)  # imported: identities differ in size
        return DatasetStatus(
            name=ds["name"],
            total=total,
            done=total,
            failed=0,
            running_tasks=0,
            pending_tasks=0,
            failed_tasks=0,
            retrying_tasks=0,
            rate=0.0,
            eta_seconds=0.0,
            finalized=True,
            kind=ds["kind"],
        )
    by_state, recent, retrying, errors, due, last = catalog.run(fn)
    done = by_state.get(TaskState.DONE, (0, 0))[1]
    failed = by_state.get(TaskState.FAILED, (0, 0))[1]
    span = max(1.0, min(window, now - ds["created_at"]))
    rate = recent / span
    remaining = total - done - failed
    running = by_state.get(TaskState.RUNNING, (0, 0))[0]
    stalled = remaining > 0 and running == 0 and due > 0 and now - last > stall_after
    eta = remaining / rate if rate > 0 and not stalled else (0.0 if remaining == 0 else None)
    return DatasetStatus(
        name=ds["name"],
        total=total,
        done=done,
        failed=failed,
        running_tasks=running,
        pending_tasks=by_state.get(TaskState.PENDING, (0, 0))[0],
        failed_tasks=by_state.get(TaskState.FAILED, (0, 0))[0],
        retrying_tasks=retrying,
        rate=rate,
        eta_seconds=eta,
        finalized=ds["finalized_at"] is not None,
        errors=[
            {"task": r[0], "attempts": r[2], "error": (r[3] or "").splitlines()[0] if r[3] else ""}
            for r in errors
        ],
        stalled=stalled,
        planned=ds.get("planned_characters"),
        characters=ds["characters"],
        finalize_error=ds.get("finalize_error"),
    )


def run_state(run: dict) -> RunState:
    """A run's state as its latest task sees it (the reaper changes tasks, not runs)."""
    task = run.get("task_state")
    if task == TaskState.PENDING:
        return RunState.RETRYING if run.get("task_error") else RunState.QUEUED
    if task == TaskState.RUNNING:
        return RunState.RUNNING
    if task == TaskState.FAILED:
        return RunState.FAILED
    return RunState(run["state"])


def run_status(run: dict) -> dict:
    """One run for status: name, kind, state, progress, metrics summary, attempts, error lines."""
    state = run_state(run)
    err = run.get("task_error") or run.get("error") if state in (RunState.FAILED, RunState.RETRYING) else None
    return {
        "name": run["name"] or run["run_dir"],
        "kind": run["kind"],
        "state": state,
        "progress": run.get("progress") if state != RunState.DONE else None,
        "summary": metrics_summary(run["kind"], run.get("metrics")) if state == RunState.DONE else "",
        "attempts": run.get("task_attempts"),
        "max_attempts": run.get("task_max_attempts"),
        "error": "\n".join((err or "").strip().splitlines()[-3:]) if err else None,
        "metrics": run.get("metrics"),
        "run_dir": run.get("run_dir"),
    }


def metrics_summary(kind: str, metrics: dict | None) -> str:
    """One line: per re-ID test result rank-1 (and mAP) in %, or a refiner's iteration and G loss."""
    if not metrics:
        return ""
    if kind == "refiner":
        g = (metrics.get("losses") or {}).get("G")
        return f"iter {metrics.get('iteration', '?')}" + (
            f", G loss {g:.3f}" if isinstance(g, (int, float)) else ""
        )
    parts = []
    for key in sorted(metrics):
        m = metrics[key]
        if isinstance(m, dict) and isinstance(m.get("rank1"), (int, float)):
            mp = f" mAP {100 * m['mAP']:.1f}" if isinstance(m.get("mAP"), (int, float)) else ""
            parts.append(f"{key}: r1 {100 * m['rank1']:.1f}{mp}")
    return "; ".join(parts)


def queue_warnings(catalog: Catalog, dispatcher, lease: float) -> list[str]:
    """Where the queue (Redis) and the catalog disagree: tasks queued in the catalog for more
    than a lease whose job Redis does not hold, messages set aside, Redis unreachable."""
    if dispatcher is None or dispatcher.kind == "local":
        return []
    from synthreid.workers.dispatch import DEAD_LETTER, DispatchError

    now = time.time()
    queued, stale = catalog.queued_count(older_than=lease)
    ids = [
        r[0]
        for r in catalog.run(
            lambda cur: catalog.q(
                cur,
                "SELECT id FROM tasks WHERE state = 'pending' AND not_before <= ? AND dispatched_at < ? "
                "ORDER BY dispatched_at LIMIT ?",
                (now, now - lease, CHECK_SAMPLE),
            ).fetchall()
        )
    ]
    out = []
    try:
        lost = dispatcher.missing(ids)
        lengths = dispatcher.queue_lengths(("render", "gpu"))
        dead = dispatcher.dead_letters()
    except DispatchError as exc:
        return [f"queue: {exc}; {queued} tasks wait in the catalog"]
    if lost:
        more = f" (of the {len(ids)} oldest checked)" if stale > len(ids) else ""
        out.append(
            f"queue and catalog disagree: {len(lost)} tasks queued in the catalog for more than a lease "
            f"have no job in Redis{more}; Redis holds {sum(lengths.values())} jobs. A running worker's "
            f"reaper re-sends them within about {lease:.0f} s (`synthreid reconcile` does it at once)"
        )
    if dead:
        out.append(f"{dead} malformed or foreign queue messages were set aside (Redis list {DEAD_LETTER})")
    return out


def farm_status(
    catalog: Catalog,
    name: str | None = None,
    live_within: float = 60.0,
    dispatcher=None,
    lease: float | None = None,
) -> dict:
    """{'datasets': [DatasetStatus...], 'runs': [run_status...], 'workers': [...], 'warnings': [...]};
    one dataset (and no runs) when ``name`` is given. ``lease`` (s, default ``live_within``)
    is the stall threshold; with a ``dispatcher`` the queue is compared with the catalog."""
    lease = live_within if lease is None else lease
    if name is not None:
        ds = catalog.get_dataset(name)
        if ds is None:
            raise DatasetError(f"dataset {name!r} is not in the catalog")
        datasets = [ds]
    else:
        datasets = catalog.list_datasets()
    runs = [] if name is not None else [run_status(r) for r in catalog.list_runs()]
    statuses = [dataset_status(catalog, d, stall_after=lease) for d in datasets]
    warnings = queue_warnings(catalog, dispatcher, lease)
    for d in statuses:
        if d.stalled:
            warnings.append(
                f"{d.name}: stalled: {d.pending_tasks} tasks due and none running for more than "
                f"{lease:.0f} s (no worker serving the queue, or their jobs were lost)"
            )
    return {
        "datasets": statuses,
        "runs": runs,
        "workers": catalog.live_workers(live_within),
        "warnings": warnings,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def format_status(status: dict) -> str:  # noqa: C901 - a report with one optional section per state; sections are independent
    lines = [
        f"{'dataset':24s} {'done/total':>17s} {'%':>6s} {'failed':>7s} {'run':>4s} {'rate/s':>7s} {'ETA':>8s}"
    ]
    for d in status["datasets"]:
        pct = 100.0 * d.done / d.total if d.total else 100.0
        state = f" {d.kind}" if d.kind != "rendered" else (" finalized" if d.finalized else "")
        if d.planned is not None:
            state += f" planning {d.planned}/{d.characters} characters"
        elif not d.finalized and d.kind == "rendered" and d.running_tasks == 0 and d.pending_tasks == 0:
            state += " finalizing"
        eta = "stalled" if d.stalled else _duration(d.eta_seconds)
        lines.append(
            f"{d.name:24s} {d.done:>8d}/{d.total:<8d} {pct:6.1f} {d.failed:>7d} {d.running_tasks:>4d} "
            f"{d.rate:7.2f} {eta:>8s}{state}"
        )
        if d.retrying_tasks:
            lines.append(f"  {d.retrying_tasks} tasks waiting to retry")
        for e in d.errors:
            lines.append(f"  failed task {e['task']} after {e['attempts']} attempts: {e['error']}")
        if d.finalize_error and not d.finalized:
            lines.append(f"  finalize failed (retried by an idle worker): {d.finalize_error.splitlines()[0]}")
    if status.get("runs"):
        lines.append(f"{'run':24s} {'kind':8s} {'state':9s} {'progress':>18s}  result")
        for r in status["runs"]:
            p = r["progress"]
            prog = f"{p['done']}/{p['total']} {p['unit']}" if p else ""
            if r["state"] in (RunState.RETRYING, RunState.FAILED) and r["attempts"]:
                prog = f"attempt {r['attempts']}/{r['max_attempts']}"
            lines.append(f"{str(r['name']):24s} {r['kind']:8s} {r['state']:9s} {prog:>18s}  {r['summary']}")
            for line in (r["error"] or "").splitlines():
                lines.append(f"  ! {line}")
    ws = status["workers"]
    for w in status.get("warnings", []):
        lines.append(f"warning: {w}")
    lines.append(f"live workers: {len(ws)}")
    for w in ws:
        task = f"task {w['task_id']}" if w["task_id"] else "idle"
        lines.append(f"  {w['name']} ({w['queues']}): {task}, {w['tasks_done']} tasks done")
    return "\n".join(lines)
