"""Why a task's attempt stopped before its end (raised by the render and gpu task runners alike)."""

from __future__ import annotations


class TaskLost(Exception):
    """The task's lease passed to another worker while this one worked on it."""


class StopRequested(Exception):
    """The worker was asked to stop; the task is released unfinished."""
