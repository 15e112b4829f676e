"""Running a study: plan its steps, execute those not yet done, time them, write the report.

Progress: one line per step (stage, arm, seed, test set, steps done, ETA for the whole study),
with the step's own progress bar (rate, ETA) below it. The ETA sums the remaining steps'
images over each stage's measured rate (images/s of the steps done so far, in this run or
earlier ones; a stage not yet measured uses a rough CPU prior). Study overhead is wall time
minus the time spent inside steps (render, refine, train, evaluate, baselines).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from synthreid.render.local import pid_alive
from synthreid.study.cache import StepCache
from synthreid.study.fingerprint import FingerprintMemo
from synthreid.study.spec import StudySpec
from synthreid.study.steps import Step, execute, plan

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


def step_id(step: Step) -> tuple:
    return (step.stage, step.key)


@dataclass
class StudyOutcome:
    """What one run of a study did. ``records``: completion record of every step, by (stage, key)."""

    out: Path
    steps: list[Step]
    executed: list[Step] = field(default_factory=list)
    records: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    work_seconds: float = 0.0
    report: dict = field(default_factory=dict)

    @property
    def overhead_seconds(self) -> float:
        return max(0.0, self.wall_seconds - self.work_seconds)


class StudyLock:
    """``OUT/study.lock`` holding the running process's id: two runs of one output folder would
    work in the same step folders. A lock left by a process that is gone is taken over."""

    def __init__(self, out: Path):
        self.path = out / "study.lock"

    def __enter__(self):
        import os

        from synthreid.study.steps import StudyError

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

    ``hook(step, phase)`` is called with phase ``"start"`` before a step runs and
    ``"finished"`` after its work and before it is marked done (tests interrupt studies there).
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
    ):
        self.spec, self.out, self.started = spec, Path(out), started
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

    def _eta(self, steps: list[Step], records: dict) -> float:
        rates = self._rates(records)
        todo = {step_id(s): s for s in steps if step_id(s) not in records}
        return sum(s.units / rates.get(s.stage, 1.0) for s in todo.values())

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
        self.say(
            f"study {self.spec.name}: {todo} steps to run; ETA {fmt_duration(self._eta(steps, records))}"
        )
        return out

    def _run(self, t0: float) -> StudyOutcome:
        memo = FingerprintMemo(self.cache.root / "fingerprints.json")
        steps = plan(self.spec, self.cache, memo)
        memo.save()
        outcome = StudyOutcome(self.out, steps)
        records = outcome.records
        for s in steps:
            rec = self.cache.record(s.stage, s.key)
            if rec is not None:
                records[step_id(s)] = rec
        unique = list(dict.fromkeys(step_id(s) for s in steps))
        self.say(
            f"study {self.spec.name}: {len(unique)} steps, {sum(1 for u in unique if u in records)} done "
            f"(cache {self.cache.root}); ETA {fmt_duration(self._eta(steps, records))}"
        )
        for step in steps:
            if step_id(step) in records:
                continue
            done = sum(1 for u in unique if u in records)
            self.say(
                f"study {self.spec.name} [{done + 1}/{len(unique)}] {step.label} · "
                f"ETA study {fmt_duration(self._eta(steps, records))}"
            )
            try:
                rec, seconds = self._run_step(step)
            except BaseException as exc:
                why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
                self.say(
                    f"study {self.spec.name}: stopped in {step.label} ({why}); finished steps are kept, "
                    "run the same command again to resume"
                )
                raise
            records[step_id(step)] = rec
            outcome.executed.append(step)
            outcome.work_seconds += seconds
            rate = f", {rec['units'] / seconds:.1f} img/s" if seconds > 0 and rec["units"] else ""
            self.say(f"  done in {fmt_duration(seconds)}{rate}")
        from synthreid.study.report import write_report

        outcome.wall_seconds = time.perf_counter() - t0
        outcome.report = write_report(self.spec, outcome, self.out, clock=lambda: time.perf_counter() - t0)
        self.say(
            f"study {self.spec.name}: executed {len(outcome.executed)} of {len(unique)} steps in "
            f"{fmt_duration(outcome.wall_seconds)}; study overhead {outcome.overhead_seconds:.2f} s "
            f"({100 * outcome.overhead_seconds / max(outcome.wall_seconds, 1e-9):.1f} % of wall time)"
        )
        self.say(f"report: {outcome.report.get('md')}")
        return outcome

    def _run_step(self, step: Step) -> tuple[dict, float]:
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
        folder = self.cache.begin(step.stage, step.key, description)
        ts = time.perf_counter()
        result, units = execute(step, folder, self.progress)
        seconds = time.perf_counter() - ts
        if self.hook:
            self.hook(step, "finished")
        rec = self.cache.finish(
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
        return rec, seconds


def run_study(spec: StudySpec, out: str | Path, **kwargs) -> StudyOutcome:
    """Run (or resume) ``spec`` into ``out``; see :class:`Runner`."""
    return Runner(spec, out, **kwargs).run()
