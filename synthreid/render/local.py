"""Render a dataset on this machine with long-lived Blender worker processes.

The dataset is planned once, into labels.jsonl (``output.init_dataset``); the parent reads
the stored plans back and feeds the workers one person's plans at a time, a few persons
ahead per worker (the plans stay on disk, not in memory). Each worker process imports bpy
once, builds the stage once and renders whole characters (so the person is built once per
character), writing through ``writer.DatasetWriter``; the parent shows one progress bar
(rate, ETA) over images. Images already complete on disk (checksum-checked) are skipped, so
running again resumes.

Stopping: the parent alone handles SIGINT, SIGTERM and SIGHUP. The first asks the workers
to stop after the image in progress (nothing new is started; workers still starting Blender
are killed, they hold no image), then labels.jsonl is finalized with what was done and
``RenderInterrupted`` raised; a second one kills the workers at once and removes their temp
files (every file is written atomically, so nothing half-written is left). Workers ignore the
terminal's SIGINT/SIGHUP and die with the parent (Linux parent-death signal, plus a
watchdog thread on the parent's sentinel elsewhere). Each run keeps Blender's scratch files
in one ``$TMPDIR/synthreid-render-PID-*`` folder, removed on exit (or by the next run when
the parent was SIGKILLed).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from synthreid.errors import SynthreidError
from synthreid.fsutil import remove_stale_temps
from synthreid.render.model import CharacterPlan, ImagePlan
from synthreid.render.output import finalize_dataset, init_dataset, stored_plans
from synthreid.render.spec import DatasetSpec
from synthreid.render.writer import DatasetWriter

log = logging.getLogger(__name__)

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s)
# Signals a terminal sends to the whole foreground process group: workers ignore them.
GROUP_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGHUP", None)) if s)
TMP_PREFIX = "synthreid-render-"
_TMP_RE = re.compile(rf"^{TMP_PREFIX}(\d+)-[^-]+$")
POLL_S = 0.1  # how often the parent looks at the stop flag while waiting for events


@dataclass
class RenderReport:
    """What one ``render_dataset`` call did (seconds are wall time).

    ``interrupted`` is the number of the first stop signal received (None when the run ended
    by itself); ``left`` counts planned images not rendered; ``finalized`` says whether
    labels.jsonl was rewritten (not after a second signal).
    """

    root: Path
    rendered: int
    skipped: int
    failed: list[tuple[str, str]]
    seconds: float
    interrupted: int | None = None
    left: int = 0
    finalized: bool = True


class RenderInterrupted(KeyboardInterrupt):
    """``render_dataset`` was stopped by a signal (after cleaning up); ``report`` says what was
    done and ``report.interrupted`` which signal. A KeyboardInterrupt, so that callers that
    do not handle it stop as on Ctrl-C instead of taking the dataset as complete."""

    def __init__(self, report: RenderReport):
        name = signal.Signals(report.interrupted).name if report.interrupted is not None else "a signal"
        super().__init__(f"render of {report.root} interrupted by {name}")
        self.report = report


def missing_images(root: Path) -> dict[int, list[int]]:
    """{character index: [image indices not yet complete]} of the plans stored in ``root``."""
    writer = DatasetWriter(root)
    todo: dict[int, list[int]] = {}
    for plan in stored_plans(root):
        if not writer.done(plan.stem):
            todo.setdefault(plan.pid, []).append(plan.index)
    return todo


def _character_tasks(root: Path, todo: dict[int, list[int]]) -> Iterator[tuple[dict, list[dict]]]:
    """(character plan JSON, [image plan JSON without the character]) of each person with
    images in ``todo``, read from the stored plans one person at a time."""
    char, images = None, []
    for plan in stored_plans(root):
        if plan.index not in todo.get(plan.pid, ()):
            continue
        if char is not None and plan.character is not char:
            yield char.to_json(), images
            images = []
        char = plan.character
        images.append(plan.to_json(character=False))
    if char is not None:
        yield char.to_json(), images


# ---- worker process ------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    """Make this process end when the parent does, even when the parent is SIGKILLed."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    parent = mp.parent_process()
    if parent is not None:
        # Elsewhere (and as a second line on Linux): the sentinel becomes ready when it exits.
        threading.Thread(
            target=_exit_with, args=(parent.sentinel,), name="parent-watchdog", daemon=True
        ).start()


def _exit_with(sentinel) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])
    os._exit(1)


