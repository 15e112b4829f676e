"""Apply the camera model (``render.camera_model``) to a whole dataset: a new dataset of kind 'degraded'.

The new dataset has the same identities, file names, splits and image sizes as the source;
images, masks and the label rows change: each row gets ``camera_model`` (the parameters
applied), its ``joints2d_crop`` follow the detector box, ``bbox`` becomes that box in frame
pixels (the source's in ``camera_model.source_bbox``) and ``checksum`` / ``mask_checksum``
are those of the new files. With ``spec.occlusion`` (``render.occlusion``) the crop is first
occluded, the mask kept is the person's visible part and the row gets ``occlusion``.

Completion and resume (as ``refine apply``): the folder first gets ``.degrade.json`` (parent,
camera model, seed); per image the image, the mask and then ``meta/STEM.json`` are written
atomically, so an image is done when its meta row exists; ``labels.jsonl`` and
``manifest.json`` come last and the marker is then removed. Without a manifest the folder is
not a dataset, so an interrupted run never looks finished; running it again with the same
source, model and seed degrades only the images still missing.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from synthreid import __version__
from synthreid.dataset import (
    Dataset,
    ImageRecord,
    check_dataset_name,
    claim_derived_folder,
    write_labels,
    write_manifest,
)
from synthreid.errors import DatasetError
from synthreid.fsutil import atomic_path, read_json_object, sha256_file, write_json
from synthreid.render.camera_model import CameraModelSpec, crop_mask, degrade
from synthreid.render.occlusion import (
    PERSON_KINDS,
    Donor,
    DonorPool,
    OcclusionSpec,
    choose_kind,
    donor_rng,
    occlude,
)

log = logging.getLogger(__name__)
MARKER = ".degrade.json"
KIND = "degraded"
_SKIP_MANIFEST_KEYS = {"format", "format_version", "name", "kind", "parent", "camera_model", "created_at"}


def _save_png(arr: np.ndarray, path: Path) -> str:
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return sha256_file(path)


def _prepare(out: Path, marker: dict) -> None:
    claim_derived_folder(out, MARKER, marker, "degrade", "degraded", "source, camera model or seed")


def _source_rows(src: Dataset) -> dict[str, dict]:
    """Label rows by stem: labels.jsonl, overridden by meta/STEM.json rows (finished renders)."""
    rows: dict[str, dict] = {}
    for r in src.labels():
        if isinstance(r, dict):
            stem = r.get("stem") or (Path(r["image"]).stem if isinstance(r.get("image"), str) else None)
            if stem:
                rows[stem] = r
    meta = src.root / "meta"
    if meta.is_dir():
        for p in meta.glob("*.json"):
            row = read_json_object(p)
            if row:
                rows[p.stem] = row
    return rows


def _load(root: Path, rec: ImageRecord) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with Image.open(root / rec.image) as im:
            img = np.asarray(im.convert("RGB")).copy()
        mask = None
        if rec.mask:
            with Image.open(root / rec.mask) as m:
                mask = np.asarray(m.convert("L")).copy()
    except OSError as exc:
        raise DatasetError(f"{root / rec.image}: unreadable image or mask ({exc})") from exc
    if mask is not None and mask.shape != img.shape[:2]:
        raise DatasetError(
            f"{root / (rec.mask or '')}: mask size {mask.shape[::-1]} differs from its image's {img.shape[1::-1]}"
        )
    return img, mask


def _new_row(
    row: dict,
    rec: ImageRecord,
    d,
    img_rel: str,
    mask_rel: str | None,
    checksum: str,
    mask_checksum: str | None,
) -> dict:
    out = {
        **row,
        "stem": rec.stem,
        "pid": rec.pid,
        "camid": rec.camid,
        "index": rec.index,
        "image": img_rel,
        "mask": mask_rel,
        "size": list(d.image.shape[1::-1]),
    }
    cm = {**d.params.to_dict()}
    bbox = row.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox):
        # The jittered box in frame pixels; the source crop was resized by size/(bbox extent).
        sw, sh = row.get("size") or [bbox[2] - bbox[0], bbox[3] - bbox[1]]
        fx, fy = (bbox[2] - bbox[0]) / sw, (bbox[3] - bbox[1]) / sh
        x0, y0, x1, y1 = d.params.box
        out["bbox"] = [
            round(bbox[0] + x0 * fx, 2),
            round(bbox[1] + y0 * fy, 2),
            round(bbox[0] + x1 * fx, 2),
            round(bbox[1] + y1 * fy, 2),
        ]
        cm["source_bbox"] = bbox
    if d.joints is not None:
        out["joints2d_crop"] = d.joints
    out["camera_model"] = cm
    out["checksum"] = checksum
    if mask_checksum is not None:
        out["mask_checksum"] = mask_checksum
    else:
        out.pop("mask_checksum", None)
    return out


def _occlusion_pool(src: Dataset, records: list[ImageRecord], spec: OcclusionSpec) -> DonorPool:
    """The donors of ``spec`` (checked before anything is written): every image needs its mask,
    and pasting other people needs a second identity."""
    no_mask = next((r for r in records if r.mask is None), None)
    if no_mask is not None:
        raise DatasetError(
            f"{src.root / no_mask.image}: occlusion needs the person's mask; this image has none"
        )
    if spec.needs_donors and len({r.pid for r in records}) < 2:
        raise DatasetError(f"{src.root}: occlusion by other people needs a second identity in the dataset")
    return DonorPool([r.pid for r in records], {p: s for s, ps in src.splits.items() for p in ps})


def _occlude(
    root: Path, records: list[ImageRecord], pool: DonorPool, rec: ImageRecord, img, mask, joints, spec, seed
):
    """Occlusion (``render.occlusion``) of one source crop; the donor, when the kind needs one,
    is another identity's image drawn by ``pool`` from the image's donor stream."""
    donor = None
    if choose_kind(spec, seed, rec.camid, rec.stem) in PERSON_KINDS:
        i = pool.pick(rec.pid, donor_rng(seed, rec.camid, rec.stem))
        if i is None:  # _occlusion_pool checked that a second identity exists
            raise DatasetError(f"{root}: no other identity to occlude {rec.stem} with")
        d = records[i]
        d_img, d_mask = _load(root, d)
        if d_mask is None:  # _occlusion_pool checked that every image has its mask
            raise DatasetError(f"{root / d.image}: occlusion needs the person's mask; this image has none")
        donor = Donor(d_img, d_mask, d.stem)
    return occlude(img, mask, joints, spec, seed, rec.camid, rec.stem, donor)


def degrade_dataset(
    source: str | Path,
    out_dir: str | Path,
    spec: CameraModelSpec,
    seed: int = 0,
    name: str | None = None,
    preset: str | None = None,
    progress: bool = True,
) -> Path:
    """Apply ``spec`` with ``seed`` to every image of ``source`` into a new dataset at ``out_dir``.

    Returns the folder. A finished output of the same source, model and seed is returned as
    is; an unfinished one is resumed; anything else there is an error.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DatasetError(f"seed: expected a non-negative integer, got {seed!r}")
    src = Dataset(source)
    out = Path(out_dir)
    name = check_dataset_name(name or out.name)
    if out.resolve() == src.root.resolve():
        raise DatasetError(f"{out}: the output folder must differ from the source")
    parent = {"name": src.name, "path": str(src.root.resolve())}
    model = {"kind": "camera_model", "preset": preset, "spec": spec.to_dict(), "seed": seed}
    if (out / "manifest.json").is_file():
        done = Dataset(out).manifest
        if (
            done.get("kind") == KIND
            and done.get("parent", {}).get("path") == parent["path"]
            and done.get("camera_model") == model
        ):
            return out
        raise DatasetError(f"{out}: a different dataset already exists there; choose another name")
    records = src.records()
    pool = _occlusion_pool(src, records, spec.occlusion) if spec.occlusion is not None else None
    _prepare(out, {"parent": parent, "camera_model": model})

    rows = _source_rows(src)
    todo = [r for r in records if not (out / "meta" / f"{r.stem}.json").is_file()]
    log.info("degrade: %d of %d images to degrade into %s", len(todo), len(records), out)
    with tqdm(total=len(todo), desc=f"degrade {name}", unit="img", disable=not progress) as bar:
        for rec in todo:
            img, mask = _load(src.root, rec)
            row = rows.get(rec.stem, {})
            joints = row.get("joints2d_crop") if isinstance(row.get("joints2d_crop"), dict) else None
            occ = None
            if spec.occlusion is not None and pool is not None:  # in the scene, so before the camera
                occ = _occlude(src.root, records, pool, rec, img, mask, joints, spec.occlusion, seed)
            # The camera's box and person height follow the whole person (the source mask); the mask
            # kept is the person's visible part, cropped by the same box.
            d = degrade(img if occ is None else occ.image, mask, joints, spec, seed, rec.camid, rec.stem)
            if occ is not None:
                d = dataclasses.replace(d, mask=crop_mask(occ.mask, d.params.box, d.params.out_size))
                row = {**row, "occlusion": occ.to_dict()}
            img_rel = f"images/{rec.stem}.png"  # lossless: the JPEG round trip is already in the pixels
            checksum = _save_png(d.image, out / img_rel)
            mask_rel, mask_sum = None, None
            if d.mask is not None:
                mask_rel = f"masks/{rec.stem}.png"
                mask_sum = _save_png(d.mask, out / mask_rel)
            write_json(
                out / "meta" / f"{rec.stem}.json",
                _new_row(row, rec, d, img_rel, mask_rel, checksum, mask_sum),
                indent=None,
            )
            bar.update(1)

    new_rows = []
    for rec in records:
        row = read_json_object(out / "meta" / f"{rec.stem}.json")
        if not row:
            raise DatasetError(
                f"{out / 'meta' / (rec.stem + '.json')}: missing or unreadable after degrading"
            )
        new_rows.append(row)
    write_labels(out, new_rows)
    manifest = {k: v for k, v in src.manifest.items() if k not in _SKIP_MANIFEST_KEYS}
    counts: dict = c if isinstance(c := manifest.get("counts"), dict) else {}
    manifest.update(
        {
            "name": name,
            "kind": KIND,
            "parent": parent,
            "camera_model": model,
            "splits": src.splits,
            "counts": {**counts, "images": len(records)},
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "software": {
                **(sw if isinstance(sw := src.manifest.get("software"), dict) else {}),
                "synthreid": __version__,
            },
        }
    )
    write_manifest(out, manifest)
    (out / MARKER).unlink(missing_ok=True)
    return out
