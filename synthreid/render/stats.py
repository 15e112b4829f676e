"""Attribute distributions of planned, rendered and real people, their total-variation
distances, and side-by-side bar charts (pure numpy; matplotlib only for the charts).

Sources of a ``Distributions``:

- ``planned_distributions(spec)``: the characters a spec plans (in memory, nothing written);
- ``dataset_distributions(root)``: the characters of a planned or rendered dataset (labels.jsonl);
- ``peta_distributions(path)``: PETA label files (``render.peta``);
- ``crop_distributions(items)``: the clothing colours measured from the pixels of crops.

Colours from pixels (one vote per crop, the crop's most frequent colour name in the region):
upper body = rows ``UPPER_ROWS`` of the crop height, lower body = rows ``LOWER_ROWS``, both
within the centre columns ``COLUMNS`` of the width (a body-region prior for upright pedestrian
crops); for rendered crops only the pixels inside the mask count. Real crops (no mask) are
first white-balanced so that the mean of their left and right ``BORDER`` columns (mostly
background: street, walls) is grey, which removes much of a camera's colour cast. Names from
``render.colournames``.

Total-variation distance TVD(p, q) = 1/2 sum_i |p_i - q_i| in [0, 1] over a family's categories.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthreid.errors import DatasetError, SpecError
from synthreid.render.attributes import FAMILIES, character_families, peta_families
from synthreid.render.colournames import COLOUR_NAMES, name_indices
from synthreid.render.model.person import PersonPlan

UPPER_ROWS = (0.20, 0.50)  # fractions of the crop height, top = 0
LOWER_ROWS = (0.55, 0.85)
COLUMNS = (0.35, 0.65)  # fractions of the crop width (legs are narrow)
BORDER = 0.15  # fraction of the width on each side taken as background for the white balance
MIN_PIXELS = 8  # fewer (masked) pixels in a region: no colour vote for that crop
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class FamilyCounts:
    """Weighted counts of one family's categories (order of ``FAMILIES[family]``) over ``n`` people."""

    family: str
    counts: tuple[float, ...]
    n: int

    @property
    def categories(self) -> tuple[str, ...]:
        return FAMILIES[self.family]

    @property
    def probabilities(self) -> np.ndarray:
        c = np.asarray(self.counts, dtype=np.float64)
        return c / c.sum() if c.sum() > 0 else c


@dataclass(frozen=True)
class Distributions:
    """Family counts of one population; ``label`` says where it comes from (for tables and charts)."""

    label: str
    families: tuple[FamilyCounts, ...]

    def get(self, family: str) -> FamilyCounts | None:
        return next((f for f in self.families if f.family == family and f.n > 0), None)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "families": {
                f.family: {
                    "n": f.n,
                    "probabilities": dict(zip(f.categories, map(float, f.probabilities), strict=True)),
                }
                for f in self.families
            },
        }


def accumulate(people: Iterable[dict[str, dict[str, float]]], label: str) -> Distributions:
    """Sum per-person {family: {category: weight}} dicts into ``Distributions``."""
    counts = {f: np.zeros(len(c)) for f, c in FAMILIES.items()}
    n = dict.fromkeys(FAMILIES, 0)
    index = {f: {c: i for i, c in enumerate(cats)} for f, cats in FAMILIES.items()}
    for person in people:
        for family, weights in person.items():
            for cat, w in weights.items():
                counts[family][index[family][cat]] += w
            n[family] += 1
    return Distributions(
        label, tuple(FamilyCounts(f, tuple(float(x) for x in counts[f]), n[f]) for f in FAMILIES)
    )


def tvd(p: Sequence[float], q: Sequence[float]) -> float:
    """Total-variation distance of two distributions over the same categories (each normalised first)."""
    a, b = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"distributions of different shapes {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any() or a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("distributions need non-negative weights with a positive sum")
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


@dataclass(frozen=True)
class Comparison:
    """One family of two populations and their distance."""

    family: str
    ours: FamilyCounts
    real: FamilyCounts | None
    tvd: float | None


