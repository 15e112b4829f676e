"""``synthreid import``: register a real re-ID dataset in the catalog (kind ``imported``).

The files stay where they are: the catalog gets one character row per identity (attributes:
original id, split, distractor), one image row per file (state done, absolute path, camera,
SHA-256 checksum; params: subset ``train``/``query``/``gallery`` and the path relative to the
dataset folder) and a dataset row whose spec records the format, folder, counts and splits.

Everything is read, verified (every image decoded) and checksummed first; the rows are then
written in one transaction. A bad file stops the import with its name and nothing is
registered (``skip_bad`` skips and counts such files instead). Market-1501 junk images (id -1)
are not imported; distractors (id 0) are, as gallery images of a distractor identity.

An application module (docs/architecture.md): it joins benchmark's dataset readers and the
farm's catalog, which import neither each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from synthreid.dataset import check_dataset_name
from synthreid.errors import DatasetError
from synthreid.fsutil import sha256_file

IMPORT_FORMATS = ("market1501", "cuhk03np", "openreid")


@dataclass(frozen=True)
class ImportedImage:
    path: str  # absolute
    rel: str  # relative to the dataset folder
    pid: int  # the format's own identity id
    camid: int  # the format's own camera id
    subset: str  # train, query or gallery
    checksum: str  # SHA-256 of the file


@dataclass(frozen=True)
class ImportPlan:
    """What an import writes: images (sorted by identity, camera, path) and the dataset spec."""

    name: str
    root: Path
    format: str
    images: tuple[ImportedImage, ...]
    spec: dict

    @property
    def identities(self) -> list[int]:
        return sorted({im.pid for im in self.images})

    def summary(self) -> str:
        c = self.spec["counts"]
        return (
            f"{self.name} ({self.format}, {self.root}): {c['identities']} identities, {c['cameras']} cameras, "
            f"{c['images']} images (train {c['train_images']}, query {c['query_images']}, "
            f"gallery {c['gallery_images']})"
            + (f", {c['skipped']} bad files skipped" if c["skipped"] else "")
        )


def plan_import(
    root: str | Path, format: str, name: str, split_id: int = 0, skip_bad: bool = False, progress: bool = True
) -> ImportPlan:
    """Read, verify and checksum a real dataset folder (nothing is written)."""
    from synthreid.benchmark.datasets import read_dataset

    check_dataset_name(name)
    if format not in IMPORT_FORMATS:
        raise DatasetError(f"--format {format!r}: expected one of {', '.join(IMPORT_FORMATS)}")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    ds = read_dataset(root, format=format, num_val=0, split_id=split_id, skip_bad=skip_bad, verify=True)
    seen: dict[str, str] = {}
    entries = []
    for subset, recs in (("train", ds.train + ds.val), ("query", ds.query), ("gallery", ds.gallery)):
        for r in recs:
            if r.path in seen:  # Open-ReID lists an image under several identity lists: keep its first role
                continue
            seen[r.path] = subset
            entries.append((r, subset))
    if not entries:
        raise DatasetError(f"{root}: no images to import")
    images = []
    for r, subset in tqdm(
        sorted(entries, key=lambda e: (e[0].pid, e[0].camid, e[0].path)),
        desc=f"import {name} (checksums)",
        unit="img",
        disable=not progress,
    ):
        try:
            digest = sha256_file(r.path)
        except OSError as exc:
            raise DatasetError(f"{r.path}: unreadable ({exc.strerror or exc}); nothing was imported") from exc
        images.append(
            ImportedImage(r.path, str(Path(r.path).relative_to(root)), r.pid, r.camid, subset, digest)
        )

    def ids(subset):
        return sorted({im.pid for im in images if im.subset == subset})

    train_ids = ids("train")
    test_ids = sorted(set(ids("query")) | set(ids("gallery")))
    spec = {
        "kind": "imported",
        "format": format,
        "root": str(root),
        "source_name": ds.name,
        "split_id": split_id if format == "openreid" else None,
        "distractor_pid": ds.distractor_pid,
        "counts": {
            "identities": len({im.pid for im in images}),
            "cameras": len({im.camid for im in images}),
            "images": len(images),
            "train_images": sum(im.subset == "train" for im in images),
            "query_images": sum(im.subset == "query" for im in images),
            "gallery_images": sum(im.subset == "gallery" for im in images),
            "skipped": ds.skipped,
        },
        "splits": {"train": train_ids, "test": [p for p in test_ids if p != ds.distractor_pid]},
        "cameras": sorted({im.camid for im in images}),
    }
    return ImportPlan(name, root, format, tuple(images), spec)


def register_import(catalog, plan: ImportPlan) -> int:
    """Write ``plan`` into the catalog in one transaction; returns the dataset id.
    DatasetError when the name is taken (nothing written)."""
    from synthreid.workers.catalog.values import dump_json

    pids = plan.identities
    index = {p: i for i, p in enumerate(pids)}
    train, test = set(plan.spec["splits"]["train"]), set(plan.spec["splits"]["test"])
    distractor = plan.spec["distractor_pid"]
    per_char: dict[int, int] = {}
    image_rows = []
    now = time.time()
    for im in plan.images:
        ci = index[im.pid]
        ii = per_char.get(ci, 0)
        per_char[ci] = ii + 1
        image_rows.append(
            (
                ci,
                ii,
                im.camid,
                Path(im.rel).stem,
                dump_json({"subset": im.subset, "file": im.rel}),
                im.path,
                im.checksum,
            )
        )
    taken = DatasetError(f"dataset {plan.name!r} already exists in the catalog; choose another --name")

    def fn(cur):
        if catalog.q(cur, "SELECT 1 FROM datasets WHERE name = ?", (plan.name,)).fetchone():
            raise taken
        try:
            dsid = int(
                catalog.q(
                    cur,
                    "INSERT INTO datasets (name, kind, spec, characters, images_per_character, created_at, "
                    "finalized_at) VALUES (?, 'imported', ?, ?, ?, ?, ?) RETURNING id",
                    (plan.name, dump_json(plan.spec), len(pids), max(per_char.values()), now, now),
                ).fetchone()[0]
            )
        except catalog.integrity_errors:
            raise taken from None  # a concurrent import of this name committed first
        catalog._bulk_insert(
            cur,
            "characters",
            ("dataset_id", "idx", "seed", "attributes"),
            [
                (
                    dsid,
                    index[p],
                    0,
                    dump_json(
                        {
                            "pid": p,
                            "distractor": p == distractor,
                            "split": "train" if p in train else "test" if p in test else None,
                        }
                    ),
                )
                for p in pids
            ],
        )
        char_ids = dict(
            catalog.q(cur, "SELECT idx, id FROM characters WHERE dataset_id = ?", (dsid,)).fetchall()
        )
        catalog._bulk_insert(
            cur,
            "images",
            (
                "dataset_id",
                "character_id",
                "idx",
                "camid",
                "stem",
                "params",
                "state",
                "path",
                "checksum",
                "rendered_at",
            ),
            [
                (dsid, char_ids[ci], ii, cam, stem, params, "done", path, digest, now)
                for ci, ii, cam, stem, params, path, digest in image_rows
            ],
        )
        return dsid

    return catalog.run(fn)


def cmd_import(args) -> int:
    from synthreid.workers.catalog import open_catalog
    from synthreid.workers.config import FarmConfig

    plan = plan_import(
        args.dir, args.format, args.name, split_id=args.split, skip_bad=args.skip_bad, progress=not args.quiet
    )
    cat = open_catalog(FarmConfig.from_env())
    try:
        dsid = register_import(cat, plan)
    finally:
        cat.close()
    print(f"imported {plan.summary()} as catalog dataset #{dsid}; files referenced in place")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "import",
        help="register a real re-ID dataset in the catalog (files referenced in place)",
        description="Read a Market-1501, CUHK03-NP or Open-ReID folder, verify and checksum every "
        "image, and register it in the catalog as a dataset of kind 'imported' "
        "(identities, cameras, splits, checksums). Nothing is copied; a bad file "
        "stops the import with its name and registers nothing.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="the dataset folder")
    p.add_argument("--format", required=True, choices=IMPORT_FORMATS, help="the folder's layout")
    p.add_argument("--name", required=True, help="catalog name of the dataset")
    p.add_argument("--split", type=int, default=0, help="which split of an Open-ReID splits.json (default 0)")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable or mis-named files (counted) instead of stopping",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)
