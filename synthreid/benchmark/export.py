"""Exporters from our dataset layout to Market-1501 folders and the Open-ReID layout.

Both write into a temp folder next to ``out`` and rename it at the end, so a failed export
leaves nothing half-written. Identities of the train and val splits go to training; the test
split becomes query/gallery with :func:`split_query_gallery`: every query has a gallery image
of its identity on another camera, and test identities seen by one camera only are gallery
distractors. An export whose test split gives no such query is refused (it could not be
evaluated), with a message saying what to render more of.

Images are written as JPEG by default (``quality`` 1-100, default 95): torchreid's and
fast-reid's Market-1501 readers only list ``*.jpg``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from synthreid.benchmark.datasets import ReidDataset, ReidRecord, read_synthreid, split_query_gallery
from synthreid.errors import DatasetError
from synthreid.fsutil import write_json

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("market1501", "openreid")
IMAGE_EXTS = (".jpg", ".png")
DEFAULT_QUALITY = 95


@dataclass(frozen=True)
class QueryGalleryReport:
    """How the test split was divided: counts of identities and images."""

    test_ids: int
    query_ids: int
    query_images: int
    gallery_images: int
    one_camera_ids: int  # test identities with images from one camera only (gallery-only)
    one_camera_images: int

    def describe(self) -> str:
        text = (
            f"test split: {self.test_ids} identities -> {self.query_images} queries of "
            f"{self.query_ids} identities, {self.gallery_images} gallery images"
        )
        if self.one_camera_ids:
            text += (
                f"; {self.one_camera_ids} identities seen by one camera only: their "
                f"{self.one_camera_images} images are gallery distractors"
            )
        return text


def query_gallery_report(ds: ReidDataset) -> QueryGalleryReport:
    """Counts of ``ds``'s query/gallery; DatasetError if no query has a cross-camera match."""
    pool = ds.query + ds.gallery
    cams: dict[int, set] = {}
    for r in pool:
        cams.setdefault(r.pid, set()).add(r.camid)
    one = {p for p, c in cams.items() if len(c) == 1}
    report = QueryGalleryReport(
        len(cams),
        len({r.pid for r in ds.query}),
        len(ds.query),
        len(ds.gallery),
        len(one),
        sum(r.pid in one for r in pool),
    )
    if not ds.query:
        if not pool:
            raise DatasetError(
                f"{ds.root}: the test split has no images, so the export would have no "
                "query/gallery; give the manifest's splits test identities"
            )
        raise DatasetError(
            f"{ds.root}: no test identity has images from 2 or more cameras ({len(one)} of {len(cams)} "
            "test identities seen by one camera only), so no query could have a gallery match on another "
            "camera: render more images per character (e.g. --images 4) so each person is seen by "
            "several cameras"
        )
    return report


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


