"""Contact sheets of a dataset: a grid of sample crops with their person and camera ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synthreid.dataset import Dataset
from synthreid.errors import DatasetError
from synthreid.fsutil import atomic_path


def contact_sheet(dataset_dir: str | Path, out: str | Path, count: int = 48, columns: int = 12,
                  cell: tuple[int, int] = (64, 128), seed: int = 0, one_per_person: bool = True,
                  labels: bool = True) -> Path:
    """Write a PNG grid of ``count`` images (seeded choice; one per person by default).

    ``cell`` is (width, height) in px; crops are fitted into it keeping their aspect.
    """
    ds = Dataset(dataset_dir)
    records = ds.records()
    if not records:
        raise DatasetError(f"{dataset_dir}: no rendered images yet")
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
        with Image.open(ds.root / rec.image) as im:
            im = im.convert("RGB")
            im.thumbnail((cw, ch), Image.LANCZOS)
        x = 2 + (i % columns) * (cw + 2)
        y = 2 + (i // columns) * (ch + label_h + 2)
        sheet.paste(im, (x + (cw - im.width) // 2, y + (ch - im.height) // 2))
        if labels:
            draw.text((x + 1, y + ch), f"{rec.pid} c{rec.camid}", fill=(220, 220, 220))
    out = Path(out)
    with atomic_path(out) as tmp:
        sheet.save(tmp, "PNG")
    return out
