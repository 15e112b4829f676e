"""Values the catalog takes and hands out: its errors, task and run states, task rows, JSON
columns, and the base of its per-table mixins.

Kept apart from ``base`` (connection, schema, datasets) so that the table mixins (``tasks``,
``worker_rows``, ``runs``) and the rest of the farm import them without importing the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from synthreid.errors import SynthreidError


class CatalogError(SynthreidError):
    """The catalog is missing, outdated or inconsistent."""


class CatalogUnavailable(CatalogError):
    """The database could not be reached within the retry window."""


class CatalogFull(CatalogError):
    """The catalog's disk is full (or the database refused to grow)."""


class TaskState(StrEnum):
    """``tasks.state``. A str enum: the values are what the column holds."""

    PENDING = "pending"  # waiting for a worker (also after a failed attempt with retries left)
    RUNNING = "running"  # leased to a worker until ``lease_until``
    DONE = "done"
    FAILED = "failed"  # out of attempts


ACTIVE_TASK_STATES = (TaskState.PENDING, TaskState.RUNNING)


class RunState(StrEnum):
    """``runs.state`` of a refiner or re-ID run, as ``synthreid status`` shows it."""

    QUEUED = "queued"  # its task waits for a gpu worker
    RUNNING = "running"
    RETRYING = "retrying"  # an attempt failed; the task is pending again
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Task:
    """One row of ``tasks``; ``payload`` is the task's JSON (a gpu job's payload, or render ids)."""

    id: int
    kind: str
    queue: str
    payload: dict[str, Any]
    dataset_id: int | None
    character_id: int | None
    n_images: int
    state: TaskState
    attempts: int
    max_attempts: int
    worker: str | None
    lease_until: float | None
    last_error: str | None


def load_json(v: Any) -> Any:
    """JSON columns come back as text (SQLite) or already parsed (Postgres JSONB)."""
    if v is None or isinstance(v, dict | list):
        return v
    return json.loads(v)


# One encoder for every call: json.dumps builds a new one per call when given options.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def dump_json(v: Any) -> str:
    """Compact JSON with sorted keys: the value of ``json.dumps(v, separators=(",", ":"),
    sort_keys=True)``, written by orjson (6x faster; a third of planning's time was the stdlib
    encoder). Floats come out as their shortest round-trip digits, positional where orjson
    chooses (``0.00007`` where the stdlib writes ``7e-05``): the same number when read back.
    A value orjson refuses (an int beyond 64 bits, an unknown type) goes through the stdlib
    encoder, which writes it or raises as before. orjson writes a NaN or an infinity as null
    where the stdlib writes ``NaN`` (refused by a JSONB column: an error, not a silently changed
    value), so an output with a ``null`` is read back and, unless it equals ``v`` (every null a
    None), written by the stdlib instead: a character's plan always holds nulls, and reading
    back costs half of encoding it twice."""
    try:
        out = orjson.dumps(v, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return _ENCODER.encode(v)
    if b"null" in out and orjson.loads(out) != v:
        return _ENCODER.encode(v)
    return out.decode()


T = TypeVar("T")


class TableMixin:
    """Base of ``Catalog``'s per-table mixins (``tasks``, ``worker_rows``, ``runs``): every public
    method is one transaction through ``self.run``. Declares, for the type checker, what
    ``Catalog`` provides them."""

    if TYPE_CHECKING:
        skip_locked: str

        def run(self, fn: Callable[[Any], T]) -> T: ...

        def q(self, cur: Any, sql: str, params: Sequence = ()) -> Any: ...

        def _sql(self, sql: str) -> str: ...
