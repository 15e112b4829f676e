"""Which steps of a study may run now, side by side, and how long the rest will take.

Pure logic, no processes: :class:`Scheduler` keeps the steps still to run (in plan order), the
running ones and the finished ones, and says which steps may start given ``jobs`` cores;
:func:`estimate` plays the same policy forward with estimated durations (the study's ETA).

Policy: a step may start once every step it reads is done. A step with an *exclusive* demand
(a render or refiner, which use every core themselves, or a step wanting all ``jobs`` cores)
runs alone: while one is ready, nothing new starts, and it starts once nothing is running.
The other steps start in plan order while their cores fit in ``jobs`` (a later, smaller step
may start beside a running one while an earlier, larger one waits), at most one step holding
the GPU at a time, and never two steps with the same ``lock`` (e.g. two evaluations writing
one run's metrics.json).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Demand:
    """What one step keeps busy while it runs.

    ``cpus``: cores (torch threads plus loader processes), 1..jobs; ``exclusive``: runs alone,
    in the study's own process; ``gpu``: holds the GPU; ``lock``: a resource no two running
    steps may share (None: none).
    """

    cpus: int = 1
    exclusive: bool = False
    gpu: bool = False
    lock: str | None = None


class ScheduleError(ValueError):
    """The steps cannot be ordered (a step reads one that is neither planned nor done)."""


class Scheduler:
    """Steps ``order`` (plan order, inputs first) with inputs ``deps[id]``, demands
    ``demand[id]`` and ``jobs`` cores; ``done``: ids finished earlier (their readers may start)."""

    def __init__(
        self,
        order: Iterable[Hashable],
        deps: Mapping[Hashable, Iterable[Hashable]],
        demand: Mapping[Hashable, Demand],
        jobs: int,
        done: Iterable[Hashable] = (),
    ):
        if jobs < 1:
            raise ScheduleError(f"jobs: expected an integer >= 1, got {jobs!r}")
        self.jobs = jobs
        self.done = set(done)
        self.pending = [i for i in dict.fromkeys(order) if i not in self.done]
        self.deps = {i: tuple(deps.get(i, ())) for i in self.pending}
        self.demand = {i: demand.get(i, Demand()) for i in self.pending}
        self.running: dict[Hashable, Demand] = {}
        known = set(self.pending) | self.done
        for i in self.pending:
            for d in self.deps[i]:
                if d not in known:
                    raise ScheduleError(f"step {i!r} reads {d!r}, which is neither planned nor done")

    @property
    def finished(self) -> bool:
        return not self.pending and not self.running

    def free_cpus(self) -> int:
        return self.jobs - sum(min(d.cpus, self.jobs) for d in self.running.values())

    def startable(self) -> list[Hashable]:
        """Steps that may start now, in plan order (an exclusive step comes alone)."""
        ready = [i for i in self.pending if all(d in self.done for d in self.deps[i])]
        exclusive = [i for i in ready if self.demand[i].exclusive or self.demand[i].cpus >= self.jobs]
        if exclusive:
            return [] if self.running else exclusive[:1]
        if any(d.exclusive or d.cpus >= self.jobs for d in self.running.values()):
            return []
        free = self.free_cpus()
        gpu = any(d.gpu for d in self.running.values())
        locks = {d.lock for d in self.running.values() if d.lock is not None}
        picks = []
        for i in ready:
            d = self.demand[i]
            if d.cpus > free or (d.gpu and gpu) or (d.lock is not None and d.lock in locks):
                continue
            picks.append(i)
            free -= d.cpus
            gpu = gpu or d.gpu
            if d.lock is not None:
                locks.add(d.lock)
        return picks

    def start(self, i: Hashable) -> None:
        self.pending.remove(i)
        self.running[i] = self.demand[i]

    def finish(self, i: Hashable) -> None:
        del self.running[i]
        self.done.add(i)

    def blocked(self) -> list[Hashable]:
        """Pending steps when nothing runs and nothing can start (a cycle); [] otherwise."""
        if self.running or not self.pending or self.startable():
            return []
        return list(self.pending)


def estimate(
    scheduler: Scheduler,
    seconds: Mapping[Hashable, float],
    remaining: Mapping[Hashable, float] | None = None,
) -> float:
    """Seconds until every step of ``scheduler`` is done under its policy (it is not changed):
    ``seconds[id]``: estimated duration of each pending step; ``remaining[id]``: seconds left of
    each running step (default: 0)."""
    sim = Scheduler([], {}, {}, scheduler.jobs, scheduler.done)
    sim.pending = list(scheduler.pending)
    sim.deps = dict(scheduler.deps)
    sim.demand = dict(scheduler.demand)
    sim.running = dict(scheduler.running)
    remaining = remaining or {}
    now = 0.0
    ends = [(max(0.0, float(remaining.get(i, 0.0))), n, i) for n, i in enumerate(sim.running)]
    heapq.heapify(ends)
    tie = len(ends)
    while True:
        for i in sim.startable():
            sim.start(i)
            heapq.heappush(ends, (now + max(0.0, float(seconds.get(i, 0.0))), tie, i))
            tie += 1
        if not ends:
            return now
        now, _, i = heapq.heappop(ends)
        sim.finish(i)
