"""A rendered dataset folder in the canonical layout (see ``synthreid.dataset``).

The planned labels and the manifest are written first (``init_dataset``): labels.jsonl then
holds every image's stored plan (``stored_plans`` reads them back). Each finished image's
files are written by ``writer.DatasetWriter``, which also decides when an image is done;
``finalize_dataset`` merges the meta rows into labels.jsonl.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from synthreid import __version__
from synthreid.dataset import compute_splits, write_labels, write_manifest
from synthreid.errors import DatasetError
from synthreid.render.model import CharacterPlan, ImagePlan
from synthreid.render.plan import plan_character, plan_images
from synthreid.render.spec import DatasetSpec
from synthreid.render.writer import DatasetWriter

log = logging.getLogger(__name__)

LAYOUT_DIRS = ("images", "masks", "meta")


def software_versions() -> dict:
    versions = {"synthreid": __version__, "python": platform.python_version()}
    try:
        from importlib.metadata import version

        versions["bpy"] = version("bpy")
    except Exception:  # noqa: BLE001 - bpy is optional at planning time
        pass
    return versions


def manifest_for(spec: DatasetSpec) -> dict:
    return {
        "name": spec.name,
        "kind": "rendered",
        "seed": spec.seed,
        "spec": spec.to_dict(),
        "counts": {
            "characters": spec.characters,
            "images_per_character": spec.images_per_character,
            "images": spec.total_images,
        },
        "camera_ids": spec.camera.camera_ids,
        "splits": compute_splits(spec.characters, spec.seed, spec.splits.test, spec.splits.val),
        "software": software_versions(),
    }


def init_dataset(
    spec: DatasetSpec, root: str | Path, plans: Iterable[ImagePlan] | None = None, labels: bool = True
) -> Path:
    """Create (or re-open) the dataset folder for ``spec``; idempotent.

    A new folder gets labels.jsonl with a planned row per image, then manifest.json:
    ``plans`` are the dataset's stored plans (the farm's catalog rows); by default the dataset
    is planned here, once (``plan.plan_images``); renderers read the plans back from there.
    ``labels=False`` (the farm): no labels.jsonl until finalize writes it from the catalog.
    Raises DatasetError if ``root`` already holds a dataset made from a different spec.
    """
    root = Path(root)
    mpath = root / "manifest.json"
    if check_folder(spec, root) == "half":
        # A creation stopped before its manifest (killed, disk full): ours, and nothing was
        # rendered into it (images come only after the manifest). Complete it instead of
        # refusing the folder for good.
        log.warning("dataset folder %s: creation was interrupted; completing it", root)
        for p in root.iterdir():
            if p.name in LAYOUT_DIRS:
                shutil.rmtree(p)
            elif not p.name.startswith("."):
                p.unlink()
    for sub in LAYOUT_DIRS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not mpath.is_file():
        # Labels first, manifest last: a folder with a manifest always has its planned labels.
        if labels:
            write_labels(root, (planned_row(p) for p in (plan_images(spec) if plans is None else plans)))
        write_manifest(root, manifest_for(spec))
    return root


def check_folder(spec: DatasetSpec, root: str | Path) -> str:
    """Whether ``spec`` may be written into ``root``, changing nothing: "new" (absent or
    empty, dot entries aside), "ours" (a manifest of this spec) or "half" (``half_initialised``).
    Raises DatasetError for a manifest of another spec or an unreadable one, for a folder of
    other files, and for a spec that cannot be planned (e.g. an empty background folder)."""
    root = Path(root)
    plan_character(spec, 0)  # fails early, before anything exists
    mpath = root / "manifest.json"
    if mpath.is_file():
        try:
            existing = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{mpath}: unreadable manifest ({exc})") from exc
        if existing.get("spec") != spec.to_dict():
            raise DatasetError(
                f"{root}: holds dataset {existing.get('name')!r} made from a different spec; "
                "choose another --out or delete the folder"
            )
        return "ours"
    if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
        if not half_initialised(root):
            raise DatasetError(
                f"{root}: exists, is not empty and has no manifest.json; refusing to write into it"
            )
        return "half"
    return "new"


def half_initialised(root: str | Path) -> bool:
    """``root`` is a dataset folder whose creation stopped before ``manifest.json``: it holds
    some of our ``images/``, ``masks/``, ``meta/``, empty (temp files aside), and, once all three
    exist, perhaps ``labels.jsonl`` (written after them); dot entries aside, nothing else."""
    root = Path(root)
    if not root.is_dir() or (root / "manifest.json").exists():
        return False
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    for p in entries:
        if p.name in LAYOUT_DIRS and p.is_dir() and not p.is_symlink():
            if any(not q.name.startswith(".") or not q.name.endswith(".tmp") for q in p.iterdir()):
                return False
        elif p.name == "labels.jsonl" and p.is_file() and not p.is_symlink():
            if not all((root / d).is_dir() for d in LAYOUT_DIRS):
                return False
        else:
            return False
    return True


def stored_plans(root: str | Path) -> Iterator[ImagePlan]:
    """The image plans stored in ``root/labels.jsonl`` (planned and rendered rows alike), in
    order; consecutive rows of one person share one ``CharacterPlan``. Raises PlanError naming
    the line for a row of another plan schema, DatasetError when the file is missing."""
    path = Path(root) / "labels.jsonl"
    if not path.is_file():
        raise DatasetError(f"{path}: missing (plan the dataset with `synthreid plan` or `render`)")
    last_json, last = None, None
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: invalid JSON ({exc})") from exc
            char_json = row.get("character") if isinstance(row, dict) else None
            if char_json is None or char_json != last_json:
                last_json = char_json
                last = CharacterPlan.from_json(
                    {"schema": row.get("schema", 1) if isinstance(row, dict) else 1, **(char_json or {})},
                    where=f"{where}: character",
                )
            yield ImagePlan.from_json({k: v for k, v in row.items() if k != "character"}, last, where)


def planned_row(plan: ImagePlan) -> dict:
    """The labels.jsonl row of an image not rendered (yet)."""
    return {**plan.to_json(), "state": "planned"}


def finalize_dataset(root: str | Path, plans: Iterable[ImagePlan] | None = None) -> int:
    """Rewrite labels.jsonl with rendered rows where the image is complete
    (``DatasetWriter.finished_row``), planned rows elsewhere (missing, torn or unreadable files
    count as not rendered). ``plans``: the stored plans (default: those in labels.jsonl).

    Returns the number of rendered images.
    """
    root = Path(root)
    writer = DatasetWriter(root)
    done = 0

    def rows():
        nonlocal done
        for plan in stored_plans(root) if plans is None else plans:
            row = writer.finished_row(plan.stem)
            if row is not None:
                done += 1
                yield row
            else:
                yield planned_row(plan)

    write_labels(root, rows())
    return done


def missing_images(root: str | Path) -> dict[int, list[int]]:
    """{character index: [image indices not yet complete]} of the plans stored in ``root``
    (complete: ``DatasetWriter.finished_row``)."""
    writer = DatasetWriter(root)
    todo: dict[int, list[int]] = {}
    for plan in stored_plans(root):
        if not writer.done(plan.stem):
            todo.setdefault(plan.pid, []).append(plan.index)
    return todo