def compare(ours: Distributions, real: Distributions | None) -> list[Comparison]:
    """Every family ``ours`` has, with its TVD to ``real`` where ``real`` has the family too."""
    out = []
    for fam in FAMILIES:
        mine = ours.get(fam)
        if mine is None:
            continue
        other = real.get(fam) if real is not None else None
        out.append(Comparison(fam, mine, other, tvd(mine.counts, other.counts) if other else None))
    return out


def mean_tvd(comparisons: Sequence[Comparison]) -> float | None:
    d = [c.tvd for c in comparisons if c.tvd is not None]
    return float(np.mean(d)) if d else None


# ---- sources ---------------------------------------------------------------------------------
def _progress(iterable, total: int, desc: str, progress: bool):
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="item")


def planned_distributions(spec, characters: int | None = None, progress: bool = False) -> Distributions:
    """Families of the first ``characters`` (default: all) characters ``spec`` plans; writes nothing."""
    from synthreid.render.plan import plan_character

    n = spec.characters if characters is None else int(characters)
    if n < 1:
        raise DatasetError(f"--characters: expected a positive number of people, got {n}")
    if n > spec.characters:
        spec = spec.replace(characters=n)
    people = (
        character_families(plan_character(spec, ci).person)
        for ci in _progress(range(n), n, f"plan {spec.name}", progress)
    )
    return accumulate(people, f"{spec.name} (planned, {n} people)")


def dataset_distributions(root: str | Path) -> Distributions:
    """Families of every character of a planned or rendered dataset (its labels.jsonl rows)."""
    from synthreid.dataset import Dataset
    from synthreid.render.model import PlanError
    from synthreid.render.output import stored_plans

    ds = Dataset(root)
    seen: dict[int, PersonPlan] = {}
    try:
        for plan in stored_plans(ds.root):
            seen.setdefault(plan.pid, plan.character.person)
    except PlanError as exc:
        raise DatasetError(str(exc)) from exc
    if not seen:
        raise DatasetError(f"{ds.root / 'labels.jsonl'}: no label rows (plan or render the dataset first)")
    people = [character_families(seen[pid]) for pid in sorted(seen)]
    return accumulate(people, f"{ds.name} ({len(people)} people)")


def peta_distributions(path: str | Path) -> Distributions:
    """Families of the people in PETA label files (a file or a folder of them)."""
    from synthreid.render.peta import read_labels

    people = read_labels(path)
    return accumulate((peta_families(p) for p in people), f"{Path(path).name} ({len(people)} people)")


def _region(shape: tuple[int, int], rows: tuple[float, float]) -> tuple[slice, slice]:
    h, w = shape
    r0, r1 = int(round(rows[0] * h)), max(int(round(rows[1] * h)), int(round(rows[0] * h)) + 1)
    c0, c1 = int(round(COLUMNS[0] * w)), max(int(round(COLUMNS[1] * w)), int(round(COLUMNS[0] * w)) + 1)
    return slice(r0, r1), slice(c0, c1)


def white_balance(image: np.ndarray) -> np.ndarray:
    """``image`` (H x W x 3 uint8) with each channel scaled so that its ``BORDER`` columns average grey."""
    img = np.asarray(image, dtype=np.float32)[..., :3]
    b = max(1, int(round(BORDER * img.shape[1])))
    ref = np.concatenate([img[:, :b].reshape(-1, 3), img[:, -b:].reshape(-1, 3)]).mean(axis=0)
    gain = ref.mean() / np.maximum(ref, 1.0)
    return np.clip(img * gain, 0, 255).astype(np.uint8)


