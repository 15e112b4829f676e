"""``enqueue --resume`` checks a farm dataset's finished images against the files on disk.

The catalog marks an image done in the transaction that finishes its task; its files may
since have been truncated, replaced or deleted (a disk fault, ``synthreid verify --fix``).
``requeue_damaged`` streams the done images page by page, applies the shared rule of
``synthreid.render.output`` (``read_meta_row`` + ``file_problems``: meta row readable, image
and mask present, sha256 equal to the row) and compares the row's checksum with the one the
catalog recorded. Damaged images go back to pending with their character's task, so the next
worker renders exactly them (it skips the character's images still done) and the dataset is
finalized again once they are in.
"""

from __future__ import annotations

import collections
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from synthreid.errors import DatasetError
from synthreid.render.writer import file_problems, read_meta_row
from synthreid.workers.catalog import Catalog

PAGE = 2_000  # done images read, checked and re-queued per step
MAX_EXAMPLES = 5  # damaged images named in the summary

# why an image is re-queued -> its words in the summary
REASONS = {
    "meta": "without a readable meta row",
    "files": "with a missing or damaged image or mask",
    "replaced": "replaced since the catalog recorded them",
}


@dataclass(frozen=True)
class Damage:
    """One done image whose files do not hold up; ``reason`` is a key of ``REASONS``,
    ``message`` names the file(s), relative to the dataset root."""

    stem: str
    reason: str
    message: str


@dataclass(frozen=True)
class RepairReport:
    """What ``requeue_damaged`` did. ``requeued``: images sent back to pending; ``tasks``:
    character tasks reopened; ``busy``: damaged images left alone because their character's
    task is running (the next ``--resume`` checks them again); ``seconds``: wall time."""

    checked: int
    damaged: int
    requeued: int
    tasks: int
    busy: int
    by_reason: tuple[tuple[str, int], ...]
    examples: tuple[Damage, ...]
    seconds: float

    def lines(self) -> list[str]:
        """A one-line summary, then the first damaged images, for the terminal."""
        head = f"checked {self.checked:,} done images against their files ({self.seconds:.1f} s): "
        if not self.damaged:
            return [head + "all sound"]
        why = ", ".join(f"{n:,} {REASONS[r]}" for r, n in self.by_reason)
        out = [head + f"{self.requeued:,} re-queued in {self.tasks:,} tasks ({why})"]
        if self.busy:
            out[0] += f"; {self.busy:,} left for the next --resume (their character's task is running)"
        out += [f"  {d.message}" for d in self.examples]
        if self.damaged > len(self.examples):
            out.append(f"  ... and {self.damaged - len(self.examples):,} more")
        return out


def done_image_damage(root: Path, stem: str, checksum: str | None) -> Damage | None:
    """Why the done image ``stem`` (catalog ``checksum``) must be rendered again, or None."""
    row = read_meta_row(root, stem)
    if row is None:
        what = "unreadable or not a JSON object" if (root / "meta" / f"{stem}.json").exists() else "missing"
        return Damage(stem, "meta", f"meta/{stem}.json: {what}")
    problems = file_problems(root, stem, row)
    if problems:
        return Damage(stem, "files", "; ".join(problems))
    if checksum is not None and row.get("checksum") != checksum:
        # Sound on disk but another render than the catalog's: its task records what is there.
        return Damage(
            stem,
            "replaced",
            f"{row.get('image')}: sha256 differs from the catalog's (replaced after it was recorded)",
        )
    return None


def default_threads() -> int:
    """Hashing threads: reading files waits on the disk (or NFS) more than on the CPU."""
    return max(1, min(8, os.cpu_count() or 1))


def requeue_damaged(
    catalog: Catalog,
    dataset_id: int,
    root: str | Path,
    *,
    progress: bool = True,
    page: int = PAGE,
    threads: int | None = None,
) -> RepairReport:
    """Check every done image of the dataset against its files in ``root`` and re-queue the
    damaged ones (``Catalog.requeue_images``), page by page: memory stays flat, and what was
    re-queued before an interruption stays re-queued.

    Raises DatasetError when the catalog has done images but ``root`` is not a folder (wrong
    ``SYNTHREID_DATA_DIR`` rather than lost files: nothing is re-queued).
    """
    t0 = time.perf_counter()
    root = Path(root)
    total = catalog.count_images(dataset_id, "done")
    if total and not root.is_dir():
        raise DatasetError(
            f"{root}: no such folder, but the catalog has {total:,} finished images of this "
            "dataset; point SYNTHREID_DATA_DIR at the farm's shared storage (to render the whole "
            "dataset again, create the empty folder and rerun)"
        )
    checked = damaged = requeued = tasks = 0
    reasons: collections.Counter = collections.Counter()
    examples: list[Damage] = []
    bar = tqdm(total=total, unit="img", desc="check files", disable=not progress, smoothing=0.1)
    try:
        with ThreadPoolExecutor(threads or default_threads()) as pool:
            for rows in catalog.done_image_pages(dataset_id, page):
                found = pool.map(lambda r: done_image_damage(root, r[2], r[3]), rows)
                bad = [(r[0], d) for r, d in zip(rows, found, strict=True) if d is not None]
                checked += len(rows)
                if bad:
                    damaged += len(bad)
                    reasons.update(d.reason for _, d in bad)
                    examples.extend(d for _, d in bad[: MAX_EXAMPLES - len(examples)])
                    n_images, n_tasks = catalog.requeue_images(dataset_id, [i for i, _ in bad])
                    requeued += n_images
                    tasks += n_tasks
                bar.update(len(rows))
                if bad:
                    bar.set_postfix(requeued=requeued, refresh=False)
    finally:
        bar.close()
    return RepairReport(
        checked,
        damaged,
        requeued,
        tasks,
        damaged - requeued,
        tuple(sorted(reasons.items(), key=lambda kv: -kv[1])),
        tuple(examples),
        time.perf_counter() - t0,
    )
