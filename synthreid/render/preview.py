"""Contact sheets of a dataset: a grid of sample crops with their person and camera ids."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synthreid.dataset import Dataset, ImageRecord
from synthreid.errors import DatasetError
from synthreid.fsutil import atomic_path
from synthreid.render.writer import file_problems, read_meta_row

log = logging.getLogger(__name__)
MAX_LISTED = 10  # damaged files named in the warning; `synthreid verify` lists all


def sound_records(ds: Dataset) -> tuple[list[ImageRecord], list[str]]:
    """(records whose files are intact, what is wrong with the others: "FILE: problem").

    In a rendered dataset (manifest kind 'rendered': `render` or the farm) every image is
    checked against its meta row (``file_problems``: checksum, mask); an image file with no
    meta row is an interrupted write, and a meta row whose image is gone is reported missing.
    Other kinds (refined: new pixels under the source's meta rows; imported) are taken as
    they are and only need to decode.
    """
    records = ds.records()
    meta = ds.root / "meta"
    if ds.manifest.get("kind") != "rendered" or not meta.is_dir():
        return records, []
    metas = {p.stem for p in meta.glob("*.json")}
    good, bad = [], []
    for rec in records:
        row = read_meta_row(ds.root, rec.stem)
        if row is None:
            bad.append(f"{rec.image}: no readable meta row (interrupted render?)")
            continue
        problems = file_problems(ds.root, rec.stem, row)
        if problems:
            bad.append("; ".join(problems))
        else:
            good.append(rec)
    have = {rec.stem for rec in records}
    bad.extend(f"images/{stem}.*: missing (its meta row exists)" for stem in sorted(metas - have))
    return good, bad


def contact_sheet(
    dataset_dir: str | Path,
    out: str | Path,
    count: int = 48,
    columns: int = 12,
    cell: tuple[int, int] = (64, 128),
    seed: int = 0,
    one_per_person: bool = True,
    labels: bool = True,
) -> Path:
    """Write a PNG grid of ``count`` images (seeded choice; one per person by default).

    ``cell`` is (width, height) in px; crops are fitted into it keeping their aspect. Damaged
    or missing images (see ``sound_records``) are skipped with a warning naming them.
    """
    ds = Dataset(dataset_dir)
    records, bad = sound_records(ds)
    if bad:
        shown = "; ".join(bad[:MAX_LISTED])
        more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        log.warning(
            "%s: skipped %d damaged or missing image(s) (%s%s); `synthreid verify %s` lists them all",
            dataset_dir,
            len(bad),
            shown,
            more,
            dataset_dir,
        )
    if not records:
        raise DatasetError(f"{dataset_dir}: no rendered images yet" + (" that are intact" if bad else ""))
    rng = np.random.default_rng(seed)
    if one_per_person:
        by_pid: dict[int, list] = {}
        for r in records:
            by_pid.setdefault(r.pid, []).append(r)
        pids = sorted(by_pid)
        chosen_pids = rng.permutation(pids)[:count]
        chosen = [by_pid[p][int(rng.integers(len(by_pid[p])))] for p in sorted(chosen_pids)]
    else:
        idx = rng.permutation(len(records))[:count]
        chosen = [records[i] for i in sorted(idx)]
    cw, ch = cell
    label_h = 12 if labels else 0
    rows = (len(chosen) + columns - 1) // columns
    cols = min(columns, len(chosen))
    sheet = Image.new("RGB", (cols * (cw + 2) + 2, rows * (ch + label_h + 2) + 2), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, rec in enumerate(chosen):
        try:
            with Image.open(ds.root / rec.image) as src:
                im = src.convert("RGB")
                im.thumbnail((cw, ch), Image.Resampling.LANCZOS)
        except (OSError, ValueError) as exc:  # files with no meta row to check them against
            log.warning("%s: skipped %s: cannot be decoded (%s)", dataset_dir, rec.image, exc)
            continue
        x = 2 + (i % columns) * (cw + 2)
        y = 2 + (i // columns) * (ch + label_h + 2)
        sheet.paste(im, (x + (cw - im.width) // 2, y + (ch - im.height) // 2))
        if labels:
            draw.text((x + 1, y + ch), f"{rec.pid} c{rec.camid}", fill=(220, 220, 220))
    out = Path(out)
    with atomic_path(out) as tmp:
        sheet.save(tmp, "PNG")
    return out