def crop_colours(
    image: np.ndarray, mask: np.ndarray | None = None, balance: bool = False
) -> dict[str, dict[str, float]]:
    """{upper_colour / lower_colour: {name: 1.0}} of one crop (H x W x 3 uint8 sRGB; mask H x W,
    nonzero = person): each region's most frequent colour name; a region with fewer than
    ``MIN_PIXELS`` (masked) pixels gives no vote. ``balance``: ``white_balance`` first."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {image.shape}")
    if mask is not None and np.asarray(mask).shape[:2] != image.shape[:2]:
        raise ValueError(f"mask shape {np.asarray(mask).shape} differs from the image's {image.shape[:2]}")
    if balance:
        image = white_balance(image)
    out = {}
    for family, rows in (("upper_colour", UPPER_ROWS), ("lower_colour", LOWER_ROWS)):
        rs, cs = _region((int(image.shape[0]), int(image.shape[1])), rows)
        pixels = image[rs, cs, :3]
        if mask is not None:
            pixels = pixels[np.asarray(mask)[rs, cs] > 0]
        pixels = pixels.reshape(-1, 3)
        if len(pixels) < MIN_PIXELS:
            continue
        votes = np.bincount(name_indices(pixels).astype(np.int64), minlength=len(COLOUR_NAMES))
        out[family] = {COLOUR_NAMES[int(votes.argmax())]: 1.0}
    return out


def _load_rgb(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from exc


def _load_mask(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path}: not a readable mask ({exc})") from exc


def crop_distributions(
    items: Sequence[tuple[Path, Path | None]], label: str, progress: bool = False
) -> Distributions:
    """Colour families measured from (image, mask or None) crops; crops without a mask are
    white-balanced first (see module doc)."""
    if not items:
        raise DatasetError(f"{label}: no crops to measure")

    def people():
        for img, mask in _progress(items, len(items), "measure colours", progress):
            yield crop_colours(
                _load_rgb(img), _load_mask(mask) if mask is not None else None, balance=mask is None
            )

    return accumulate(people(), f"{label} ({len(items)} crops, pixels)")


def crop_files(folder: str | Path) -> list[Path]:
    """Image files (jpg/jpeg/png/bmp) under ``folder`` (sorted, recursive, hidden skipped), or DatasetError."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder of crops")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise DatasetError(f"{root}: no .jpg/.jpeg/.png/.bmp crops found")
    return files


def folder_crop_distributions(folder: str | Path, progress: bool = False) -> Distributions:
    """Colour families of a folder of real crops (no masks: the body-region prior alone)."""
    return crop_distributions([(p, None) for p in crop_files(folder)], Path(folder).name, progress)


