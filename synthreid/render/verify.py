"""``synthreid verify``: check every image and mask of a rendered dataset against its rows.

The plan (the manifest's spec) names every image. A rendered image has its row in
``meta/STEM.json``; it is sound when ``writer.file_problems`` finds nothing (paths, sha256 of
image and mask) and both files decode at the sizes the row records. ``labels.jsonl`` must
agree with the meta rows. ``fix_dataset`` deletes the files of damaged images and rewrites
labels.jsonl, so that the next ``render`` (or the farm's resume) renders them again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from synthreid.dataset import Dataset
from synthreid.errors import DatasetError
from synthreid.render.model import ImagePlan, PlanError
from synthreid.render.output import finalize_dataset
from synthreid.render.plan import plan_images
from synthreid.render.spec import DatasetSpec
from synthreid.render.writer import file_problems, names_stem, read_meta_row

SUBDIRS = ("images", "masks", "meta")
MAX_EXAMPLES = 5  # stems named in an aggregated message


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``stem`` is the image it concerns (None: the dataset as a whole);
    ``message`` starts with the file it is about, relative to the dataset root."""

    stem: str | None
    message: str
    fixable: bool = True


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify_dataset`` found. ``damaged``: stems whose files must be rendered again;
    ``not_rendered``: planned stems with no files yet."""

    root: Path
    spec: DatasetSpec
    planned: int
    sound: int
    damaged: tuple[str, ...]
    not_rendered: tuple[str, ...]
    problems: tuple[Problem, ...]
    temps: tuple[str, ...]
    labels_stale: bool

    @property
    def ok(self) -> bool:
        return not self.problems and not self.not_rendered


@dataclass(frozen=True)
class FixReport:
    """What ``fix_dataset`` did: images whose files were removed, temp files deleted, whether
    labels.jsonl was rewritten, and the problems it left alone (files not in the plan)."""

    removed_images: tuple[str, ...]
    removed_temps: int
    labels_rewritten: bool
    left: tuple[Problem, ...]


def _decode_problem(path: Path, rel: str, size: tuple | None, what: str) -> tuple[str | None, tuple | None]:
    """(message or None, decoded (width, height)) of one image file; ``size`` is the expected one."""
    try:
        with Image.open(path) as im:
            im.load()
            got = im.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return f"{rel}: cannot be decoded ({exc})", None
    if size is not None and tuple(got) != tuple(size):
        return f"{rel}: {what} is {got[0]}x{got[1]} px, expected {size[0]}x{size[1]}", got
    return None, got


def check_image(root: Path, stem: str, planned: ImagePlan, row: dict) -> list[str]:
    """Every problem of one rendered image (meta ``row``) against its ``planned`` row."""
    problems = file_problems(root, stem, row)
    for key in ("pid", "camid", "index"):
        if key in row and row[key] != getattr(planned, key):
            problems.append(
                f"meta/{stem}.json: {key} is {row[key]!r}, the plan says {getattr(planned, key)!r}"
            )
    size = row.get("size")
    size = tuple(size) if isinstance(size, list) and len(size) == 2 else None
    for key, folder in (("image", "images"), ("mask", "masks")):
        rel = row.get(key)
        if isinstance(rel, str) and names_stem(rel, folder, stem) and (root / rel).is_file():
            # the mask must match the image's size (recorded, or as decoded)
            msg, got = _decode_problem(root / rel, rel, size, key)
            if msg:
                problems.append(msg)
            elif size is None:
                size = got
    return problems


def _labels_by_stem(root: Path) -> tuple[dict[str, dict] | None, str | None]:
    if not (root / "labels.jsonl").is_file():
        return None, "labels.jsonl: missing"
    try:
        return {str(r.get("stem")): r for r in Dataset(root).labels() if isinstance(r, dict)}, None
    except (DatasetError, OSError, UnicodeDecodeError) as exc:
        return None, f"labels.jsonl: unreadable ({exc})"


def _missing_row(root: Path, stem: str) -> Problem | None:
    """Why an image without a readable meta row is damaged, or None when it was never rendered."""
    leftovers = sorted(
        p.relative_to(root).as_posix() for sub in ("images", "masks") for p in (root / sub).glob(f"{stem}.*")
    )
    if (root / "meta" / f"{stem}.json").exists():
        return Problem(stem, f"meta/{stem}.json: unreadable or not a JSON object")
    if leftovers:
        return Problem(stem, f"{', '.join(leftovers)}: written but no meta row (interrupted render)")
    return None


def _stray_files(root: Path, planned_stems: set[str]) -> tuple[list[Problem], list[str]]:
    """Problems with the dataset's folders (missing, temp leftovers, files of no planned image),
    and the temp files among them (paths relative to ``root``)."""
    problems: list[Problem] = []
    temps: list[str] = []
    for sub in SUBDIRS:
        folder = root / sub
        if not folder.is_dir():
            problems.append(Problem(None, f"{sub}/: missing folder"))
            continue
        for p in sorted(folder.iterdir()):
            rel = p.relative_to(root).as_posix()
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                temps.append(rel)
                problems.append(Problem(None, f"{rel}: leftover temp file of an interrupted write"))
            elif p.name.split(".", 1)[0] not in planned_stems:
                problems.append(
                    Problem(
                        None,
                        f"{rel}: not an image of this dataset's plan (left alone; remove it by hand)",
                        fixable=False,
                    )
                )
    return problems, temps


def _labels_problem(labels_error: str | None, stale: list[str]) -> Problem | None:
    if labels_error is not None:
        return Problem(None, labels_error)
    if stale:
        return Problem(
            None,
            f"labels.jsonl: disagrees with the files for {len(stale)} image(s) "
            f"(e.g. {', '.join(stale[:MAX_EXAMPLES])}); --fix or the next render "
            "rewrites it",
        )
    return None


def _rendered_spec(root: Path, ds: Dataset) -> DatasetSpec:
    if ds.manifest.get("kind") != "rendered" or not isinstance(ds.manifest.get("spec"), dict):
        # A refined dataset keeps its source's meta rows (checksums of the source pixels).
        raise DatasetError(
            f"{root / 'manifest.json'}: kind is {ds.manifest.get('kind')!r}; verify checks "
            "datasets made by `synthreid render` or the farm (kind 'rendered', with a spec)"
        )
    return DatasetSpec.from_dict(ds.manifest["spec"], source=str(root / "manifest.json"))


def verify_dataset(root: str | Path, progress: bool = False) -> VerifyReport:
    """Check every planned image of the rendered dataset in ``root`` (reads every file once)."""
    root = Path(root)
    ds = Dataset(root)  # raises DatasetError naming manifest.json when it is not a dataset
    spec = _rendered_spec(root, ds)
    labels, labels_error = _labels_by_stem(root)
    problems: list[Problem] = []
    damaged: list[str] = []
    not_rendered: list[str] = []
    stale: list[str] = []
    planned_stems: set[str] = set()
    sound = 0
    with tqdm(total=spec.total_images, unit="img", desc=f"verify {ds.name}", disable=not progress) as bar:
        # the spec names every image: a check independent of the stored plans it verifies
        for planned in plan_images(spec):
            stem = planned.stem
            planned_stems.add(stem)
            bar.update(1)
            row = read_meta_row(root, stem)
            label = labels.get(stem) if labels is not None else None
            labelled_done = label is not None and label.get("state") == "done"
            if row is None:
                missing = _missing_row(root, stem)
                if missing is None:
                    not_rendered.append(stem)
                else:
                    damaged.append(stem)
                    problems.append(missing)
                if labelled_done:
                    stale.append(stem)
                continue
            found = check_image(root, stem, planned, row)
            if found:
                damaged.append(stem)
                problems.extend(Problem(stem, m) for m in found)
                if labelled_done:
                    stale.append(stem)
            else:
                sound += 1
                if not labelled_done or label is None or label.get("checksum") != row.get("checksum"):
                    stale.append(stem)
    if labels is not None:
        stale.extend(sorted(s for s in labels if s not in planned_stems))
    labels_stale = labels_error is not None or bool(stale)
    if (lp := _labels_problem(labels_error, stale)) is not None:
        problems.append(lp)
    strays, temps = _stray_files(root, planned_stems)
    problems.extend(strays)
    return VerifyReport(
        root,
        spec,
        spec.total_images,
        sound,
        tuple(damaged),
        tuple(not_rendered),
        tuple(problems),
        tuple(temps),
        labels_stale,
    )


def fix_dataset(report: VerifyReport) -> FixReport:
    """Delete the files of ``report``'s damaged images and leftover temp files, rewrite
    labels.jsonl; the next render (or farm resume) renders those images again."""
    root = report.root
    for stem in report.damaged:
        # meta first: without it the image no longer counts as rendered, whatever remains
        for p in [
            root / "meta" / f"{stem}.json",
            *(root / "images").glob(f"{stem}.*"),
            *(root / "masks").glob(f"{stem}.*"),
        ]:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    removed_temps = 0
    for rel in report.temps:
        with contextlib.suppress(FileNotFoundError):
            (root / rel).unlink()
            removed_temps += 1
    rewrite = bool(report.damaged) or report.labels_stale
    if rewrite:
        try:
            finalize_dataset(root)  # from the plans stored in labels.jsonl
        except (DatasetError, PlanError, OSError):
            finalize_dataset(root, plan_images(report.spec))  # labels.jsonl lost or torn: plan again
    return FixReport(
        tuple(report.damaged), removed_temps, rewrite, tuple(p for p in report.problems if not p.fixable)
    )