def _worker_main(
    spec_dict: dict, root: str, tmp: str, parent_pid: int, tasks, events, stop, ready, slot: int
) -> None:
    """Worker process: render characters from ``tasks`` until a None arrives or ``stop`` is set.

    ``ready[slot]`` (shared memory, no lock a kill could leave held) is set once Blender is up.
    """
    # The parent blocked these signals while starting us; ignore them first, then unblock,
    # so a Ctrl-C in the terminal never raises KeyboardInterrupt inside Blender.
    for s in GROUP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)
    _die_with_parent(parent_pid)
    # Blender's scratch files (the stage's outputs, its own session folder) go under the
    # parent's temp folder, which the parent removes whatever happens to us.
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = tmp
    if not os.environ.get("SYNTHREID_BLENDER_VERBOSE"):
        # Only Blender writes to a worker's stdout (status lines, memory reports at exit);
        # errors reach the parent through ``events``.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    # A parent that imported bpy hands its sys.path (with bpy's scripts/modules folder) to
    # spawned children, where `import bpy` would then find the wrong package.
    sys.path[:] = [p for p in sys.path if "/bpy/" not in p.replace("\\", "/")]
    try:
        from synthreid.render.blender.session import RenderSession

        spec = DatasetSpec.from_dict(spec_dict)
        session = RenderSession(spec)
        writer = DatasetWriter(root, spec.output.format)
    except Exception:  # noqa: BLE001 - reported to the parent, which fails clearly
        events.put(("fatal", os.getpid(), traceback.format_exc()))
        return
    ready[slot] = 1  # until now a kill loses nothing; from now on the parent lets images finish
    try:
        while not stop.is_set():
            item = tasks.get()
            if item is None:
                break
            char_json, image_jsons = item
            character = None
            for image_json in image_jsons:
                if stop.is_set():
                    break
                try:
                    if character is None:
                        character = CharacterPlan.from_json(char_json)
                    plan = ImagePlan.from_json(image_json, character)
                    row = writer.write(plan, session.render(plan))
                    events.put(("done", row["stem"], row["render_seconds"], row["total_seconds"]))
                except Exception as exc:  # noqa: BLE001 - one bad image must not stop the run
                    events.put(("failed", image_json.get("stem", "?"), f"{type(exc).__name__}: {exc}"))
    finally:
        session.close()
    events.put(("exit", os.getpid(), session.timings))
    # Blender's interpreter teardown takes about a second and has nothing to save (every file
    # is written and renamed, the parent removes the temp folder): leave once the events are out.
    events.close()
    events.join_thread()
    sys.stderr.flush()
    os._exit(0)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


# ---- parent --------------------------------------------------------------------------------
class _StopNow(BaseException):
    """Raised in the parent by a second stop signal: leave at once."""