def _check_options(image_ext: str, quality: int) -> None:
    if image_ext not in IMAGE_EXTS:
        raise DatasetError(f"image_ext {image_ext!r}: expected one of {', '.join(IMAGE_EXTS)}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise DatasetError(f"quality {quality!r}: expected a JPEG quality from 1 to 100")


def _write_image(src: str, dst: Path, ext: str, quality: int) -> None:
    """Copy ``src`` if it already has the extension ``ext``, else re-encode it (JPEG at ``quality``)."""
    if Path(src).suffix.lower() == ext:
        shutil.copyfile(src, dst)
        return
    from PIL import Image

    try:
        with Image.open(src) as im:
            if ext == ".jpg":
                im.convert("RGB").save(dst, format="JPEG", quality=quality)
            else:
                im.save(dst, format="PNG")
    except OSError as exc:
        raise DatasetError(f"{src}: unreadable image ({exc})") from exc


def _read(dataset: str | Path) -> tuple[ReidDataset, QueryGalleryReport]:
    ds = read_synthreid(Path(dataset))
    report = query_gallery_report(ds)
    log.info("%s: %s", dataset, report.describe())
    return ds, report


def export_market1501(
    dataset: str | Path,
    out: str | Path,
    image_ext: str = ".jpg",
    overwrite: bool = False,
    quality: int = DEFAULT_QUALITY,
) -> Path:
    """Market-1501 folders. Identities become ``pid + 1`` (Market's 0 means distractor), cameras
    must be 1-9, the image index becomes the frame number; ``image_ext`` '.jpg' (JPEG at
    ``quality``) or '.png'."""
    _check_options(image_ext, quality)
    ds, _ = _read(dataset)
    out = Path(out)
    jobs = []
    for folder, recs in (
        ("bounding_box_train", ds.train + ds.val),
        ("query", ds.query),
        ("bounding_box_test", ds.gallery),
    ):
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
            _write_image(src, tmp / rel, image_ext, quality)
    return out


def export_openreid(
    dataset: str | Path,
    out: str | Path,
    image_ext: str = ".jpg",
    overwrite: bool = False,
    quality: int = DEFAULT_QUALITY,
) -> Path:
    """Open-ReID layout: contiguous pids (sorted order), 0-based cameras, one split.

    Open-ReID's ``Dataset.load`` reads query and gallery as identity lists (every image of a
    listed identity), so the split is written in that form: ``trainval`` = train+val identities,
    ``gallery`` = all test identities, ``query`` = the test identities that have a cross-camera
    match (identities seen by one camera only are gallery distractors, never queries); Open-ReID's
    evaluator then drops same-identity same-camera gallery images. meta.json also lists the
    Market-style image partition (``query_fnames``/``gallery_fnames``, one query per identity
    and camera, read by ``synthreid benchmark``) and the original pids as ``synthreid_pids``.
    """
    _check_options(image_ext, quality)
    ds, _ = _read(dataset)
    out = Path(out)
    allrecs: list[ReidRecord] = ds.train + ds.val + ds.query + ds.gallery
    pids = sorted({r.pid for r in allrecs})
    relabel = {p: i for i, p in enumerate(pids)}
    cams = sorted({r.camid for r in allrecs})
    if cams and cams[0] < 1:
        raise DatasetError(f"{dataset}: camera ids must be >= 1, found {cams[0]}")
    num_cams = max(cams) if cams else 0
    if num_cams > 100:
        raise DatasetError(f"{dataset}: camera {num_cams} cannot be written as Open-ReID's 2-digit camera")
    identities: list[list[list]] = [[[] for _ in range(num_cams)] for _ in pids]
    fname_of = {}
    for r in sorted(allrecs, key=lambda r: (r.pid, r.camid, r.path)):
        slot = identities[relabel[r.pid]][r.camid - 1]
        if len(slot) >= 10000:
            raise DatasetError(
                f"{r.path}: identity {r.pid} has more than 9999 images on camera {r.camid} "
                "(Open-ReID's 4-digit image index)"
            )
        fname = f"{relabel[r.pid]:08d}_{r.camid - 1:02d}_{len(slot):04d}{image_ext}"
        slot.append(fname)
        fname_of[r.path] = fname
    meta = {
        "name": ds.name,
        "shot": "multiple",
        "num_cameras": num_cams,
        "identities": identities,
        "query_fnames": [fname_of[r.path] for r in ds.query],
        "gallery_fnames": [fname_of[r.path] for r in ds.gallery],
        "synthreid_pids": pids,
    }
    splits = [
        {
            "trainval": sorted({relabel[r.pid] for r in ds.train + ds.val}),
            "query": sorted({relabel[r.pid] for r in ds.query}),
            "gallery": sorted({relabel[r.pid] for r in ds.query + ds.gallery}),
        }
    ]
    with _staging(out, overwrite) as tmp:
        (tmp / "images").mkdir()
        for src, fname in tqdm(fname_of.items(), desc="export openreid", unit="img"):
            _write_image(src, tmp / "images" / fname, image_ext, quality)
        write_json(tmp / "meta.json", meta, indent=None)
        write_json(tmp / "splits.json", splits)
    return out


def export(dataset: str | Path, out: str | Path, format: str, **kwargs) -> Path:
    """Export ``dataset`` as ``format`` (see EXPORT_FORMATS); kwargs: image_ext, overwrite, quality."""
    if format == "market1501":
        return export_market1501(dataset, out, **kwargs)
    if format == "openreid":
        return export_openreid(dataset, out, **kwargs)
    raise DatasetError(f"export format {format!r}: unknown (valid: {', '.join(EXPORT_FORMATS)})")


__all__ = [
    "export",
    "export_market1501",
    "export_openreid",
    "split_query_gallery",
    "query_gallery_report",
    "QueryGalleryReport",
    "EXPORT_FORMATS",
    "DEFAULT_QUALITY",
]
