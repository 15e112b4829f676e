"""Readers of re-ID datasets into one record type, and format detection.

Formats (``read_dataset(path, format=None)`` detects them):

- ``synthreid``: our canonical layout (``manifest.json``; identity splits from the manifest).
- ``market1501``: ``bounding_box_train/``, ``bounding_box_test/``, ``query/`` with names
  ``PPPP_cCsS_FFFFFF_NN.jpg``; identity -1 (junk) is dropped, identity 0 (distractors) stays
  in the gallery.
- ``cuhk03np``: CUHK03-NP (new 767/700 protocol), ``labeled/`` or ``detected/`` each with
  Market-style folders and names ``PPPP_cC_N.png``.
- ``openreid``: Open-ReID's processed layout (``meta.json``, ``splits.json``, ``images/``),
  which is also how Open-ReID ships CUHK03 (classic 20 splits of 100 test identities).

Every reader returns a :class:`ReidDataset` with train/val/query/gallery record lists. Real
datasets without a validation split get one carved out of train (``num_val`` seeded identities,
as Open-ReID does). Mis-named or unreadable files raise :class:`DatasetError` naming the file,
or are skipped and counted (``skip_bad=True``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthreid.dataset import Dataset as SynthDataset
from synthreid.errors import DatasetError

log = logging.getLogger(__name__)

FORMATS = ("synthreid", "market1501", "cuhk03np", "openreid")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp"}
IGNORED_FILES = {"thumbs.db", "desktop.ini"}
MARKET_RE = re.compile(
    r"^(?P<pid>-1|\d{4})_c(?P<cam>\d)s(?P<seq>\d)_(?P<frame>\d{6})_(?P<bb>\d{2})\.(jpg|png)$"
)
CUHK03NP_RE = re.compile(r"^(?P<pid>\d{4})_c(?P<cam>\d)_(?P<idx>\d+)\.(png|jpg)$")
OPENREID_RE = re.compile(r"^(?P<pid>\d{8})_(?P<cam>\d{2})_(?P<idx>\d{4})\.(jpg|png)$")


@dataclass(frozen=True)
class ReidRecord:
    """One image: absolute ``path``, identity ``pid`` (format's own numbering), camera ``camid``."""

    path: str
    pid: int
    camid: int


@dataclass
class ReidDataset:
    """A re-ID dataset read from disk. ``distractor_pid`` marks gallery-only distractors."""

    name: str
    root: Path
    format: str
    train: list[ReidRecord]
    val: list[ReidRecord]
    query: list[ReidRecord]
    gallery: list[ReidRecord]
    distractor_pid: int | None = None
    skipped: int = 0
    info: dict = field(default_factory=dict)

    def test_pool(self) -> list[ReidRecord]:
        """Query and gallery images of real test identities (no distractors), deduplicated."""
        seen, out = set(), []
        for r in self.query + self.gallery:
            if r.path not in seen and r.pid != self.distractor_pid and r.pid >= 0:
                seen.add(r.path)
                out.append(r)
        return out

    def summary(self) -> str:
        def ids(rs):
            return len({r.pid for r in rs})

        return (
            f"{self.name} ({self.format}): train {len(self.train)} images/{ids(self.train)} ids, "
            f"val {len(self.val)}/{ids(self.val)}, query {len(self.query)}/{ids(self.query)}, "
            f"gallery {len(self.gallery)}/{ids(self.gallery)}"
            + (f", {self.skipped} bad files skipped" if self.skipped else "")
        )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_TAIL = 1024  # bytes searched for the end marker (some writers pad or append a little after it)
# Images that passed, by path: (mtime_ns, size, decoded). A dataset read again in the same process
# (train and val from one folder, the test set before training and at evaluation) is not re-checked.
_PASSED: dict[str, tuple[int, int, bool]] = {}


def image_problem(path: Path, decode: bool = False) -> str | None:
    """Why ``path`` is not a usable image, or None.

    Always (cheap: two small reads): missing or empty file, unknown header, PNG without its
    IEND chunk or JPEG without its end-of-image marker (a truncated file). ``decode``: also
    decode every pixel with PIL, which catches corruption inside the file.
    """
    try:
        st = path.stat()
        size = st.st_size
        done = _PASSED.get(str(path))
        if done and done[:2] == (st.st_mtime_ns, size) and (done[2] or not decode):
            return None
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(max(0, size - _TAIL))
            tail = fh.read()
    except FileNotFoundError:
        return "missing image file"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size == 0:
        return "empty file"
    if head.startswith(_PNG_SIGNATURE):
        if _PNG_END not in tail:
            return "truncated PNG (no IEND chunk at its end)"
    elif head.startswith(_JPEG_START):
        if _JPEG_END not in tail:
            return "truncated JPEG (no end-of-image marker)"
    elif not head.startswith(b"BM"):
        return "not a PNG, JPEG or BMP image (unknown header)"
    if decode:
        from PIL import Image

        try:
            with Image.open(path) as im:
                im.load()
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
            return f"unreadable image ({type(exc).__name__}: {exc})"
    _PASSED[str(path)] = (st.st_mtime_ns, size, decode)
    return None


class _Scan:
    """Collects records of one folder; bad files raise or are counted.

    Every image gets the cheap check of :func:`image_problem`; with ``verify`` or ``skip_bad``
    each one is also decoded, so that the files skipped are all those a loader would fail on.
    """

    def __init__(self, skip_bad: bool, verify: bool):
        self.skip_bad = skip_bad
        self.decode = verify or skip_bad
        self.skipped = 0
        self.checked = 0
        self.results: dict[Path, bool] = {}
        self.started = time.perf_counter()

    def bad(self, path: Path, why: str) -> None:
        if not self.skip_bad:
            raise DatasetError(f"{path}: {why} (--skip-bad skips bad files)")
        self.skipped += 1
        log.warning("skipping %s: %s", path, why)

    def check_image(self, path: Path) -> bool:
        if path in self.results:  # an image listed twice (splits sharing identities) counts once
            return self.results[path]
        self.results[path] = False
        self.checked += 1
        if self.decode and self.checked % 5000 == 0:
            rate = self.checked / max(time.perf_counter() - self.started, 1e-9)
            log.info("checked %d images (decoding each for --skip-bad, %.0f images/s)", self.checked, rate)
        why = image_problem(path, self.decode)
        if why:
            self.bad(path, why)
            return False
        self.results[path] = True
        return True

    def folder(self, folder: Path, regex: re.Pattern, drop_pid: int | None = None) -> list[ReidRecord]:
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder")
        out = []
        for p in sorted(folder.iterdir()):
            if p.name.startswith(".") or p.name.lower() in IGNORED_FILES or p.is_dir():
                continue
            m = regex.match(p.name)
            if not m:
                self.bad(p, f"file name does not follow the naming rule {regex.pattern}")
                continue
            pid, cam = int(m["pid"]), int(m["cam"])
            if pid == drop_pid or not self.check_image(p):
                continue
            out.append(ReidRecord(str(p), pid, cam))
        return out


def carve_val(records: list[ReidRecord], num_val: int, seed: int) -> tuple[list, list]:
    """Split records by identity: ``num_val`` seeded identities to val (fewer on small sets)."""
    pids = sorted({r.pid for r in records})
    num_val = min(num_val, len(pids) // 5)
    chosen = (
        set(np.random.default_rng([seed, 0xA1]).permutation(pids)[:num_val].tolist()) if num_val else set()
    )
    return [r for r in records if r.pid not in chosen], [r for r in records if r.pid in chosen]


def split_query_gallery(records: list[ReidRecord]) -> tuple[list, list]:
    """Market-like query/gallery from a pool: per identity, the first image of each camera (in
    camera order) becomes a query only while every query of that identity keeps a gallery image
    on another camera; everything else is gallery. So every query has a cross-camera match, and
    identities seen by one camera only are gallery-only (distractors for the other queries)."""
    by_pid: dict[int, list[ReidRecord]] = {}
    for r in sorted(records, key=lambda r: (r.pid, r.camid, r.path)):
        by_pid.setdefault(r.pid, []).append(r)
    query, gallery = [], []
    for recs in by_pid.values():
        first: dict = {}
        for r in recs:
            first.setdefault(r.camid, r)
        chosen: list[ReidRecord] = []
        for cand in first.values():
            rest = [r for r in recs if r not in chosen and r is not cand]
            if all(any(g.camid != q.camid for g in rest) for q in (*chosen, cand)):
                chosen.append(cand)
        query += chosen
        gallery += [r for r in recs if r not in chosen]
    return query, gallery


def read_synthreid(root: Path, skip_bad=False, verify=False, **_) -> ReidDataset:
    ds = SynthDataset(root)
    scan = _Scan(skip_bad, verify)
    splits = ds.splits
    if not splits:
        raise DatasetError(f"{root / 'manifest.json'}: no 'splits' (train/val/test identities)")
    by_split = {}
    for name in ("train", "val", "test"):
        recs = ds.records(split=name) if name in splits else []
        by_split[name] = [
            ReidRecord(str(root / r.image), r.pid, r.camid) for r in recs if scan.check_image(root / r.image)
        ]
    query, gallery = split_query_gallery(by_split["test"])
    return ReidDataset(
        ds.name, root, "synthreid", by_split["train"], by_split["val"], query, gallery, skipped=scan.skipped
    )


def read_market1501(root: Path, skip_bad=False, verify=False, num_val=100, seed=0, **_) -> ReidDataset:
    scan = _Scan(skip_bad, verify)
    train = scan.folder(root / "bounding_box_train", MARKET_RE, drop_pid=-1)
    gallery = scan.folder(root / "bounding_box_test", MARKET_RE, drop_pid=-1)
    query = scan.folder(root / "query", MARKET_RE, drop_pid=-1)
    train, val = carve_val(train, num_val, seed)
    return ReidDataset(
        root.name, root, "market1501", train, val, query, gallery, distractor_pid=0, skipped=scan.skipped
    )


def read_cuhk03np(
    root: Path, skip_bad=False, verify=False, num_val=100, seed=0, variant: str | None = None, **_
) -> ReidDataset:
    """CUHK03-NP; ``root`` is the folder holding labeled/ and detected/, or one of them."""
    if (root / "bounding_box_train").is_dir():
        sub = root
    else:
        variant = variant or ("labeled" if (root / "labeled").is_dir() else "detected")
        sub = root / variant
        if not sub.is_dir():
            raise DatasetError(f"{sub}: missing CUHK03-NP folder (expected labeled/ or detected/)")
    scan = _Scan(skip_bad, verify)
    train = scan.folder(sub / "bounding_box_train", CUHK03NP_RE)
    gallery = scan.folder(sub / "bounding_box_test", CUHK03NP_RE)
    query = scan.folder(sub / "query", CUHK03NP_RE)
    train, val = carve_val(train, num_val, seed)
    return ReidDataset(
        f"{root.name}-{sub.name}" if sub != root else root.name,
        root,
        "cuhk03np",
        train,
        val,
        query,
        gallery,
        skipped=scan.skipped,
    )


def _load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable JSON ({exc})") from exc


def read_openreid(  # noqa: C901 - one flat check per Open-ReID meta.json field, each with its own message
    root: Path, skip_bad=False, verify=False, num_val=100, seed=0, split_id=0, **_
) -> ReidDataset:
    """Open-ReID layout: meta.json ``identities[pid][cam] -> [file names]``, splits.json pid lists.

    Query and gallery are all images of the split's query / gallery identities (Open-ReID's
    semantics, as for CUHK03), unless meta.json lists ``query_fnames`` / ``gallery_fnames``.
    """
    meta = _load_json(root / "meta.json")
    splits = _load_json(root / "splits.json")
    if not isinstance(splits, list) or not splits:
        raise DatasetError(f"{root / 'splits.json'}: expected a non-empty list of splits")
    if not 0 <= split_id < len(splits):
        raise DatasetError(f"{root / 'splits.json'}: split_id {split_id} out of range 0..{len(splits) - 1}")
    split = splits[split_id]
    for key in ("trainval", "query", "gallery"):
        if key not in split:
            raise DatasetError(f"{root / 'splits.json'}: split {split_id} has no {key!r} list")
    identities = meta.get("identities")
    if not isinstance(identities, list):
        raise DatasetError(f"{root / 'meta.json'}: 'identities' must be a list (per pid, per camera)")
    scan = _Scan(skip_bad, verify)
    by_name: dict[str, ReidRecord] = {}
    per_pid: dict[int, list[ReidRecord]] = {}
    for pid, cams in enumerate(identities):
        for cam, fnames in enumerate(cams):
            for fname in fnames:
                path = root / "images" / fname
                m = OPENREID_RE.match(Path(fname).name)
                if not m or int(m["pid"]) != pid or int(m["cam"]) != cam:
                    scan.bad(
                        path,
                        f"name does not match identity {pid} camera {cam} (expected PPPPPPPP_CC_NNNN.jpg)",
                    )
                    continue
                if not path.is_file():
                    scan.bad(path, "listed in meta.json but missing")
                    continue
                if not scan.check_image(path):
                    continue
                rec = ReidRecord(str(path), pid, cam)
                by_name[fname] = rec
                per_pid.setdefault(pid, []).append(rec)

    def pluck(pids):
        return [r for p in sorted(set(pids)) for r in per_pid.get(int(p), [])]

    train, val = carve_val(pluck(split["trainval"]), num_val, seed)
    if "query_fnames" in meta and "gallery_fnames" in meta:
        query = [by_name[f] for f in meta["query_fnames"] if f in by_name]
        gallery = [by_name[f] for f in meta["gallery_fnames"] if f in by_name]
    else:
        query, gallery = pluck(split["query"]), pluck(split["gallery"])
    return ReidDataset(
        meta.get("name", root.name),
        root,
        "openreid",
        train,
        val,
        query,
        gallery,
        skipped=scan.skipped,
        info={"split_id": split_id, "num_splits": len(splits), "shot": meta.get("shot")},
    )


READERS = {
    "synthreid": read_synthreid,
    "market1501": read_market1501,
    "cuhk03np": read_cuhk03np,
    "openreid": read_openreid,
}


def detect_format(root: str | Path) -> str:
    """Name of the format of the folder ``root`` (see module doc), or DatasetError."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    if (root / "manifest.json").is_file():
        return "synthreid"
    if (root / "meta.json").is_file() and (root / "splits.json").is_file():
        return "openreid"
    if (root / "bounding_box_train").is_dir():
        sample = next(
            (
                p.name
                for p in sorted((root / "bounding_box_train").iterdir())
                if p.suffix.lower() in IMAGE_EXTS
            ),
            "",
        )
        return "cuhk03np" if CUHK03NP_RE.match(sample) and not MARKET_RE.match(sample) else "market1501"
    if (root / "labeled" / "bounding_box_train").is_dir() or (
        root / "detected" / "bounding_box_train"
    ).is_dir():
        return "cuhk03np"
    raise DatasetError(
        f"{root}: unknown dataset format (expected manifest.json, meta.json+splits.json, "
        "bounding_box_train/ or labeled|detected/); pass --format"
    )


def read_dataset(root: str | Path, format: str | None = None, **kwargs) -> ReidDataset:
    """Read any supported dataset. kwargs: skip_bad, verify, num_val, seed, split_id, variant."""
    root = Path(root)
    fmt = format or detect_format(root)
    if fmt not in READERS:
        raise DatasetError(f"format {fmt!r}: unknown (valid: {', '.join(FORMATS)})")
    ds = READERS[fmt](root, **kwargs)
    if ds.skipped:
        log.warning("%s: skipped %d bad files", root, ds.skipped)
    return ds
