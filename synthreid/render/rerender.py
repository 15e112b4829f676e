"""``synthreid rerender DATASET STEM``: render one image again from its stored plan.

The plan is read from the image's meta row (``meta/STEM.json``) or, for an image never
rendered, from its planned row in ``labels.jsonl``; the spec (render settings, asset folders)
from the manifest. Nothing is planned again, so the image comes out the same whatever the
sampling code has become since the dataset was planned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from synthreid.errors import DatasetError
from synthreid.render.model import ImagePlan
from synthreid.render.output import stored_plans
from synthreid.render.spec import DatasetSpec
from synthreid.render.writer import DatasetWriter, read_meta_row


@dataclass(frozen=True)
class RerenderReport:
    """``row``: the new label row written into ``out``; ``before``: the image's sha256 recorded
    in the dataset (None when it was never rendered)."""

    out: Path
    row: dict
    before: str | None

    @property
    def same(self) -> bool | None:
        """Whether the new image is byte-identical to the recorded one (None: nothing recorded)."""
        return None if self.before is None else self.before == self.row["checksum"]


def stored_plan(root: str | Path, stem: str) -> tuple[ImagePlan, dict | None]:
    """(plan, meta row or None) of image ``stem`` of the dataset in ``root``; PlanError for a
    row of another plan schema, DatasetError when the dataset has no such image."""
    root = Path(root)
    row = read_meta_row(root, stem)
    if row is not None:
        return ImagePlan.from_json(row, where=f"{root / 'meta' / stem}.json"), row
    for plan in stored_plans(root):
        if plan.stem == stem:
            return plan, None
    raise DatasetError(f"{root}: no image {stem!r} in meta/ or labels.jsonl")


def rerender(root: str | Path, stem: str, out: str | Path | None = None) -> RerenderReport:
    """Render image ``stem`` of the dataset in ``root`` from its stored plan into ``out``
    (``images/``, ``masks/``, ``meta/`` under it; default: the dataset itself, replacing the
    image's files atomically)."""
    root = Path(root)
    manifest = root / "manifest.json"
    try:
        spec = DatasetSpec.from_dict(json.loads(manifest.read_text())["spec"], source=str(manifest))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{manifest}: no readable spec ({exc})") from None
    plan, row = stored_plan(root, stem)
    before = row.get("checksum") if row is not None else None
    out = Path(out) if out is not None else root
    for sub in ("images", "masks", "meta"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    from synthreid.render.blender.session import RenderSession

    session = RenderSession(spec)
    try:
        new = DatasetWriter(out, spec.output.format).write(plan, session.render(plan))
    finally:
        session.close()
    return RerenderReport(out, new, before)
