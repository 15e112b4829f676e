"""Writing a rendered dataset folder in the canonical layout (see ``synthreid.dataset``).

The manifest and the planned labels are written first (``init_dataset``); each finished
image adds ``images/STEM.png``, ``masks/STEM.png`` and ``meta/STEM.json``, each written
atomically, the meta file last, so ``image_done`` (all three present) never sees a
half-finished image; ``finalize_dataset`` merges the meta rows into labels.jsonl.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from synthreid import __version__
from synthreid.dataset import compute_splits, write_labels, write_manifest
from synthreid.errors import DatasetError
from synthreid.render.plan import plan_character, plan_rows
from synthreid.render.spec import DatasetSpec


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
        "counts": {"characters": spec.characters, "images_per_character": spec.images_per_character,
                   "images": spec.total_images},
        "camera_ids": spec.camera.camera_ids,
        "splits": compute_splits(spec.characters, spec.seed, spec.splits.test, spec.splits.val),
        "software": software_versions(),
    }


def init_dataset(spec: DatasetSpec, root: str | Path, labels: bool = True) -> Path:
    """Create (or re-open) the dataset folder for ``spec``; idempotent.

    Raises DatasetError if ``root`` already holds a dataset made from a different spec.
    """
    root = Path(root)
    plan_character(spec, 0)  # fails early (e.g. an empty background folder) before anything exists
    mpath = root / "manifest.json"
    if mpath.is_file():
        try:
            existing = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{mpath}: unreadable manifest ({exc})") from exc
        if existing.get("spec") != spec.to_dict():
            raise DatasetError(f"{root}: holds dataset {existing.get('name')!r} made from a different spec; "
                               "choose another --out or delete the folder")
    elif root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise DatasetError(f"{root}: exists, is not empty and has no manifest.json; refusing to write into it")
    for sub in ("images", "masks", "meta"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not mpath.is_file():
        # Labels first, manifest last: a folder with a manifest always has its planned labels.
        if labels:
            write_labels(root, ({**r, "state": "planned"} for r in plan_rows(spec)))
        write_manifest(root, manifest_for(spec))
    return root


def image_done(root: str | Path, stem: str) -> bool:
    """True when the image, its mask and its label row are all on disk."""
    root = Path(root)
    return all((root / sub / f"{stem}{ext}").is_file()
               for sub, ext in (("images", ".png"), ("masks", ".png"), ("meta", ".json")))


def finalize_dataset(root: str | Path, spec: DatasetSpec | None = None) -> int:
    """Rewrite labels.jsonl with rendered rows where present, planned rows elsewhere.

    Returns the number of rendered images.
    """
    root = Path(root)
    meta = root / "meta"
    if spec is None:
        spec = DatasetSpec.from_dict(json.loads((root / "manifest.json").read_text())["spec"])
    done = 0
    rows = []
    for planned in plan_rows(spec):
        mpath = meta / f"{planned['stem']}.json"
        if mpath.is_file():
            rows.append(json.loads(mpath.read_text()))
            done += 1
        else:
            rows.append({**planned, "state": "planned"})
    write_labels(root, rows)
    return done
