"""Running a study: plan its steps, execute those not yet done, time them, write the report.

``jobs`` steps run side by side (:mod:`synthreid.study.schedule` says which may start,
:mod:`synthreid.study.pool` runs them in spawned worker processes); a step that takes every
core (renders, refiners, a recipe with all cores' threads) runs alone in this process, as do
all steps with ``jobs = 1``. Only this process writes the cache: a step's ``done.json`` is
written after its worker returned, so a stopped study never leaves a finished-looking entry.

Progress: one line per step (stage, arm, seed, test set, steps started, ETA for the whole
study); steps run here show their own progress bar (rate, ETA) below it, steps in workers a
``done`` line each, and a ``running`` line every minute without news. The ETA plays the schedule
forward with each remaining step's images over its stage's measured rate (images/s of the steps
done so far, in this run or earlier ones; a stage not yet measured uses a rough CPU prior).
Study overhead is wall time minus the time some step was running (steps side by side count once).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from synthreid.render.scratch import pid_alive
from synthreid.study.cache import StepCache
from synthreid.study.fingerprint import FingerprintMemo
from synthreid.study.pool import Failed, WorkerPool
from synthreid.study.schedule import Demand, Scheduler, estimate
from synthreid.study.spec import StudySpec
from synthreid.study.steps import Step, StudyError, execute, plan, warm_up

log = logging.getLogger(__name__)

# Rough images/s of each stage on a 2-core CPU (train: the fast recipe), used only until the
# stage has been measured in this output folder.
PRIOR_RATES = {
    "render": 0.5,
    "refine": 1.0,
    "degrade": 150.0,
    "train": 150.0,
    "evaluate": 300.0,
    "chance": 20000.0,
    "untrained": 300.0,
    "handcrafted": 300.0,
}

StepHook = Callable[[Step, str], None]
EXCLUSIVE_STAGES = ("render", "refine")  # they use every core themselves
HEARTBEAT_S = 60.0  # a "running" line after this long without a step ending


def step_id(step: Step) -> tuple:
    return (step.stage, step.key)


@dataclass
class StudyOutcome:
    """What one run of a study did. ``records``: completion record of every step, by (stage, key);
    ``work_seconds``: the executed steps' own wall times added up; ``busy_seconds``: wall time
    during which at least one step ran (less than ``work_seconds`` when steps ran side by side)."""

    out: Path
    steps: list[Step]
    executed: list[Step] = field(default_factory=list)
    records: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    work_seconds: float = 0.0
    busy_seconds: float = 0.0
    jobs: int = 1
    report: dict = field(default_factory=dict)

    @property
    def overhead_seconds(self) -> float:
        return max(0.0, self.wall_seconds - self.busy_seconds)


class StudyLock:
    """``OUT/study.lock`` holding the running process's id: two runs of one output folder would
    work in the same step folders. A lock left by a process that is gone is taken over."""

    def __init__(self, out: Path):
        self.path = out / "study.lock"

    def __enter__(self):
        import os

        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid_alive(pid):
                    raise StudyError(
                        f"{self.path}: another study (process {pid}) is running in this output "
                        "folder; wait for it or stop it"
                    ) from None
                self.path.unlink(missing_ok=True)  # left by a process that is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return self
        raise StudyError(f"{self.path}: cannot take the study lock")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)
        return False


def fmt_duration(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Runner:
    """Runs ``spec`` into ``out`` (``out/cache`` holds the steps, ``out`` the report).

    ``jobs``: steps run side by side (>= 1; 1: one after another, all in this process).
    ``hook(step, phase)`` is called in this process with phase ``"start"`` before a step runs
    and ``"finished"`` after its work and before it is marked done (tests interrupt studies
    there).
    ``stream``: where progress lines go (None: silent); ``progress``: the steps' own bars.
    ``started``: ``time.perf_counter()`` when the command began (so that reading and checking the
    study file count as overhead); default: now.
    """

    def __init__(
        self,
        spec: StudySpec,
        out: str | Path,
        progress: bool = True,
        hook: StepHook | None = None,
        stream: TextIO | None = sys.stderr,
        started: float | None = None,
        jobs: int = 1,
    ):
        if not isinstance(jobs, int) or jobs < 1:
            raise StudyError(f"jobs: expected an integer >= 1, got {jobs!r}")
        self.spec, self.out, self.started, self.jobs = spec, Path(out), started, jobs
        self.progress, self.hook, self.stream = progress, hook, stream
        self.cache = StepCache(self.out / "cache")

    def say(self, text: str) -> None:
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def _rates(self, records: dict) -> dict[str, float]:
        totals: dict[str, list[float]] = {}
        for rec in records.values():
            if rec.get("seconds", 0) > 0 and rec.get("units", 0) > 0:
                t = totals.setdefault(rec["stage"], [0.0, 0.0])
                t[0] += rec["units"]
                t[1] += rec["seconds"]
        return {**PRIOR_RATES, **{s: u / sec for s, (u, sec) in totals.items()}}

    def run(self) -> StudyOutcome:
        t0 = time.perf_counter() if self.started is None else self.started
        self.out.mkdir(parents=True, exist_ok=True)
        with StudyLock(self.out):
            return self._run(t0)

    def show_plan(self) -> list[tuple[Step, bool]]:
        """Print every step with whether it is done, and the ETA; runs nothing."""
        memo = FingerprintMemo(self.cache.root / "fingerprints.json")
        steps = plan(self.spec, self.cache, memo)
        records = {step_id(s): r for s in steps if (r := self.cache.record(s.stage, s.key)) is not None}
        out = [(s, step_id(s) in records) for s in steps]
        for s, done in out:
            self.say(f"  {'done' if done else 'todo'}  {s.label}  ({s.units:.0f} images)")
        todo = len({step_id(s) for s, d in out if not d})
        eta = _Run(self, steps, StudyOutcome(self.out, steps, records=records, jobs=self.jobs)).eta()
        self.say(
            f"study {self.spec.name}: {todo} steps to run; ETA {fmt_duration(eta)} with {self.jobs} "
            f"job{'s' if self.jobs > 1 else ''}"
        )
        return out

    def _run(self, t0: float) -> StudyOutcome:
        memo = FingerprintMemo(self.cache.root / "fingerprints.json")
        steps = plan(self.spec, self.cache, memo)
        memo.save()
        outcome = StudyOutcome(self.out, steps, jobs=self.jobs)
        records = outcome.records
        for s in steps:
            rec = self.cache.record(s.stage, s.key)
            if rec is not None:
                records[step_id(s)] = rec
        run = _Run(self, steps, outcome)
        self.say(
            f"study {self.spec.name}: {len(run.unique)} steps, {len(run.unique) - len(run.sched.pending)} "
            f"done (cache {self.cache.root}); {self.jobs} job{'s' if self.jobs > 1 else ''}; "
            f"ETA {fmt_duration(run.eta())}"
        )
        run.go()
        from synthreid.study.report import write_report

        outcome.wall_seconds = time.perf_counter() - t0
        outcome.report = write_report(self.spec, outcome, self.out, clock=lambda: time.perf_counter() - t0)
        self.say(
            f"study {self.spec.name}: executed {len(outcome.executed)} of {len(run.unique)} steps in "
            f"{fmt_duration(outcome.wall_seconds)}; study overhead {outcome.overhead_seconds:.2f} s "
            f"({100 * outcome.overhead_seconds / max(outcome.wall_seconds, 1e-9):.1f} % of wall time)"
        )
        self.say(f"report: {outcome.report.get('md')}")
        return outcome

    def _begin(self, step: Step) -> Path:
        if self.hook:
            self.hook(step, "start")
        description = {
            "stage": step.stage,
            "arm": step.arm,
            "seed": step.seed,
            "test": step.test,
            "role": step.role,
            "params": step.params,
        }
        return self.cache.begin(step.stage, step.key, description)

    def _commit(self, step: Step, result: dict, units: float, seconds: float) -> dict:
        if self.hook:
            self.hook(step, "finished")
        return self.cache.finish(
            step.stage,
            step.key,
            {
                "stage": step.stage,
                "arm": step.arm,
                "seed": step.seed,
                "test": step.test,
                "role": step.role,
                "seconds": seconds,
                "units": units,
                "result": result,
            },
        )


class _Run:
    """One execution of a planned study: the scheduling loop, its workers and its progress lines."""

    def __init__(self, runner: Runner, steps: list[Step], outcome: StudyOutcome):
        self.r, self.outcome, self.steps = runner, outcome, steps
        self.unique: dict[tuple, Step] = {}
        for s in steps:
            self.unique.setdefault(step_id(s), s)
        done = set(outcome.records)
        cuda = _cuda_probe()
        demand = {i: step_demand(s, runner.jobs, cuda) for i, s in self.unique.items() if i not in done}
        self.sched = Scheduler(
            self.unique, {i: s.after for i, s in self.unique.items()}, demand, runner.jobs, done
        )
        self.started_at: dict[tuple, float] = {}
        self.intervals: list[tuple[float, float]] = []
        self.pool: WorkerPool | None = None

    def eta(self) -> float:
        """Seconds until the study is done: the schedule played forward with each step's
        images over its stage's measured images/s (running steps: minus their time so far)."""
        rates = self.r._rates(self.outcome.records)
        est = {i: s.units / rates.get(s.stage, 1.0) for i, s in self.unique.items()}
        now = time.perf_counter()
        left = {i: est[i] - (now - self.started_at.get(i, now)) for i in self.sched.running}
        return estimate(self.sched, est, left)

    def _line(self, step: Step) -> str:
        n = len(self.unique)
        k = n - len(self.sched.pending)
        side = f" · {len(self.sched.running)} running" if len(self.sched.running) > 1 else ""
        return f"study {self.r.spec.name} [{k}/{n}] {step.label}{side} · ETA study {fmt_duration(self.eta())}"

    def go(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            if self.pool is not None:
                self.pool.stop()
                self.pool = None
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            self.r.say(
                f"study {self.r.spec.name}: stopped ({why}); finished steps are kept, "
                "run the same command again to resume"
            )
            raise
        finally:
            if self.pool is not None:
                self.pool.close()
        self.outcome.busy_seconds = _union(self.intervals)

    def _loop(self) -> None:
        failed: list[tuple[Step, BaseException, str]] = []
        while True:
            if not failed and self._start_ready():
                continue  # a step ran here: what may start next changed
            if not self.sched.running:
                break
            events = self.pool.wait(timeout=HEARTBEAT_S)
            if not events:
                running = ", ".join(self.unique[i].label for i in self.sched.running)
                self.r.say(f"  running: {running} · ETA study {fmt_duration(self.eta())}")
            for ev in events:
                self._ended(ev, failed)
        if failed:
            step, error, trace = failed[0]
            if trace:
                log.debug("%s failed in a worker process:\n%s", step.label, trace)
            raise step_failed(step, error)
        if blocked := self.sched.blocked():
            raise StudyError(f"steps wait for inputs that never come: {', '.join(map(str, blocked))}")

    def _start_ready(self) -> bool:
        """Start what may start: steps for workers, or one exclusive step here (returns True)."""
        for i in self.sched.startable():
            step = self.unique[i]
            if self.sched.demand[i].exclusive:
                self._inline(i, step)
                return True
            self._submit(i, step)
        return False

    def _ended(self, ev, failed: list) -> None:
        step = self.unique[ev.key]
        self.sched.finish(ev.key)
        if isinstance(ev, Failed):
            if isinstance(ev.error, KeyboardInterrupt):
                raise KeyboardInterrupt
            failed.append((step, ev.error, ev.trace))
            if self.sched.running:
                self.r.say(
                    f"study {self.r.spec.name}: {step.label} failed; waiting for the "
                    f"{len(self.sched.running)} running step(s) to finish"
                )
            return
        result, units = ev.value
        self._done(step, result, units, ev.seconds, time.perf_counter() - ev.seconds)

    def _inline(self, i: tuple, step: Step) -> None:
        folder = self.r._begin(step)
        self.sched.start(i)
        self.started_at[i] = time.perf_counter()
        self.r.say(self._line(step))
        ts = time.perf_counter()
        try:
            result, units = execute(step, folder, self.r.progress)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            raise step_failed(step, exc) from exc
        seconds = time.perf_counter() - ts
        self.sched.finish(i)
        self._done(step, result, units, seconds, ts)

    def _submit(self, i: tuple, step: Step) -> None:
        if self.pool is None:
            self.pool = WorkerPool(self.r.jobs, init=warm_up)
        folder = self.r._begin(step)
        self.sched.start(i)
        self.started_at[i] = time.perf_counter()
        self.pool.submit(i, execute, step, folder, False)
        self.r.say(self._line(step))

    def _done(self, step: Step, result: dict, units: float, seconds: float, began: float) -> None:
        rec = self.r._commit(step, result, units, seconds)
        self.outcome.records[step_id(step)] = rec
        self.outcome.executed.append(step)
        self.outcome.work_seconds += seconds
        self.intervals.append((began, began + seconds))
        rate = f", {rec['units'] / seconds:.1f} img/s" if seconds > 0 and rec["units"] else ""
        what = f" {step.label}" if self.r.jobs > 1 else ""
        self.r.say(f"  done{what} in {fmt_duration(seconds)}{rate}")


def step_failed(step: Step, error: BaseException) -> StudyError:
    """The study's error for a failed step: names the step, keeps the cause."""
    kind = getattr(error, "kind", type(error).__name__)  # a WorkerError names what it stands for
    err = StudyError(f"{step.label} failed: {kind}: {error}")
    err.__cause__ = error
    return err


def _union(intervals: list[tuple[float, float]]) -> float:
    """Total length of the union of (start, end) intervals (seconds some step was running)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def _cuda_probe() -> Callable[[], bool]:
    memo: list[bool] = []

    def available() -> bool:
        if not memo:
            import torch

            memo.append(torch.cuda.is_available())
        return memo[0]

    return available


def step_demand(step: Step, jobs: int, cuda: Callable[[], bool] = lambda: False) -> Demand:
    """What ``step`` keeps busy when ``jobs`` cores are the study's (see docs/study.md).

    Renders and refiners use every core themselves (render worker processes, the refiner's
    torch threads): exclusive. Training, evaluation and the untrained baseline occupy their
    recipe's torch threads (unset: every core) plus its loader processes, capped at ``jobs``
    (all of them: exclusive), and the GPU when their device is one; an evaluation also holds
    its training run (it writes the run's metrics.json). Degrading and the chance and
    hand-crafted baselines compute on one thread.
    """
    if step.stage in EXCLUSIVE_STAGES:
        return Demand(jobs, exclusive=True)
    fields = {
        "train": lambda: step.params["config"],
        "evaluate": lambda: step.params.get("resources", {}),
        "untrained": lambda: step.params["recipe"],
    }.get(step.stage)
    if fields is None:
        return Demand(1)
    from synthreid.benchmark.engine import TrainConfig
    from synthreid.cliutil import available_cores

    cfg = TrainConfig.from_dict({**fields(), "train": ["-"], "val": "-"})
    cpus = min(jobs, (cfg.threads or available_cores()) + max(0, cfg.workers))
    gpu = cfg.device.startswith("cuda") or (cfg.device == "auto" and cuda())
    lock = step.params["run_dir"] if step.stage == "evaluate" else None
    return Demand(cpus, exclusive=cpus >= jobs, gpu=gpu, lock=lock)


def run_study(spec: StudySpec, out: str | Path, **kwargs) -> StudyOutcome:
    """Run (or resume) ``spec`` into ``out``; see :class:`Runner`."""
    return Runner(spec, out, **kwargs).run()