class _Stopper:
    """The parent's handler of STOP_SIGNALS while workers run (main thread only)."""

    def __init__(self):
        self.signum: int | None = None
        self.count = 0
        self._old: dict[int, Any] = {}

    def install(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        for s in STOP_SIGNALS:
            self._old[s] = signal.signal(s, self._handle)
        return True

    def ignore(self) -> None:
        """Ignore further signals while cleaning up (kill, join and rmtree take milliseconds)."""
        for s in self._old:
            signal.signal(s, signal.SIG_IGN)

    def restore(self) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old.clear()

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        if self.count > 1:
            raise _StopNow()


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphan_temp_dirs(base: str | None = None) -> int:
    """Remove ``synthreid-render-PID-*`` folders left by SIGKILLed renders (PID gone); return how many."""
    n = 0
    folder = Path(base or tempfile.gettempdir())
    for d in folder.glob(f"{TMP_PREFIX}*-*"):
        m = _TMP_RE.match(d.name)
        if m and d.is_dir() and int(m[1]) != os.getpid() and not pid_alive(int(m[1])):
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n


def _remove_worker_temps(root: Path, pids) -> None:
    """Delete the atomic-write temp files (``.NAME.PID.tmp``) of killed workers."""
    for sub in ("images", "masks", "meta"):
        for pid in pids:
            for p in (root / sub).glob(f".*.{pid}.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


def _stop_message(signum: int) -> str:
    name = signal.Signals(signum).name
    return (
        f"synthreid: {name}: stopping after the images in progress "
        "(Ctrl-C again, or a second signal, stops at once)"
    )


def render_dataset(
    spec: DatasetSpec, root: str | Path, workers: int | None = None, progress: bool = True
) -> RenderReport:
    """Render every missing image of ``spec`` into ``root`` with ``workers`` processes.

    A SIGINT/SIGTERM/SIGHUP while rendering stops it (see the module docstring) and raises
    ``RenderInterrupted`` carrying the report.
    """
    t0 = time.perf_counter()
    root = Path(root)
    init_dataset(spec, root)  # plans the dataset once, into labels.jsonl, when it is new
    remove_stale_temps(root)
    sweep_orphan_temp_dirs()
    todo = missing_images(root)
    n_todo = sum(len(v) for v in todo.values())
    skipped = spec.total_images - n_todo
    workers = max(1, min(workers or default_workers(), len(todo) or 1))
    if workers > 1 and spec.render.threads == 0:
        # Small crops scale poorly across threads; one thread per process scales well.
        spec = spec.replace(render={**spec.to_dict()["render"], "threads": 1})
    failed: list[tuple[str, str]] = []
    rendered = 0
    stopper = _Stopper()
    hard = False
    finalized = False
    installed = stopper.install()
    try:
        if n_todo:
            rendered, hard = _run_workers(spec, root, todo, n_todo, workers, progress, stopper, failed)
        if not hard:
            try:
                t_fin = time.perf_counter()
                finalize_dataset(root)
                finalized = True
                log.debug("labels.jsonl finalized in %.2f s", time.perf_counter() - t_fin)
            except _StopNow:
                hard = True  # labels.jsonl is written atomically: the old one stays whole
    finally:
        if installed:
            stopper.restore()
    report = RenderReport(
        root,
        rendered,
        skipped,
        failed,
        time.perf_counter() - t0,
        interrupted=stopper.signum,
        left=n_todo - rendered,
        finalized=finalized,
    )
    if report.interrupted is not None:
        raise RenderInterrupted(report)
    return report


def _run_workers(
    spec: DatasetSpec,
    root: Path,
    todo: dict[int, list[int]],
    n_todo: int,
    workers: int,
    progress: bool,
    stopper: _Stopper,
    failed: list,
) -> tuple[int, bool]:
    """Start the workers, show progress until they are done or stopped; (rendered, hard stop)."""
    ctx = mp.get_context("spawn")  # bpy must not be forked from a parent that imported it
    # Every child inherits these signals blocked: workers ignore them before unblocking, and
    # multiprocessing's resource tracker (started by the first queue) keeps SIGHUP blocked
    # for good instead of dying on a hang-up (it ignores SIGINT itself). Ours are delivered
    # when we unblock.
    signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
    try:
        tasks, events, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        ready = ctx.RawArray("b", workers)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)
    feed = _character_tasks(root, todo)
    fed_all = False

    def top_up() -> None:
        """Keep a few persons queued per worker: the plans stay on disk, not in memory."""
        nonlocal fed_all
        while not fed_all and tasks.qsize() < 2 * workers:
            item = next(feed, None)
            if item is None:
                fed_all = True
                for _ in range(workers):
                    tasks.put(None)
            else:
                tasks.put(item)

    top_up()
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(spec.to_dict(), str(root), tmp, os.getpid(), tasks, events, stop, ready, i),
            daemon=True,
        )
        for i in range(workers)
    ]
    rendered, hard, announced, ok = 0, False, 0.0, False
    bar = None
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
        try:
            for p in procs:
                p.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)
        bar = tqdm(total=n_todo, unit="img", desc=f"render {spec.name}", disable=not progress, smoothing=0.1)

        def handle(ev) -> None:
            nonlocal rendered
            if ev[0] == "done":
                rendered += 1
                bar.update(1)
            elif ev[0] == "failed":
                failed.append((ev[1], ev[2]))
                bar.write(f"failed {ev[1]}: {ev[2]}")
            elif ev[0] == "fatal":
                raise SynthreidError(f"render worker {ev[1]} could not start:\n{ev[2]}")

        while True:
            if stopper.signum is None:
                top_up()
            if stopper.signum is not None and not announced:
                stop.set()  # workers finish the image in progress and exit
                if not fed_all:  # wake workers waiting for a task (they see the stop flag)
                    for _ in range(workers):
                        tasks.put(None)
                announced = time.perf_counter()
                if stopper.signum == getattr(signal, "SIGHUP", None):
                    bar.disable = True  # the terminal is probably gone: writing to it would fail
                else:
                    with contextlib.suppress(OSError):
                        bar.write(_stop_message(stopper.signum), file=sys.stderr)
                for i, p in enumerate(procs):  # still starting Blender: nothing of theirs to finish
                    if not ready[i] and p.exitcode is None:
                        p.kill()
            try:
                ev = events.get(timeout=POLL_S)
            except queue_mod.Empty:
                if all(p.exitcode is not None for p in procs):
                    break
                continue
            handle(ev)
        if announced:
            log.debug("stop: workers finished %.2f s after the signal", time.perf_counter() - announced)
        for p in procs:
            if p.exitcode not in (0, None) and stopper.signum is None:
                failed.append(
                    (
                        "worker",
                        f"render worker {p.pid} died (exit code {p.exitcode}); "
                        "its unfinished images are left for the next run",
                    )
                )
        ok = True
    except _StopNow:
        hard = True
    finally:
        stopper.ignore()
        if bar is not None:
            with contextlib.suppress(OSError):
                bar.close()
        for p in procs:
            if p.pid is not None and p.exitcode is None and not ok:
                p.kill()  # a second signal or an error: discard the images in progress
        for p in procs:
            if p.pid is not None:
                p.join(timeout=10)
                if p.exitcode is None:
                    p.kill()
                    p.join()
        _remove_worker_temps(root, [p.pid for p in procs if p.pid is not None])
        shutil.rmtree(tmp, ignore_errors=True)
        # Undelivered tasks must not keep this process alive at exit (the feeder thread
        # would wait for a reader that is gone).
        tasks.cancel_join_thread()
        tasks.close()
        events.close()
        stopper.restore()
        stopper.install()
    return rendered, hard


def override_counts(
    spec: DatasetSpec, characters: int | None, images: int | None, name: str | None = None, **sections
) -> DatasetSpec:
    """A copy of ``spec`` with CLI overrides applied (validated like the TOML)."""
    data = spec.to_dict()
    if characters is not None:
        data["characters"] = characters
    if images is not None:
        data["images_per_character"] = images
    if name is not None:
        data["name"] = name
    for section, values in sections.items():
        if values:
            data[section] = {**data[section], **values}
    return DatasetSpec.from_dict(data)
