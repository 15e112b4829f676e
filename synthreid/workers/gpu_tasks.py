"""Submitting and running gpu-queue tasks (see ``jobs`` for the payload and its validation).

A worker runs such a task as a child process of the same Python (``synthreid.workers.child``,
which runs ``synthreid.cli``), its output appended to ``runs/NAME/worker.log``. While the child
runs, the worker's heartbeat thread renews the lease and this loop stores the run's progress
(read from the files the run writes); a stop request or a lost lease terminates the child's
whole process group. On success the run (config, inputs, metrics, artifact paths) and, for an
apply, the refined dataset are recorded together with the task's completion.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthreid.dataset import Dataset
from synthreid.errors import DatasetError, SynthreidError
from synthreid.runfolder import RunFolder
from synthreid.workers.catalog import Catalog, Task
from synthreid.workers.config import FarmConfig
from synthreid.workers.interrupts import StopRequested, TaskLost
from synthreid.workers.jobs import GPU_QUEUE, JobError, JobPlan, build_plan, job_from_args

log = logging.getLogger(__name__)

LOG_NAME = "worker.log"
ERROR_LINES = 15


class JobFailed(SynthreidError):
    """The child process of a gpu task exited with an error; the message holds its last log lines."""


# ---- submit ---------------------------------------------------------------------------------
def catalog_known(catalog: Catalog, data_dir: Path) -> Callable[[str, str], bool]:
    """``known(kind, name)`` of ``build_plan``: a folder under the data directory, or a catalog row."""

    def known(kind: str, name: str) -> bool:
        if (data_dir / ("datasets" if kind == "dataset" else "runs") / name).is_dir():
            return True
        return (catalog.get_dataset(name) if kind == "dataset" else catalog.get_run(name)) is not None

    return known


def submit_job(
    catalog: Catalog,
    config: FarmConfig,
    command: str,
    run: str,
    args: list[str],
    check_argv: Callable[[list[str]], str | None] | None = None,
) -> tuple[JobPlan, int]:
    """Validate a job against the catalog and data directory, then create its task and queued run.

    ``check_argv(argv)``: the command line's dry run of the sub-command's parser over the
    resolved ``synthreid`` arguments, returning its error message or None (the farm itself
    parses no command line). Returns (plan, task id); the caller dispatches ``(task id,
    GPU_QUEUE)``. Nothing is written when validation fails.
    """
    job = job_from_args(command, run, args)
    data_dir = config.data_dir.resolve()
    plan = build_plan(job, data_dir, catalog_known(catalog, data_dir))
    error = check_argv(plan.argv) if check_argv is not None else None
    if error:
        raise JobError(f"{command}: {error}")
    if plan.new_dataset is not None and plan.new_dataset_dir is not None:
        out = plan.new_dataset_dir
        # An unfinished apply (its marker file is there) may be resumed; anything else is taken.
        taken = (out / "manifest.json").is_file() or (
            out.is_dir() and any(out.iterdir()) and not (out / ".refine-apply.json").is_file()
        )
        if catalog.get_dataset(plan.new_dataset) is not None or taken:
            raise DatasetError(f"dataset {plan.new_dataset!r} already exists; choose another --name")
    task_id, _ = catalog.create_gpu_task(
        kind=plan.job.task_kind,
        queue=GPU_QUEUE,
        payload=job.to_payload(),
        run_name=run,
        run_kind=plan.job.run_kind,
        max_attempts=config.max_attempts,
    )
    return plan, task_id


# ---- progress and results -------------------------------------------------------------------
def read_progress(plan: JobPlan) -> dict | None:
    """{'done', 'total', 'unit'} of a running job, or None if unknown: a training run's from its
    run folder's state.json (written with each checkpoint), an apply's by counting images."""
    if plan.new_dataset_dir is None:
        progress = RunFolder(plan.run_dir).progress()
        return None if progress is None else progress.to_dict()
    source = Path(plan.argv[plan.argv.index("--source") + 1])
    try:
        total = sum(1 for p in (source / "images").iterdir() if not p.name.startswith("."))
        done = sum(1 for p in (plan.new_dataset_dir / "images").iterdir() if not p.name.startswith("."))
    except OSError:
        return None
    return {"done": done, "total": total, "unit": "img"}


def collect_results(plan: JobPlan) -> tuple[dict, dict | None]:
    """(``Catalog.record_run`` keyword arguments, refined dataset or None) of a finished job."""
    folder = RunFolder(plan.run_dir)
    record: dict[str, Any] = {
        "kind": plan.job.run_kind,
        "name": plan.run,
        "run_dir": str(plan.run_dir.resolve()),
        "config": folder.read_config() if folder.has_config() else {},
        "metrics": folder.read_metrics(),
        "artifacts": folder.artifacts(),
    }
    if not plan.job.run_exists:  # a training job: the datasets and runs it was made from
        record["inputs"] = {k: (v if k in ("train", "test") else v[0]) for k, v in plan.inputs.items()}
    dataset = None
    if plan.new_dataset is not None and plan.new_dataset_dir is not None:
        ds = Dataset(plan.new_dataset_dir)
        records = ds.records()
        ids = len({r.pid for r in records})
        dataset = {
            "name": plan.new_dataset,
            "spec": ds.manifest,
            "parent": plan.inputs["source"][0],
            "characters": ids,
            "images_per_character": len(records) // ids if ids else 0,
        }
        record["artifacts"][f"dataset:{plan.new_dataset}"] = str(plan.new_dataset_dir.resolve())
    return record, dataset


def log_tail(path: Path, lines: int = ERROR_LINES, start: int = 0) -> str:
    """Last ``lines`` non-empty lines of a log from byte ``start`` on (progress bars' carriage
    returns split lines)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(start, os.path.getsize(path) - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    parts = [
        p.rstrip() for p in text.replace("\r", "\n").split("\n") if p.strip() and not p.startswith("=== ")
    ]
    return "\n".join(parts[-lines:])


# ---- running --------------------------------------------------------------------------------
def _terminate(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the child's process group (its data loader workers too), SIGKILL after ``grace`` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def child_env(config: FarmConfig) -> dict:
    """The child sees the worker's catalog and data dir (``catalog:NAME`` datasets resolve there)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SYNTHREID_DATA_DIR": str(config.data_dir)}
    if config.database_url:
        env["SYNTHREID_DATABASE_URL"] = config.database_url
    else:
        env.pop("SYNTHREID_DATABASE_URL", None)
    return env


def run_gpu_task(
    catalog: Catalog,
    task: Task,
    *,
    worker: str,
    config: FarmConfig,
    should_stop: Callable[[], bool] = lambda: False,
    lease_ok: Callable[[], bool] = lambda: True,
    poll_seconds: float = 0.5,
    progress_every: float = 5.0,
    term_grace: float = 30.0,
) -> dict:
    """Run one gpu task to the end; returns {'run', 'returncode', 'seconds', 'dataset'}.

    Raises StopRequested / TaskLost (child terminated), JobError (invalid payload) or JobFailed
    (child exited non-zero; the message ends with the last lines of ``runs/NAME/worker.log``).
    """
    plan = build_plan(task.payload, config.data_dir, catalog_known(catalog, config.data_dir.resolve()))
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    catalog.start_run(plan.run, task.id, str(plan.run_dir.resolve()))
    log_path = plan.run_dir / LOG_NAME
    cmd = [sys.executable, "-m", "synthreid.workers.child", str(os.getpid()), *plan.argv]
    t0 = time.perf_counter()
    with open(log_path, "ab") as logf:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        start = logf.tell()
        logf.write(
            f"{chr(10) if start else ''}=== {stamp} task {task.id} attempt {task.attempts} on {worker}: synthreid "
            f"{' '.join(plan.argv)}\n".encode()
        )
        logf.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=child_env(config),
            cwd=config.data_dir,
            start_new_session=True,
        )
        log.info(
            "task %d: %s run %r started (pid %d), log %s",
            task.id,
            plan.job.command,
            plan.run,
            proc.pid,
            log_path,
        )
        next_progress = time.monotonic() + min(progress_every, 1.0)
        try:
            while True:
                try:
                    rc = proc.wait(poll_seconds)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if should_stop():
                    _terminate(proc, term_grace)
                    raise StopRequested()
                if not lease_ok():
                    _terminate(proc, term_grace)
                    raise TaskLost()
                if time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + progress_every
                    try:
                        catalog.set_run_progress(plan.run, read_progress(plan))
                    except Exception as exc:  # noqa: BLE001 - progress is cosmetic; the run goes on
                        log.warning("task %d: progress not stored: %s", task.id, exc)
        finally:
            if proc.poll() is None:  # e.g. SystemExit from a second signal
                _terminate(proc, 5.0)
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise JobFailed(
            f"synthreid {' '.join(plan.job.cli)} exited with status {rc} after {seconds:.0f} s; "
            f"last lines of {log_path}:\n{log_tail(log_path, start=start)}"
        )
    with contextlib.suppress(Exception):
        catalog.set_run_progress(plan.run, read_progress(plan))
    record, dataset = collect_results(plan)
    if not catalog.finish_gpu_task(task.id, worker, record, dataset):
        raise TaskLost()
    return {"run": plan.run, "returncode": rc, "seconds": seconds, "dataset": dataset and dataset["name"]}
