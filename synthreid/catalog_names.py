"""Datasets named by catalog name: ``catalog:NAME`` wherever a dataset folder is expected.

``synthreid benchmark train --train catalog:market``, ``refine train --target catalog:market``
and a study's ``path = "catalog:market"`` all resolve here to a folder and its format:

- ``imported`` (``synthreid import``): the folder and format recorded at import (the files
  stay where they are), and the Open-ReID split id;
- ``rendered`` / ``refined`` (made by the farm): ``DATA_DIR/datasets/NAME``, format synthreid.

The prefix keeps names and folders apart: a value without it is always a folder. The catalog
is the farm's (``SYNTHREID_DATABASE_URL``, else the SQLite file in ``SYNTHREID_DATA_DIR``); it
is opened lazily and read only, so a missing SQLite catalog is reported, never created.
The benchmark and refine packages never import this module: the command line
(``synthreid.cli``) hands :func:`resolve_datasets` to their commands.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from synthreid.errors import DatasetError

PREFIX = "catalog:"
STATUS_HINT = "`synthreid status` lists the catalog's datasets"


class CatalogNameError(DatasetError):
    """A ``catalog:NAME`` value cannot be resolved (no catalog, unknown name, missing folder)."""


@dataclass(frozen=True)
class CatalogDataset:
    """A catalog dataset as a dataset reader sees it: ``folder`` and ``format`` (a
    ``synthreid.benchmark.datasets`` format); ``split_id`` of an imported Open-ReID dataset."""

    name: str
    kind: str  # rendered, refined or imported
    folder: Path
    format: str
    split_id: int | None = None

    @property
    def ref(self) -> str:
        return PREFIX + self.name

    def image_folder(self) -> Path:
        """The flat folder of training images a refiner reads as its target (``images/`` of our
        layout, ``bounding_box_train/`` of Market-1501 and CUHK03-NP, ``images/`` of Open-ReID)."""
        root = self.folder
        if self.format in ("market1501", "cuhk03np"):
            candidates = [
                root / "bounding_box_train",
                root / "labeled" / "bounding_box_train",
                root / "detected" / "bounding_box_train",
            ]
        else:
            candidates = [root / "images"]
        for c in candidates:
            if c.is_dir():
                return c
        raise CatalogNameError(
            f"{self.ref}: no image folder in {root} (expected "
            f"{' or '.join(str(c.relative_to(root)) for c in candidates)})"
        )


def catalog_name(value) -> str | None:
    """NAME of a ``catalog:NAME`` value, None for anything else (a folder)."""
    text = str(value)
    return text[len(PREFIX) :] if text.startswith(PREFIX) else None


def is_catalog_ref(value) -> bool:
    return catalog_name(value) is not None


def _catalog_location(config) -> str:
    if config.uses_postgres:
        from synthreid.workers.config import mask_url

        return f"Postgres catalog {mask_url(config.database_url)}"
    return f"SQLite catalog {config.sqlite_path}"


def open_configured_catalog(config=None, what: str = "catalog names"):
    """The configured catalog, opened for reading (no migrations). CatalogNameError when none is
    configured: no ``SYNTHREID_DATABASE_URL`` and no SQLite catalog file in the data directory."""
    from synthreid.workers.catalog import open_catalog
    from synthreid.workers.config import FarmConfig

    config = config or FarmConfig.from_env()
    if not config.uses_postgres and not config.sqlite_path.is_file():
        raise CatalogNameError(
            f"{what}: no catalog is configured (SYNTHREID_DATABASE_URL is not set and there is no SQLite "
            f"catalog at {config.sqlite_path}); set SYNTHREID_DATA_DIR to the farm's data directory or "
            "SYNTHREID_DATABASE_URL to its database, or register the dataset with `synthreid import`"
        )
    return open_catalog(config, auto_upgrade=False, retry_for=10.0)


def _from_row(row: dict, config) -> CatalogDataset:
    name, kind, spec = row["name"], row["kind"], row["spec"] or {}
    ref = PREFIX + name
    if kind == "imported":
        folder = Path(spec.get("root", ""))
        if not spec.get("root") or not folder.is_dir():
            raise CatalogNameError(
                f"{ref}: the imported dataset's folder {spec.get('root')!r} no longer exists; "
                f"import it again from where it is now (synthreid import DIR --name NEW)"
            )
        split = spec.get("split_id")
        return CatalogDataset(
            name, kind, folder, spec.get("format") or "", None if split is None else int(split)
        )
    folder = config.datasets_dir / name
    if row.get("finalized_at") is None:
        raise CatalogNameError(
            f"{ref}: the {kind} dataset is not finished yet (not finalized); "
            f"`synthreid status {name}` shows its progress"
        )
    if not (folder / "manifest.json").is_file():
        raise CatalogNameError(
            f"{ref}: {folder} has no manifest.json (is SYNTHREID_DATA_DIR the data directory "
            f"of the farm that made it?)"
        )
    return CatalogDataset(name, kind, folder, "synthreid")


def resolve_datasets(values, config=None) -> dict[str, CatalogDataset]:
    """``{value: CatalogDataset}`` for every ``catalog:NAME`` among ``values`` (other values are
    folders and left out); the catalog is opened once, and only when there is such a value.

    CatalogNameError names the value: no catalog configured, an unknown name (with the closest
    names), or a dataset whose folder is missing or unfinished.
    """
    refs = {str(v): catalog_name(v) for v in values if is_catalog_ref(v)}
    if not refs:
        return {}
    for ref, name in refs.items():
        if not name:
            raise CatalogNameError(f"{ref!r}: expected a dataset name after {PREFIX!r} ({STATUS_HINT})")
    from synthreid.workers.config import FarmConfig

    config = config or FarmConfig.from_env()
    cat = open_configured_catalog(config, what=", ".join(refs))
    try:
        rows = {name: cat.get_dataset(name) for name in set(refs.values())}
        missing = [n for n, r in rows.items() if r is None]
        names = [d["name"] for d in cat.list_datasets()] if missing else []
    finally:
        cat.close()
    out = {}
    for ref, name in refs.items():
        row = rows[name]
        if row is None:
            close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
            raise CatalogNameError(
                f"{ref}: no dataset named {name!r} in the {_catalog_location(config)} "
                f"({len(names)} dataset{'' if len(names) == 1 else 's'}); {hint}{STATUS_HINT}"
            )
        out[ref] = _from_row(row, config)
    return out


def resolve_dataset(value, config=None) -> CatalogDataset:
    """The catalog dataset of one ``catalog:NAME`` value (CatalogNameError when it is not one)."""
    if not is_catalog_ref(value):
        raise CatalogNameError(f"{value!r}: expected {PREFIX}NAME")
    return resolve_datasets([value], config)[str(value)]
