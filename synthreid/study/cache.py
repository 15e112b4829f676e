"""The step cache: ``OUT/cache/<stage>/<key>/``, one folder per step, content-addressed.

A step's key is the hash of everything its result depends on: the stage's code version
(``synthreid.__version__`` and :data:`STAGE_VERSIONS`), its own settings, and its inputs'
keys (other steps' keys, or the content keys of external folders). A step works inside its
folder (resuming whatever it left there) and is *done* only once ``done.json`` exists; that
file is written last and atomically, so an interrupted step is never taken for a finished one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from synthreid import __version__
from synthreid.fsutil import write_json
from synthreid.study.fingerprint import json_key

# Bump a stage's number when its code changes what it produces: every step of that stage
# (and everything downstream, through the input keys) is recomputed.
STAGE_VERSIONS = {
    "render": 1,
    "refine": 1,
    "degrade": 1,
    "train": 1,
    "evaluate": 1,
    "chance": 1,
    "untrained": 1,
    "handcrafted": 2,
}
DONE = "done.json"
STEP = "step.json"


def step_key(stage: str, payload: dict) -> str:
    """The cache key (24 hex digits) of a ``stage`` step with settings and input keys ``payload``."""
    return json_key({"stage": stage, "code": [__version__, STAGE_VERSIONS[stage]], "payload": payload})[:24]


class StepCache:
    """Folders and completion records of steps under ``root`` (OUT/cache)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def record(self, stage: str, key: str) -> dict | None:
        """The completion record of a done step, else None (missing or unreadable marker)."""
        try:
            data = json.loads((self.folder(stage, key) / DONE).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) and "result" in data else None

    def begin(self, stage: str, key: str, description: dict) -> Path:
        """Create the step's folder (kept if it exists: the step resumes there) and describe it."""
        folder = self.folder(stage, key)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / STEP, description)
        return folder

    def finish(self, stage: str, key: str, record: dict) -> dict:
        """Mark a step done with ``record`` (must hold ``result``); written last, atomically."""
        record = {**record, "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
        write_json(self.folder(stage, key) / DONE, record)
        return record
