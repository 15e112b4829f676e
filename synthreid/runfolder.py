"""One run folder for every trained model (refiner and re-ID runs alike)::

    RUN/config.json            everything needed to repeat the run (its package's config as JSON)
    RUN/state.json             progress, rewritten with each checkpoint: {"progress": {"done",
                               "total", "unit"}} plus what the package keeps there
    RUN/checkpoints/last.pt    the resume point (written atomically at each checkpoint)
    RUN/checkpoints/best.pt    the best checkpoint so far, for runs that select one (re-ID)
    RUN/metrics.json           results (a JSON object)

The packages add their own files beside these (losses.csv, val_curve.png, cmc.csv, samples/).
Readers of a run (the farm's progress and results, ``refine apply``, ``benchmark eval``, a
study) use only this module, never a package's file names.

Older layouts are still read: a refiner's ``checkpoints/latest.pt`` and a re-ID run's
``last.pt`` / ``best.pt`` at the top of the folder (before 2026-12). New checkpoints are always
written to ``checkpoints/``; a resumed old run moves on to the new names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthreid.errors import SynthreidError
from synthreid.fsutil import write_json

CONFIG = "config.json"
STATE = "state.json"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"
# checkpoint name -> where older synthreid versions wrote it (relative to the run folder)
LEGACY_CHECKPOINTS = {"last": ("checkpoints/latest.pt", "last.pt"), "best": ("best.pt",)}
UNITS = ("iter", "epoch", "img")


class RunFolderError(SynthreidError):
    """A run folder's file is missing, unreadable or not what it should be; names the file."""


@dataclass(frozen=True)
class Progress:
    """How far a run is: ``done`` of ``total`` ``unit`` (iter, epoch or img)."""

    done: int
    total: int
    unit: str

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total, "unit": self.unit}

    @classmethod
    def from_dict(cls, d: object, where: str) -> Progress:
        if not isinstance(d, dict) or not all(isinstance(d.get(k), int) for k in ("done", "total")):
            raise RunFolderError(f"{where}: progress must be {{'done': int, 'total': int, 'unit': str}}")
        if d.get("unit") not in UNITS:
            raise RunFolderError(f"{where}: progress unit {d.get('unit')!r}: expected one of {UNITS}")
        return cls(int(d["done"]), int(d["total"]), str(d["unit"]))


class RunFolder:
    """The files of one run folder (the folder itself need not exist yet)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ---- JSON files ------------------------------------------------------------------------
    def _read(self, name: str, default: dict | None) -> dict:
        path = self.path / name
        if not path.is_file():
            if default is not None:
                return default
            raise RunFolderError(f"{path}: missing (not a run folder?)")
        try:
            value = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{path}: unreadable JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise RunFolderError(f"{path}: expected a JSON object, got {type(value).__name__}")
        return value

    def has_config(self) -> bool:
        return (self.path / CONFIG).is_file()

    def read_config(self) -> dict:
        """config.json; RunFolderError when it is missing or not a JSON object."""
        return self._read(CONFIG, None)

    def write_config(self, config: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / CONFIG, config)

    def read_state(self) -> dict:
        """state.json ({} before the first checkpoint)."""
        return self._read(STATE, {})

    def write_state(self, progress: Progress, **extra: Any) -> None:
        write_json(self.path / STATE, {**extra, "progress": progress.to_dict()})

    def set_progress(self, progress: Progress) -> None:
        """Replace only the progress in state.json (e.g. when a run starts or resumes)."""
        write_json(self.path / STATE, {**self.read_state(), "progress": progress.to_dict()})

    def progress(self) -> Progress | None:
        """The progress recorded with the last checkpoint, or None when there is none yet."""
        d = self.read_state().get("progress")
        return None if d is None else Progress.from_dict(d, str(self.path / STATE))

    def read_metrics(self) -> dict:
        """metrics.json ({} while there are no results)."""
        return self._read(METRICS, {})

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.path / METRICS, metrics)

    # ---- checkpoints -----------------------------------------------------------------------
    def checkpoint(self, name: str = "last") -> Path:
        """Where checkpoint ``name`` (last or best) is written."""
        if name not in LEGACY_CHECKPOINTS:
            raise ValueError(f"checkpoint {name!r}: expected one of {tuple(LEGACY_CHECKPOINTS)}")
        return self.path / CHECKPOINTS / f"{name}.pt"

    def find_checkpoint(self, name: str = "last") -> Path | None:
        """The existing checkpoint ``name``: the current layout first, then an older one; None if none."""
        for p in (self.checkpoint(name), *(self.path / rel for rel in LEGACY_CHECKPOINTS[name])):
            if p.is_file():
                return p
        return None

    def require_checkpoint(self, name: str = "last") -> Path:
        """:meth:`find_checkpoint`, or RunFolderError naming every place looked at."""
        found = self.find_checkpoint(name)
        if found is None:
            places = [self.checkpoint(name), *(self.path / rel for rel in LEGACY_CHECKPOINTS[name])]
            raise RunFolderError(
                f"{self.path}: no {name} checkpoint (looked for {', '.join(str(p) for p in places)})"
            )
        return found

    def retire_legacy_checkpoints(self, name: str = "last") -> None:
        """Delete an older layout's copy of checkpoint ``name`` once the current one is written
        (it would only be stale, and refiner checkpoints are large)."""
        if self.checkpoint(name).is_file():
            for rel in LEGACY_CHECKPOINTS[name]:
                (self.path / rel).unlink(missing_ok=True)

    def artifacts(self) -> dict[str, str]:
        """Relative path -> absolute path of the run's files (of samples/ only the latest one)."""
        out: dict[str, str] = {}
        for p in sorted(self.path.rglob("*")):
            if not p.is_file() or p.name.startswith("."):
                continue
            rel = p.relative_to(self.path)
            if rel.parts[0] == "samples":
                out = {k: v for k, v in out.items() if not k.startswith("samples/")}
            out[rel.as_posix()] = str(p.resolve())
        return out
