"""Exporters from our dataset layout to Market-1501 folders and the Open-ReID layout.

Both write into a temp folder next to ``out`` and rename it at the end, so a failed export
leaves nothing half-written. Identities of the train and val splits go to training; the test
split becomes query/gallery (first image of each identity and camera is a query).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from tqdm import tqdm

from synthreid.benchmark.datasets import ReidRecord, read_synthreid, split_query_gallery
from synthreid.errors import DatasetError
from synthreid.fsutil import write_json

EXPORT_FORMATS = ("market1501", "openreid")


@contextlib.contextmanager
def _staging(out: Path, overwrite: bool):
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(f"{out}: already exists (pass overwrite to replace it)")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.export.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def _write_image(src: str, dst: Path, ext: str) -> None:
    if Path(src).suffix.lower() == ext:
        shutil.copyfile(src, dst)
        return
    from PIL import Image

    try:
        with Image.open(src) as im:
            im.convert("RGB").save(dst, quality=95) if ext == ".jpg" else im.save(dst)
    except OSError as exc:
        raise DatasetError(f"{src}: unreadable image ({exc})") from exc


def export_market1501(dataset: str | Path, out: str | Path, image_ext: str = ".jpg",
                      overwrite: bool = False) -> Path:
    """Market-1501 folders. Identities become ``pid + 1`` (Market's 0 means distractor), cameras
    must be 1-9, the image index becomes the frame number; ``image_ext`` '.jpg' or '.png'."""
    ds = read_synthreid(Path(dataset))
    out = Path(out)
    jobs = []
    for folder, recs in (("bounding_box_train", ds.train + ds.val), ("query", ds.query),
                         ("bounding_box_test", ds.gallery)):
        for r in recs:
            if not 1 <= r.camid <= 9:
                raise DatasetError(f"{r.path}: camera {r.camid} cannot be written as Market-1501 c1-c9")
            if r.pid + 1 > 9999:
                raise DatasetError(f"{r.path}: identity {r.pid} exceeds Market-1501's 4 digits")
            index = int(Path(r.path).stem.rsplit("_", 1)[1])
            jobs.append((r.path, f"{folder}/{r.pid + 1:04d}_c{r.camid}s1_{index:06d}_00{image_ext}"))
    with _staging(out, overwrite) as tmp:
        for sub in ("bounding_box_train", "query", "bounding_box_test"):
            (tmp / sub).mkdir()
        for src, rel in tqdm(jobs, desc="export market1501", unit="img"):
            _write_image(src, tmp / rel, image_ext)
    return out


def export_openreid(dataset: str | Path, out: str | Path, image_ext: str = ".jpg",
                    overwrite: bool = False) -> Path:
    """Open-ReID layout: contiguous pids (sorted order), 0-based cameras, one split whose
    trainval is train+val and whose query/gallery are the test identities; meta.json also lists
    ``query_fnames``/``gallery_fnames`` and the original pids as ``synthreid_pids``."""
    ds = read_synthreid(Path(dataset))
    out = Path(out)
    allrecs: list[ReidRecord] = ds.train + ds.val + ds.query + ds.gallery
    pids = sorted({r.pid for r in allrecs})
    relabel = {p: i for i, p in enumerate(pids)}
    cams = sorted({r.camid for r in allrecs})
    if cams and cams[0] < 1:
        raise DatasetError(f"{dataset}: camera ids must be >= 1, found {cams[0]}")
    num_cams = max(cams) if cams else 0
    identities = [[[] for _ in range(num_cams)] for _ in pids]
    fname_of = {}
    for r in sorted(allrecs, key=lambda r: (r.pid, r.camid, r.path)):
        slot = identities[relabel[r.pid]][r.camid - 1]
        fname = f"{relabel[r.pid]:08d}_{r.camid - 1:02d}_{len(slot):04d}{image_ext}"
        slot.append(fname)
        fname_of[r.path] = fname
    test_ids = sorted({relabel[r.pid] for r in ds.query + ds.gallery})
    meta = {"name": ds.name, "shot": "multiple", "num_cameras": num_cams, "identities": identities,
            "query_fnames": [fname_of[r.path] for r in ds.query],
            "gallery_fnames": [fname_of[r.path] for r in ds.gallery],
            "synthreid_pids": pids}
    splits = [{"trainval": sorted({relabel[r.pid] for r in ds.train + ds.val}),
               "query": test_ids, "gallery": test_ids}]
    with _staging(out, overwrite) as tmp:
        (tmp / "images").mkdir()
        for src, fname in tqdm(fname_of.items(), desc="export openreid", unit="img"):
            _write_image(src, tmp / "images" / fname, image_ext)
        write_json(tmp / "meta.json", meta, indent=None)
        write_json(tmp / "splits.json", splits)
    return out


def export(dataset: str | Path, out: str | Path, format: str, **kwargs) -> Path:
    if format == "market1501":
        return export_market1501(dataset, out, **kwargs)
    if format == "openreid":
        return export_openreid(dataset, out, **kwargs)
    raise DatasetError(f"export format {format!r}: unknown (valid: {', '.join(EXPORT_FORMATS)})")


__all__ = ["export", "export_market1501", "export_openreid", "split_query_gallery", "EXPORT_FORMATS"]
