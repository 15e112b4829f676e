"""The canonical on-disk dataset layout (design §3), shared by every package.

::

    DATASET/manifest.json              spec, seed, counts, splits, camera ids, software versions
    DATASET/images/PPPPP_cC_NNNN.png   person id (5 digits, 0-based), camera id (1-based), image index
    DATASET/masks/PPPPP_cC_NNNN.png    8-bit foreground mask (255 = person), same crop and name
    DATASET/labels.jsonl               one JSON row per image (see ``ImageRecord``)
    DATASET/meta/PPPPP_cC_NNNN.json    per-image label rows written as images finish; merged
                                       into labels.jsonl by ``write_labels`` (plan/finalize)

Everything here is pure Python: ``refine`` and ``benchmark`` read datasets through this
module and never import ``render`` or ``workers``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from synthreid.errors import DatasetError
from synthreid.fsutil import remove_stale_temps, write_json, write_text

FORMAT = "synthreid-dataset"
FORMAT_VERSION = 1
NAME_RE = re.compile(r"^(?P<pid>\d{5})_c(?P<cam>\d+)_(?P<idx>\d{4})\.(?P<ext>png|jpg)$")
# \Z, not $: "$" also matches before a trailing newline, and "name\n" must be refused.
DATASET_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a safe folder name (letters, digits, '.', '_', '-'), else raise."""
    if not isinstance(name, str) or not DATASET_NAME_RE.fullmatch(name) or ".." in name:
        raise DatasetError(
            f"dataset name {name!r}: expected 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no path separators)"
        )
    return name


def image_stem(pid: int, camid: int, index: int) -> str:
    """File stem of one image: ``PPPPP_cC_NNNN`` (pid 0-based, camera id 1-based)."""
    return f"{pid:05d}_c{camid}_{index:04d}"


def parse_image_name(name: str) -> tuple[int, int, int]:
    """(pid, camid, index) from an image file name, or DatasetError naming the file."""
    m = NAME_RE.match(name)
    if not m:
        raise DatasetError(f"{name}: not a dataset image name (expected PPPPP_cC_NNNN.png)")
    return int(m["pid"]), int(m["cam"]), int(m["idx"])


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset: paths are relative to the dataset root."""

    pid: int
    camid: int
    index: int
    image: str
    mask: str | None

    @property
    def stem(self) -> str:
        return Path(self.image).stem


class Dataset:
    """A dataset folder in the canonical layout (read side)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        mpath = self.root / "manifest.json"
        if not mpath.is_file():
            raise DatasetError(f"{mpath}: no manifest.json (is {self.root} a synthreid dataset?)")
        try:
            self.manifest = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{mpath}: unreadable manifest ({exc})") from exc
        if self.manifest.get("format") != FORMAT:
            raise DatasetError(f"{mpath}: 'format' is {self.manifest.get('format')!r}, expected {FORMAT!r}")

    @property
    def name(self) -> str:
        return self.manifest.get("name", self.root.name)

    @property
    def splits(self) -> dict[str, list[int]]:
        """Identity splits: {'train': [...], 'val': [...], 'test': [...]} of 0-based pids."""
        return {k: list(v) for k, v in self.manifest.get("splits", {}).items()}

    def records(self, split: str | None = None, require_mask: bool = False) -> list[ImageRecord]:
        """Every finished image (file present), sorted by name; optionally one split's identities."""
        img_dir = self.root / "images"
        if not img_dir.is_dir():
            raise DatasetError(f"{img_dir}: missing images/ folder")
        keep = None
        if split is not None:
            if split not in self.splits:
                raise DatasetError(f"{self.root}: no split {split!r} (have {sorted(self.splits)})")
            keep = set(self.splits[split])
        out = []
        for p in sorted(img_dir.iterdir()):
            if p.name.startswith("."):
                continue  # temp files of writers in flight
            pid, cam, idx = parse_image_name(p.name)
            if keep is not None and pid not in keep:
                continue
            mask = self.root / "masks" / (p.stem + ".png")
            if require_mask and not mask.is_file():
                raise DatasetError(f"{mask}: missing mask for {p.name}")
            out.append(
                ImageRecord(
                    pid, cam, idx, f"images/{p.name}", f"masks/{mask.name}" if mask.is_file() else None
                )
            )
        return out

    def labels(self) -> Iterator[dict]:
        """Rows of labels.jsonl (planned and rendered images alike)."""
        path = self.root / "labels.jsonl"
        if not path.is_file():
            return
        with open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DatasetError(f"{path}:{lineno}: invalid JSON ({exc})") from exc


def claim_derived_folder(
    out: Path, marker_file: str, marker: dict, what: str, kind: str, differs: str
) -> None:
    """Make ``out`` the folder of a dataset derived from another (``what``: the command, e.g.
    "degrade"; ``kind``: the dataset it makes, e.g. "degraded"), or resume an unfinished one.

    The JSON ``marker`` (source, settings) is written to ``out/marker_file`` before anything else
    and removed by the caller once the manifest is written: a folder with the same marker is an
    interrupted run of the same work, resumed (its temp files removed); one with another marker,
    or any other non-empty folder, is refused with a DatasetError (``differs`` names what the
    marker records, for the message)."""
    mpath = out / marker_file
    if mpath.is_file():
        try:
            old = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{mpath}: unreadable {what} marker ({exc})") from exc
        if old != marker:
            raise DatasetError(
                f"{out}: an unfinished {what} of another {differs} is here "
                f"({old}); remove the folder or use another name"
            )
        remove_stale_temps(out)
        return
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out}: exists and is not an unfinished {kind} dataset; choose another name")
    out.mkdir(parents=True, exist_ok=True)
    write_json(mpath, marker)


def write_manifest(root: str | Path, manifest: dict) -> None:
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
    write_json(Path(root) / "manifest.json", manifest)


def write_labels(root: str | Path, rows: Iterable[dict]) -> None:
    """Write labels.jsonl atomically, one compact JSON row per image."""
    text = "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in rows)
    write_text(Path(root) / "labels.jsonl", text)


def compute_splits(n: int, seed: int, test: int = 100, val: int = 100) -> dict[str, list[int]]:
    """Identity splits of the Lund thesis: ``test`` and ``val`` identities, the rest train.

    When the dataset is too small for the requested sizes, test and val shrink to a fifth
    of the identities each (at least one each for n >= 3) so that train keeps the majority.
    The permutation depends only on (seed, n).
    """
    import numpy as np

    if n <= 0:
        raise DatasetError(f"compute_splits: n must be > 0, got {n}")
    if test + val >= n:
        test = val = max(1, n // 5) if n >= 3 else 0
    perm = np.random.default_rng([seed, 0x5EED, n]).permutation(n)
    return {
        "test": sorted(int(i) for i in perm[:test]),
        "val": sorted(int(i) for i in perm[test : test + val]),
        "train": sorted(int(i) for i in perm[test + val :]),
    }
