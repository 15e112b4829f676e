"""Writing a rendered dataset folder in the canonical layout (see ``synthreid.dataset``).

The manifest and the planned labels are written first (``init_dataset``); each finished
image adds ``images/STEM.EXT``, ``masks/STEM.png`` and ``meta/STEM.json``, each written
atomically, the meta file last. An image is done only when ``finished_row`` accepts it: its
meta row is readable and the sha256 of its files match the row (a truncated, replaced or
missing file is rendered again). ``finalize_dataset`` merges the meta rows into labels.jsonl.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path, PurePosixPath

from synthreid import __version__
from synthreid.dataset import compute_splits, write_labels, write_manifest
from synthreid.errors import DatasetError
from synthreid.fsutil import sha256_file
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
        "counts": {
            "characters": spec.characters,
            "images_per_character": spec.images_per_character,
            "images": spec.total_images,
        },
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
            raise DatasetError(
                f"{root}: holds dataset {existing.get('name')!r} made from a different spec; "
                "choose another --out or delete the folder"
            )
    elif root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise DatasetError(
            f"{root}: exists, is not empty and has no manifest.json; refusing to write into it"
        )
    for sub in ("images", "masks", "meta"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not mpath.is_file():
        # Labels first, manifest last: a folder with a manifest always has its planned labels.
        if labels:
            write_labels(root, ({**r, "state": "planned"} for r in plan_rows(spec)))
        write_manifest(root, manifest_for(spec))
    return root


def read_meta_row(root: str | Path, stem: str) -> dict | None:
    """The label row in ``meta/STEM.json``, or None when it is missing, unreadable or not an object."""
    try:
        row = json.loads((Path(root) / "meta" / f"{stem}.json").read_text())
    except (OSError, ValueError):  # ValueError: invalid JSON or invalid UTF-8
        return None
    return row if isinstance(row, dict) else None


def names_stem(rel, folder: str, stem: str) -> bool:
    """True when ``rel`` is ``FOLDER/STEM.EXT`` (any extension; nothing outside the folder)."""
    if not isinstance(rel, str):
        return False
    p = PurePosixPath(rel)
    return len(p.parts) == 2 and p.parts[0] == folder and p.stem == stem and bool(p.suffix)


def file_problems(root: str | Path, stem: str, row: dict) -> list[str]:
    """What is wrong with the files of the finished image ``stem`` whose meta row is ``row``.

    Empty when sound: the row names ``images/STEM.EXT`` (any output format) and
    ``masks/STEM.EXT``, both files exist, the image's sha256 equals ``checksum`` and, when the
    row records one, the mask's equals ``mask_checksum``. Reads each file once; does not decode.
    """
    root = Path(root)
    problems = []
    if row.get("stem", stem) != stem:
        problems.append(f"meta row is for {row.get('stem')!r}, expected {stem!r}")
    for key, folder, sum_key in (("image", "images", "checksum"), ("mask", "masks", "mask_checksum")):
        rel = row.get(key)
        if not names_stem(rel, folder, stem):
            problems.append(f"meta row's {key!r} is {rel!r}, expected '{folder}/{stem}.EXT'")
            continue
        recorded = row.get(sum_key)
        if recorded is None and key == "image":
            problems.append(f"{rel}: meta row records no checksum")
        try:
            if recorded is None:
                if not (root / rel).is_file():
                    problems.append(f"{rel}: missing")
            elif sha256_file(root / rel) != recorded:
                problems.append(f"{rel}: sha256 differs from the meta row (truncated or changed)")
        except FileNotFoundError:
            problems.append(f"{rel}: missing")
        except OSError as exc:
            problems.append(f"{rel}: unreadable ({exc.strerror or exc})")
    return problems


def finished_row(root: str | Path, stem: str) -> dict | None:
    """The label row of an image complete on disk, or None when it must be (re)rendered.

    Complete: ``meta/STEM.json`` is readable and ``file_problems`` finds nothing (the image's
    checksum matches, the mask is there). Shared by local resume, the farm, preview and verify.
    """
    row = read_meta_row(root, stem)
    if row is None or file_problems(root, stem, row):
        return None
    return row


def image_done(root: str | Path, stem: str) -> bool:
    """True when image ``stem`` is complete on disk (see ``finished_row``)."""
    return finished_row(root, stem) is not None


def finalize_dataset(root: str | Path, spec: DatasetSpec | None = None) -> int:
    """Rewrite labels.jsonl with rendered rows where the image is complete (``finished_row``),
    planned rows elsewhere (missing, torn or unreadable files count as not rendered).

    Returns the number of rendered images.
    """
    root = Path(root)
    if spec is None:
        spec = DatasetSpec.from_dict(json.loads((root / "manifest.json").read_text())["spec"])
    done = 0
    rows = []
    for planned in plan_rows(spec):
        row = finished_row(root, planned["stem"])
        if row is not None:
            rows.append(row)
            done += 1
        else:
            rows.append({**planned, "state": "planned"})
    write_labels(root, rows)
    return done