@functools.lru_cache(maxsize=8)
def _measured_weights(folder: str, files: tuple[str, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    d = crop_distributions([(Path(folder) / f, None) for f in files], Path(folder).name)
    out = []
    for fam in ("upper_colour", "lower_colour"):
        got = d.get(fam)
        if got is None:
            raise SpecError("appearance.from_images", f"{folder}: no crop large enough to measure its {fam}")
        out.append(tuple(float(x) for x in got.probabilities))
    return out[0], out[1]


def image_colour_weights(folder: str | Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(upper, lower) colour-name weights (11 each, order of ``COLOUR_NAMES``) measured on the
    crops under ``folder`` like ``folder_crop_distributions``; cached per folder and file list.
    Errors name the spec field ``appearance.from_images``."""
    from synthreid.render.sampling import asset_files

    root = Path(folder)
    if not root.is_dir():
        raise SpecError("appearance.from_images", f"{folder}: not a folder of crops")
    files = asset_files(root, IMAGE_SUFFIXES)
    if not files:
        raise SpecError("appearance.from_images", f"{folder}: no .jpg/.jpeg/.png/.bmp crops found")
    try:
        return _measured_weights(str(root), files)
    except DatasetError as exc:
        raise SpecError("appearance.from_images", str(exc)) from exc


def rendered_crop_distributions(root: str | Path, progress: bool = False) -> Distributions:
    """Colour families of a rendered dataset's images, measured inside their masks."""
    from synthreid.dataset import Dataset

    ds = Dataset(root)
    records = ds.records(require_mask=True)
    items = [(ds.root / r.image, ds.root / (r.mask or "")) for r in records]  # records(require_mask=True)
    return crop_distributions(items, ds.name, progress)


def merge(base: Distributions, override: Distributions, label: str) -> Distributions:
    """``base`` with the families ``override`` has replaced by ``override``'s."""
    fams = tuple(override.get(f.family) or f for f in base.families)
    return Distributions(label, fams)


# ---- output ----------------------------------------------------------------------------------
def format_table(comparisons: Sequence[Comparison], ours_label: str, real_label: str | None) -> str:
    """Plain-text tables, one per family (percentages), each with its TVD, then the mean TVD."""
    lines = [f"ours: {ours_label}"] + ([f"real: {real_label}"] if real_label else []) + [""]
    for c in comparisons:
        head = f"{c.family}  (ours n={c.ours.n}" + (f", real n={c.real.n}" if c.real else "") + ")"
        if c.tvd is not None:
            head += f"  TVD {c.tvd:.3f}"
        lines.append(head)
        p = c.ours.probabilities
        q = c.real.probabilities if c.real else None
        for i, cat in enumerate(c.ours.categories):
            row = f"  {cat:<14}{100 * p[i]:6.1f} %"
            if q is not None:
                row += f"  {100 * q[i]:6.1f} %"
            lines.append(row)
        lines.append("")
    m = mean_tvd(comparisons)
    if m is not None:
        worst = max((c for c in comparisons if c.tvd is not None), key=lambda c: c.tvd or 0.0)
        lines.append(
            f"mean TVD {m:.3f} over {sum(c.tvd is not None for c in comparisons)} families; "
            f"largest {worst.family} {worst.tvd:.3f}"
        )
    return "\n".join(lines) + "\n"


def report_dict(comparisons: Sequence[Comparison], ours: Distributions, real: Distributions | None) -> dict:
    return {
        "ours": ours.to_dict(),
        "real": real.to_dict() if real else None,
        "tvd": {c.family: c.tvd for c in comparisons if c.tvd is not None},
        "mean_tvd": mean_tvd(comparisons),
    }


def bar_charts(
    comparisons: Sequence[Comparison], path: str | Path, ours_label: str, real_label: str | None
) -> None:
    """One PNG: a panel per family with ours and real bars side by side (percent per category)."""
    from synthreid.plots import pyplot, save_png

    plt = pyplot()
    n = len(comparisons)
    cols = 2
    rows = max(1, (n + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.6 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, c in zip(axes.ravel(), comparisons, strict=False):
        x = np.arange(len(c.ours.categories))
        width = 0.4 if c.real else 0.8
        ax.bar(
            x - (width / 2 if c.real else 0), 100 * c.ours.probabilities, width, label="ours", color="#4c72b0"
        )
        if c.real:
            ax.bar(x + width / 2, 100 * c.real.probabilities, width, label="real", color="#dd8452")
        ax.set_xticks(x, c.ours.categories, rotation=30 if len(x) > 5 else 0, fontsize=8)
        ax.set_ylabel("%")
        ax.set_title(c.family + (f"  (TVD {c.tvd:.3f})" if c.tvd is not None else ""), fontsize=10)
    handles, names = axes.ravel()[0].get_legend_handles_labels()
    names = [ours_label if nm == "ours" else (real_label or nm) for nm in names]
    fig.legend(handles, names, loc="upper center", ncol=2, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / rows))
    save_png(fig, path)


def write_report(
    out: str | Path, comparisons: Sequence[Comparison], ours: Distributions, real: Distributions | None
) -> list[Path]:
    """stats.txt, stats.json and stats.png under ``out`` (atomically); returns the paths."""
    from synthreid.fsutil import write_json, write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    real_label = real.label if real else None
    write_text(out / "stats.txt", format_table(comparisons, ours.label, real_label))
    write_json(out / "stats.json", report_dict(comparisons, ours, real))
    bar_charts(comparisons, out / "stats.png", ours.label, real_label)
    return [out / "stats.txt", out / "stats.json", out / "stats.png"]


def load_against(path: str | Path, progress: bool = False) -> Distributions:
    """Real distributions from PETA labels (a .txt file or a folder of them) or from a folder of crops."""
    p = Path(path)
    if p.is_file():
        return peta_distributions(p)
    if not p.is_dir():
        raise DatasetError(f"{p}: --against expects PETA label files (.txt) or a folder of crops")
    has_txt = any(f.suffix.lower() == ".txt" and "readme" not in f.name.lower() for f in p.rglob("*.txt"))
    if has_txt:
        return peta_distributions(p)
    return folder_crop_distributions(p, progress)
