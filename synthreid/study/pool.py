"""Worker processes (spawn context) that run a study's steps side by side.

:class:`WorkerPool` starts up to ``size`` processes as they are needed; each runs one task at
a time (a picklable function and its arguments) and stays for the next. The processes start
with one BLAS/OpenMP thread (``ONE_THREAD``): a step that wants more threads sets them itself
(torch's ``set_num_threads``), so a step that sets none cannot spread over cores that other
steps use.

Stopping (:meth:`WorkerPool.stop`): every worker gets SIGINT, i.e. a KeyboardInterrupt inside
its task (the same as Ctrl-C in a terminal, which reaches them too: a worker takes the first
SIGINT and ignores the rest, so its clean-up is not cut short); those still alive after a
grace period are terminated. A worker whose parent is gone interrupts itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_any

ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class Done:
    """Task ``key`` returned ``value`` after ``seconds`` of work (measured in the worker)."""

    key: Hashable
    value: object
    seconds: float


@dataclass(frozen=True)
class Failed:
    """Task ``key`` raised ``error`` (the worker's exception, or a stand-in when it could not
    be sent back); ``trace``: the worker's traceback text."""

    key: Hashable
    error: BaseException
    trace: str


class WorkerError(RuntimeError):
    """A worker process died, or stands for an exception that could not be sent back:
    ``kind`` is then that exception's class name and the message its text."""

    def __init__(self, message: str, kind: str = "WorkerError"):
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):
        return (WorkerError, (str(self), self.kind))


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling both ways, else a :class:`WorkerError` with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - e.g. a required __init__ argument unpickling lacks
        return WorkerError(str(exc), type(exc).__name__)
    return exc


def _interrupt_once(signum, frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # clean-up after the first Ctrl-C runs to its end
    raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    import _thread

    while os.getppid() == parent:
        time.sleep(1.0)
    _thread.interrupt_main()  # parent gone (killed): stop the task, free the step folder


def _worker(conn, parent: int, init: Callable | None) -> None:
    signal.signal(signal.SIGINT, _interrupt_once)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if init is not None:
        try:
            init()
        except KeyboardInterrupt:
            return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:
            return
        fn, args = task
        t0 = time.perf_counter()
        try:
            value = fn(*args)
            seconds = time.perf_counter() - t0
        except KeyboardInterrupt:
            with contextlib.suppress(OSError):
                conn.send(("interrupted", None, None))
            return
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the study
            conn.send(("error", _sendable(exc), traceback.format_exc()))
            continue
        conn.send(("ok", value, seconds))


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Slot:
    def __init__(self, ctx, env: dict[str, str], init: Callable | None):
        self.conn, child = ctx.Pipe()
        # not a daemon: a step may start processes of its own (a torch DataLoader's workers)
        self.proc = ctx.Process(target=_worker, args=(child, os.getpid(), init), daemon=False)
        with _environment(env):
            self.proc.start()
        child.close()
        self.key: Hashable | None = None


class WorkerPool:
    """Up to ``size`` spawned worker processes; ``env``: extra environment of each worker;
    ``init``: a picklable function each worker calls once before its first task (imports, so
    that their time is not counted as a task's)."""

    def __init__(
        self,
        size: int,
        env: dict[str, str] | None = None,
        grace: float = 30.0,
        init: Callable | None = None,
    ):
        self.size, self.env, self.grace = size, dict(ONE_THREAD if env is None else env), grace
        self.init = init
        self.ctx = mp.get_context("spawn")
        self.slots: list[_Slot] = []

    @property
    def busy(self) -> int:
        return sum(s.key is not None for s in self.slots)

    def submit(self, key: Hashable, fn: Callable, *args) -> None:
        """Run ``fn(*args)`` in an idle worker (a new one while fewer than ``size`` exist)."""
        self.slots = [s for s in self.slots if s.key is not None or s.proc.is_alive()]
        slot = next((s for s in self.slots if s.key is None), None)
        if slot is None:
            if len(self.slots) >= self.size:
                raise WorkerError(f"all {self.size} workers are busy")
            slot = _Slot(self.ctx, self.env, self.init)
            self.slots.append(slot)
        slot.key = key
        slot.conn.send((fn, args))

    def wait(self, timeout: float | None = None) -> list[Done | Failed]:
        """Results of the tasks that ended (empty after ``timeout`` seconds without one)."""
        busy = [s for s in self.slots if s.key is not None]
        if not busy:
            return []
        ready = wait_any([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout)
        out = []
        for s in busy:
            if s.conn not in ready and s.proc.sentinel not in ready:
                continue
            key, s.key = s.key, None
            try:
                status, value, extra = s.conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                s.proc.join(1.0)
                out.append(Failed(key, WorkerError(f"worker process died (exit code {s.proc.exitcode})"), ""))
                continue
            if status == "ok":
                out.append(Done(key, value, extra))
            elif status == "error":
                out.append(Failed(key, value, extra))
            else:
                out.append(Failed(key, KeyboardInterrupt(), "interrupted"))
        self.slots = [s for s in self.slots if s.proc.is_alive() or s.key is not None]
        return out

    def stop(self) -> None:
        """Interrupt every worker's task and end the processes (see the module docstring)."""
        for s in self.slots:
            if s.proc.is_alive():
                if s.key is None:
                    with contextlib.suppress(OSError):
                        s.conn.send(None)
                else:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(s.proc.pid, signal.SIGINT)
        self._reap()

    def close(self) -> None:
        """End idle workers (each finishes nothing: call when no task runs)."""
        for s in self.slots:
            with contextlib.suppress(OSError):
                s.conn.send(None)
        self._reap()

    def _reap(self) -> None:
        deadline = time.monotonic() + self.grace
        for s in self.slots:
            s.proc.join(max(0.0, deadline - time.monotonic()))
        for s in self.slots:
            if s.proc.is_alive():
                s.proc.terminate()
                s.proc.join(5.0)
            if s.proc.is_alive():
                s.proc.kill()
                s.proc.join()
            s.conn.close()
        self.slots = []
