"""Apply a trained refiner (G_AB) to a whole dataset, producing a new ``refined`` dataset.

The new dataset has the same identities, file names, image sizes, masks, labels.jsonl,
meta/ and splits as the source; only the pixels of images/ change. Each image is resized
to the model size (aspect not kept, as in training), translated, and resized back to its
own crop size.

Completion and resume: the folder first gets ``.refine-apply.json`` (parent, run,
checkpoint); every file is written atomically; ``manifest.json`` is written last and the
marker then removed. Without a manifest the folder is not a dataset (``Dataset()`` refuses
it), so an interrupted apply never looks finished; running it again with the same run and
source translates only the images still missing.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from synthreid.dataset import Dataset, check_dataset_name, claim_derived_folder, write_manifest
from synthreid.errors import DatasetError
from synthreid.fsutil import atomic_path
from synthreid.refine.config import RefinerConfig
from synthreid.refine.data import load_rgb, to_image, to_tensor
from synthreid.refine.errors import RefineError
from synthreid.refine.networks import build_generator
from synthreid.refine.train import load_checkpoint, pick_device
from synthreid.runfolder import RunFolder, RunFolderError

log = logging.getLogger(__name__)
MARKER = ".refine-apply.json"
_SKIP_MANIFEST_KEYS = {"format", "format_version", "name", "kind", "parent", "refiner_run", "created_at"}


def load_refiner(
    run_dir: str | Path, checkpoint: str | Path | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, RefinerConfig, dict]:
    """(G_AB in eval mode, its config, info) from a run folder's checkpoint (default its last one)."""
    run_dir = Path(run_dir)
    try:
        ckpt = Path(checkpoint) if checkpoint else RunFolder(run_dir).require_checkpoint("last")
    except RunFolderError as exc:
        raise RefineError(str(exc)) from None
    state = load_checkpoint(ckpt, map_location=device)
    config = RefinerConfig.from_dict(state["config"])
    net = build_generator(config.generator, config.ngf)
    try:
        net.load_state_dict(state["G_AB"])
    except RuntimeError as exc:
        raise RefineError(
            f"{ckpt}: G_AB weights do not fit {config.generator} ngf={config.ngf} ({exc})"
        ) from exc
    info = {
        "run_dir": str(run_dir.resolve()),
        "checkpoint": str(ckpt.resolve()),
        "iteration": int(state["iteration"]),
        "model": config.model,
    }
    return net.to(device).eval(), config, info


def _copy_file(src: Path, dst: Path) -> None:
    if dst.is_file():
        return
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _copy_tree(src: Path, dst: Path) -> None:
    if not src.is_dir():
        return
    for p in sorted(src.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            _copy_file(p, dst / p.relative_to(src))


def _save_image(img: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".jpg":
            img.save(tmp, format="JPEG", quality=95)
        else:
            img.save(tmp, format="PNG")


def _prepare(out: Path, source: Dataset, info: dict) -> None:
    marker = {
        "parent": {"name": source.name, "path": str(source.root.resolve())},
        "refiner_run": {k: info[k] for k in ("run_dir", "checkpoint")},
    }
    claim_derived_folder(out, MARKER, marker, "apply", "refined", "source/refiner")


def apply(
    run_dir: str | Path,
    source: str | Path,
    out_dir: str | Path | None = None,
    name: str | None = None,
    checkpoint: str | Path | None = None,
    batch_size: int = 16,
    device: str | None = "auto",
    num_workers: int = 0,
    progress: bool = True,
) -> Path:
    """Translate every image of ``source`` with the run's G_AB into a new dataset; returns its folder.

    ``out_dir`` defaults to ``<source parent>/<name>``; ``name`` defaults to the folder name.
    A finished output with the same parent and run is returned as is.
    """
    if batch_size <= 0:
        raise RefineError(f"batch_size: expected a positive integer, got {batch_size!r}")
    src = Dataset(source)
    if out_dir is None:
        if name is None:
            raise RefineError("apply: give out_dir or name")
        out_dir = src.root.parent / check_dataset_name(name)
    out = Path(out_dir)
    name = check_dataset_name(name or out.name)
    dev = pick_device(device)
    net, config, info = load_refiner(run_dir, checkpoint, dev)
    if (out / "manifest.json").is_file():
        done = Dataset(out).manifest
        if (
            done.get("kind") == "refined"
            and done.get("parent", {}).get("path") == str(src.root.resolve())
            and done.get("refiner_run", {}).get("checkpoint") == info["checkpoint"]
        ):
            return out
        raise DatasetError(f"{out}: a different dataset already exists there; choose another name")
    _prepare(out, src, info)

    records = src.records()
    todo = [r for r in records if not (out / r.image).is_file()]
    log.info("apply: %d of %d images to translate into %s", len(todo), len(records), out)
    h, w = config.size
    use_amp = dev.type == "cuda" and config.amp

    loader = torch.utils.data.DataLoader(
        _Crops(src.root, todo, (h, w)),
        batch_size=batch_size,
        shuffle=False,
        collate_fn=_collate,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
    )
    with tqdm(total=len(todo), desc=f"apply {name}", unit="img", disable=not progress) as bar:
        for idx, sizes, x in loader:
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                y = net(x.to(dev, non_blocking=True)).float().cpu()
            recs = [todo[i] for i in idx]
            for rec, size, t in zip(recs, sizes, y, strict=True):
                img = to_image(t)
                if img.size != size:
                    img = img.resize(size, Image.Resampling.BICUBIC)
                _save_image(img, out / rec.image)
            bar.update(len(recs))

    _copy_tree(src.root / "masks", out / "masks")
    _copy_tree(src.root / "meta", out / "meta")
    if (src.root / "labels.jsonl").is_file():
        _copy_file(src.root / "labels.jsonl", out / "labels.jsonl")
    manifest = {k: v for k, v in src.manifest.items() if k not in _SKIP_MANIFEST_KEYS}
    manifest.update(
        {
            "name": name,
            "kind": "refined",
            "parent": {"name": src.name, "path": str(src.root.resolve())},
            "refiner_run": info,
            "splits": src.splits,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "software": {
                **(sw if isinstance(sw := src.manifest.get("software"), dict) else {}),
                "torch": torch.__version__,
            },
        }
    )
    write_manifest(out, manifest)
    (out / MARKER).unlink(missing_ok=True)
    return out


class _Crops(torch.utils.data.Dataset):
    """Item i = (i, original (width, height), (3, H, W) tensor resized to the model size)."""

    def __init__(self, root: Path, records: list, size: tuple[int, int]):
        self.root, self.records, self.size = root, records, size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        img = load_rgb(self.root / self.records[i].image)
        h, w = self.size
        return i, img.size, to_tensor(img.resize((w, h), Image.Resampling.BICUBIC))


def _collate(items):
    return [i[0] for i in items], [i[1] for i in items], torch.stack([i[2] for i in items])
