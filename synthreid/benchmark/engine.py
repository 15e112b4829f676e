"""Training and evaluation loops: softmax re-ID training with per-epoch validation, checkpoints,
resume, finetuning and mixed datasets (sub-sampled, weighted: see ``mixing``); feature
extraction and testing. Losses: ``losses`` (ce, label smoothing, symmetric cross-entropy).

Open-ReID's softmax defaults: SGD with Nesterov momentum 0.9, lr 0.1, weight decay 5e-4,
lr x0.1 every 60 epochs (inception; 40 for resnet50), random-sized rect crops + flips.
On CUDA the loop uses AMP (float16 autocast + GradScaler) and channels-last tensors.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from synthreid.benchmark import augment, data, losses, mixing, models, protocols, recipes, runs
from synthreid.benchmark.datasets import ReidDataset, read_dataset
from synthreid.cliutil import available_cores, default_loader_workers
from synthreid.errors import SynthreidError
from synthreid.runfolder import Progress, RunFolder

log = logging.getLogger(__name__)

RESUMABLE = runs.RESUMABLE


@dataclass
class TrainConfig:
    """A training run. Dataset entries are paths; formats None = detect."""

    train: list[str]
    val: str
    test: list[str] = field(default_factory=list)
    protocol: str = "thesis"
    train_format: str | None = None
    val_format: str | None = None
    test_format: str | None = None
    arch: str = "inception"
    weights: str | None = None  # resnet50 initial weights file (state_dict)
    height: int | None = None  # input size; None = the arch's default (models.INPUT_SIZE)
    width: int | None = None
    num_features: int = 128
    dropout: float = 0.5
    norm: bool = False
    epochs: int = 50
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    step_size: int | None = None  # None = 60 (inception) / 40 (others)
    gamma: float = 0.1
    loss: str = "ce"  # ce | ls (label smoothing) | sce (symmetric cross-entropy)
    label_smoothing: float = 0.0  # ε of 'ls'; > 0 with loss 'ce' means 'ls' (older spelling)
    sce_alpha: float = 0.1  # SCE = α·CE + β·RCE
    sce_beta: float = 1.0
    train_ids: list | None = None  # per --train (or one for all): identities kept, None = all
    train_images_per_id: list | None = None  # per --train: images kept per identity, None = all
    mix_ratio: list | None = None  # per --train: expected fraction of each batch; None = by size
    finetune_from: str | None = None  # a run directory; its best.pt initialises the feature network
    finetune_lr_mult: float = 0.1  # lr multiplier of the feature network when finetuning
    val_ids: int = 100
    draws: int = 10
    eval_feature: str = "embedding"  # 'embedding' or 'logits' (what Open-ReID's example used)
    seed: int = 0
    split_id: int = 0
    skip_bad: bool = False
    workers: int = field(default_factory=lambda: default_loader_workers(4))  # <= cores - 1
    device: str = "auto"
    threads: int | None = None  # torch CPU threads; None = all cores
    amp: bool = True
    channels_last: bool = True
    # Recipe options (recipes.RECIPES; the defaults are the thesis recipe)
    recipe: str = "thesis"  # the preset these values started from (recipes.apply)
    neck: str = "fc"  # fc (Open-ReID embedding) | bn (BN-neck, models.Head)
    optimizer: str = "sgd"  # sgd (Nesterov when momentum > 0) | adam | adamw
    schedule: str = "step"  # step (x gamma every step_size epochs) | cosine
    warmup_epochs: int = 0  # linear lr warm-up (recipes.lr_factor)
    random_erasing: float = 0.0  # probability per training image (augment.Augment)
    color_jitter: float = 0.0  # brightness/contrast/saturation strength, 0-1
    in_memory: bool = False  # decode train/val images once; crop+flip on batches
    triplet_weight: float = 0.0  # + weight x batch-hard triplet loss (0 = softmax only)
    triplet_margin: float = 0.3
    instances_per_id: int = 0  # K images per identity in a batch (P x K sampler; 0 = shuffle)
    cpu_bf16: bool = False  # bfloat16 autocast on CPU (see docs/benchmark.md for speed)
    cpu_channels_last: bool = False  # channels-last tensors on CPU (faster for OSNet: docs/benchmark.md)

    def __post_init__(self):
        if self.loss == "ce" and self.label_smoothing > 0:
            self.loss = "ls"
        elif self.loss == "ls" and self.label_smoothing == 0:
            self.label_smoothing = 0.1

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SynthreidError(f"config: unknown fields {unknown}")
        return cls(**d)

    @property
    def size(self) -> tuple[int, int]:
        h, w = models.INPUT_SIZE.get(self.arch, (144, 56))
        return (self.height or h, self.width or w)

    def validate(self) -> None:
        checks = [
            ("epochs", self.epochs >= 1),
            ("batch_size", self.batch_size >= 1),
            ("lr", self.lr > 0),
            ("train", bool(self.train)),
            ("protocol", self.protocol in protocols.PROTOCOLS),
            ("eval_feature", self.eval_feature in ("embedding", "logits")),
            ("label_smoothing", 0 <= self.label_smoothing < 1),
            ("workers", self.workers >= 0),
            ("loss", self.loss in losses.LOSSES),
            ("sce_alpha", self.sce_alpha >= 0),
            ("sce_beta", self.sce_beta >= 0),
            ("sce_alpha", self.sce_alpha + self.sce_beta > 0),
            ("recipe", self.recipe in recipes.RECIPES),
            ("neck", self.neck in models.NECKS),
            ("optimizer", self.optimizer in recipes.OPTIMIZERS),
            ("schedule", self.schedule in recipes.SCHEDULES),
            ("warmup_epochs", 0 <= self.warmup_epochs < self.epochs),
            ("random_erasing", 0 <= self.random_erasing <= 1),
            ("color_jitter", 0 <= self.color_jitter < 1),
            ("triplet_weight", self.triplet_weight >= 0),
            ("triplet_margin", self.triplet_margin >= 0),
            ("instances_per_id", self.instances_per_id >= 0),
            ("batch_size", self.instances_per_id == 0 or self.batch_size % self.instances_per_id == 0),
        ]
        for name, ok in checks:
            if not ok:
                raise SynthreidError(f"config: invalid {name}={getattr(self, name)!r}")
        if self.arch not in models.REGISTRY:
            raise SynthreidError(f"config: unknown arch {self.arch!r}; valid: {', '.join(models.names())}")
        n = len(self.train)
        if len({str(Path(p).resolve()) for p in self.train}) != n:
            raise SynthreidError(
                f"config: train lists a dataset twice {self.train} (its identities would get "
                "two labels; use --train-ids/--mix-ratio to weight it)"
            )
        for name in ("train_ids", "train_images_per_id"):
            for v in mixing.per_dataset(getattr(self, name), n, name):
                if v is not None and (not isinstance(v, int) or v < 1):
                    raise SynthreidError(f"config: invalid {name} value {v!r} (a positive count or all)")
        if self.mix_ratio is not None:
            mixing.normalise_ratio(self.mix_ratio, n)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def setup_threads(threads: int | None) -> None:
    """torch CPU threads: ``threads``, or every core this process may use."""
    torch.set_num_threads(threads or available_cores())


def _read(path, fmt, cfg: TrainConfig) -> ReidDataset:
    return read_dataset(
        path, fmt, skip_bad=cfg.skip_bad, seed=cfg.seed, split_id=cfg.split_id, num_val=cfg.val_ids
    )


def training_set(cfg: TrainConfig):
    """Records, contiguous labels and dataset index of all (sub-sampled) training datasets.

    Every dataset gets its own label range, so identities are never shared across datasets
    (even when two datasets number their people alike). Returns (records, labels, sources, info).
    """
    records, labels, sources, info = [], [], [], []
    offset = 0
    n = len(cfg.train)
    ids_per = mixing.per_dataset(cfg.train_ids, n, "train_ids")
    ipi_per = mixing.per_dataset(cfg.train_images_per_id, n, "train_images_per_id")
    ratio = mixing.normalise_ratio(cfg.mix_ratio, n) if cfg.mix_ratio is not None else None
    for d, path in enumerate(cfg.train):
        ds = _read(path, cfg.train_format, cfg)
        train = mixing.subsample(ds.train, ids_per[d], ipi_per[d], cfg.seed, d)
        pids = sorted({r.pid for r in train})
        if not pids:
            raise SynthreidError(f"{path}: no training images")
        relabel = {p: offset + i for i, p in enumerate(pids)}
        offset += len(pids)
        records += train
        labels += [relabel[r.pid] for r in train]
        sources += [d] * len(train)
        info.append(
            {
                "path": str(path),
                "format": ds.format,
                "images": len(train),
                "ids": len(pids),
                "available_images": len(ds.train),
                "mix_fraction": ratio[d] if ratio else None,
            }
        )
        log.info("train: %s; using %d images of %d ids", ds.summary(), len(train), len(pids))
    return records, labels, sources, info


@torch.no_grad()
def extract_features(
    model: nn.Module,
    records,
    size,
    device,
    batch_size=256,
    workers=0,
    feature="embedding",
    amp=True,
    channels_last=False,
    progress=True,
    images: data.MemoryImages | None = None,
    cpu_bf16: bool = False,
) -> np.ndarray:
    """Features (N, D) float32 of ``records`` in order (eval mode, plain resize); ``images``: the
    same records already decoded (then ``records`` is not read)."""
    ds = images if images is not None else data.ReidImages(records, [0] * len(records), size, train=False)
    loader = data.make_loader(ds, batch_size, workers, pin_memory=device.type == "cuda")
    was_training = model.training
    model.eval()
    out = []
    use_amp = amp and device.type == "cuda"
    for x, _, _ in tqdm(loader, desc="features", unit="batch", disable=not progress, leave=False):
        with _autocast(device, use_amp, cpu_bf16):
            f, logits = model(data.normalize(x, device, channels_last))
        out.append((logits if feature == "logits" else f).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def _autocast(device: torch.device, cuda_amp: bool, cpu_bf16: bool):
    """float16 autocast on CUDA (AMP), bfloat16 on CPU when asked for, else a no-op context."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16, enabled=cuda_amp)
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16)


class Trainer:
    """One training run in ``run_dir`` (created or resumed)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, progress: bool = True):
        cfg.validate()
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(self.run_dir)
        self.progress = progress
        # folders this start creates (the run and missing parents): a failed first start removes them
        self._new_dirs = [d for d in (self.run_dir, *self.run_dir.parents) if not d.exists()]
        self.device = pick_device(cfg.device)
        setup_threads(cfg.threads)
        self._check_config()  # refuse a mismatching existing run before any work
        self.records, self.labels, self.sources, self.train_info = training_set(cfg)
        self.num_classes = max(self.labels) + 1
        if self.num_classes < 2:
            raise SynthreidError(
                f"{', '.join(cfg.train)}: training needs >= 2 identities, got {self.num_classes}"
            )
        val_ds = _read(cfg.val, cfg.val_format, cfg)
        if not val_ds.val:
            raise SynthreidError(f"{cfg.val}: no validation identities")
        self.val_records = val_ds.val
        protocols.check_validation_set(self.val_records, cfg.val)
        self.val_draw = protocols.thesis_draws(self.val_records, cfg.val_ids, 1, cfg.seed)[0]
        self.val_ids = len(self.val_draw[0])
        for test in cfg.test:  # refuse test sets the protocol cannot score before any training
            for note in protocols.check_test_set(cfg.protocol, _read(test, cfg.test_format, cfg)):
                log.warning("%s", note)
        torch.manual_seed(cfg.seed)
        self.model = models.build(
            cfg.arch,
            self.num_classes,
            cfg.num_features,
            cfg.dropout,
            cfg.norm,
            weights=cfg.weights,
            neck=cfg.neck,
        )
        if cfg.finetune_from:
            self._load_finetune(cfg.finetune_from)
        self.model.to(self.device)
        self.channels_last = (
            cfg.channels_last
            and self.device.type == "cuda"
            or cfg.cpu_channels_last
            and self.device.type == "cpu"
        )
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer, self.scheduler = self._optim()
        self.amp = cfg.amp and self.device.type == "cuda"
        self.cpu_bf16 = cfg.cpu_bf16 and self.device.type == "cpu"
        self.val_images: data.MemoryImages | None = None  # decoded once when cfg.in_memory (see _train)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.start_epoch, self.best_score, self.best_epoch = 0, -1.0, -1
        self.history: list[dict] = []
        if self.folder.find_checkpoint("last") is not None:
            self._resume()
        self._write_config()  # only once data, model and checkpoint all loaded
        self.folder.set_progress(Progress(self.start_epoch, cfg.epochs, "epoch"))  # shown from the start

    def _check_config(self):
        path = self.run_dir / "config.json"
        new = asdict(self.cfg)
        if path.is_file():
            try:  # fills fields an older run did not have with their defaults
                old = asdict(TrainConfig.from_dict(runs.load_config(self.run_dir)))
            except (TypeError, SynthreidError) as exc:
                raise runs.RunError(f"{path}: not a single training run ({exc})") from exc
            diff = sorted(k for k in new if k not in RESUMABLE and old.get(k) != new[k])
            if diff:
                raise runs.RunError(f"{path}: run exists with different settings {diff}; use a new run dir")

    def _write_config(self):
        self.folder.write_config(asdict(self.cfg))

    def _load_finetune(self, src_run: str):
        path = runs.checkpoint_path(src_run, "best")
        state = runs.load_checkpoint(path)
        src_arch = state.get("arch")
        if src_arch != self.cfg.arch:
            raise runs.RunError(f"{path}: arch {src_arch!r} differs from {self.cfg.arch!r}")
        feats = {k: v for k, v in state["model"].items() if not k.startswith("head.classifier.")}
        missing, unexpected = self.model.load_state_dict(feats, strict=False)
        bad = [k for k in missing if not k.startswith("head.classifier.")] + list(unexpected)
        if bad:
            raise runs.RunError(f"{path}: incompatible weights (e.g. {bad[:3]})")
        self.model.head.reset_classifier(self.num_classes)  # new identities, fresh classifier
        log.info("finetuning from %s (feature lr x%g)", src_run, self.cfg.finetune_lr_mult)

    def _optim(self):
        cfg = self.cfg
        cls_params = list(cast(nn.Module, self.model.head.classifier).parameters())  # training: always there
        feat_mult = cfg.finetune_lr_mult if cfg.finetune_from else 1.0
        groups = [
            {"params": self.model.feature_parameters(), "lr": cfg.lr * feat_mult},
            {"params": cls_params, "lr": cfg.lr},
        ]
        opt: torch.optim.Optimizer
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(
                groups,
                lr=cfg.lr,
                momentum=cfg.momentum,
                weight_decay=cfg.weight_decay,
                nesterov=cfg.momentum > 0,
            )
        elif cfg.optimizer == "adam":
            opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        step = cfg.step_size or (60 if cfg.arch == "inception" else 40)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda e: recipes.lr_factor(e, cfg.epochs, cfg.schedule, cfg.warmup_epochs, step, cfg.gamma)
        )
        return opt, sched

    def _state(self, epoch: int) -> dict:
        return {
            "arch": self.cfg.arch,
            "num_classes": self.num_classes,
            "config": asdict(self.cfg),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def _resume(self):
        path = runs.checkpoint_path(self.run_dir, "last")
        st = runs.load_checkpoint(path, required=("model", "optimizer", "scheduler", "epoch", "torch_rng"))
        try:
            self.model.load_state_dict(st["model"])
            self.optimizer.load_state_dict(st["optimizer"])
            self.scheduler.load_state_dict(st["scheduler"])
            self.scaler.load_state_dict(st.get("scaler", {}))
        except (RuntimeError, ValueError, KeyError) as exc:
            raise runs.RunError(f"{path}: checkpoint does not fit this run ({exc})") from exc
        torch.set_rng_state(st["torch_rng"])
        if st.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        self.start_epoch = st["epoch"]
        self.best_score, self.best_epoch = st["best_score"], st["best_epoch"]
        self.history = list(st.get("history", []))
        log.info("resuming %s at epoch %d", self.run_dir, self.start_epoch)

    def _features(self, records):
        images = self.val_images if records is self.val_records else None
        return extract_features(
            self.model,
            records,
            self.cfg.size,
            self.device,
            self.cfg.batch_size,
            0 if images is not None else self.cfg.workers,
            self.cfg.eval_feature,
            self.amp,
            self.channels_last,
            self.progress,
            images,
            self.cpu_bf16,
        )

    def train(self) -> dict:
        """Train until ``cfg.epochs``; returns the last history row (or {} if already done).

        A run folder this start created is removed again when training fails before its first
        checkpoint (nothing to resume; a later start with other settings is not refused)."""
        try:
            return self._train()
        except BaseException:
            if self._new_dirs and self.folder.find_checkpoint("last") is None:
                shutil.rmtree(self.run_dir, ignore_errors=True)
                for d in self._new_dirs[1:]:  # parents only while empty (another run may have started there)
                    try:
                        d.rmdir()
                    except OSError:
                        break
            raise

    def _train_data(
        self,
    ) -> tuple[
        data.MemoryImages | data.ReidImages, mixing.MixSampler | data.IdentitySampler | data.SeededSampler
    ]:
        """The training images (decoded up front when ``cfg.in_memory``) and their sampler."""
        cfg = self.cfg
        ds: data.MemoryImages | data.ReidImages
        if cfg.in_memory:  # decode once; crop + flip then happen on whole batches (augment)
            ds = data.MemoryImages(self.records, self.labels, cfg.size, self.progress, "decode train")
            self.val_images = data.MemoryImages(
                self.val_records, [0] * len(self.val_records), cfg.size, self.progress, "decode val"
            )
        else:
            ds = data.ReidImages(self.records, self.labels, cfg.size, train=True)
        if cfg.mix_ratio is not None:
            return ds, mixing.MixSampler(self.sources, cfg.mix_ratio, cfg.seed)
        if cfg.instances_per_id > 0:
            return ds, data.IdentitySampler(self.labels, cfg.instances_per_id, cfg.seed)
        return ds, data.SeededSampler(len(ds), cfg.seed)

    def _train(self) -> dict:
        cfg = self.cfg
        ds, sampler = self._train_data()
        aug = augment.Augment(crop=cfg.in_memory, color_jitter=cfg.color_jitter, erasing=cfg.random_erasing)
        workers = 0 if cfg.in_memory else cfg.workers
        loader = data.make_loader(
            ds,
            min(cfg.batch_size, len(ds)),
            workers,
            sampler=sampler,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
        )
        criterion = losses.make_criterion(cfg.loss, cfg.label_smoothing, cfg.sce_alpha, cfg.sce_beta)
        triplet = losses.TripletLoss(cfg.triplet_margin) if cfg.triplet_weight > 0 else None
        row = {}
        log.info(
            "validation: %d identities, one query and one gallery image each; val rank-1 and mAP in %%, "
            "score = area under the CMC over ranks 1-100 (101 - mean rank of the true match, 100 = "
            "perfect; selects best.pt)",
            self.val_ids,
        )
        if self.val_ids < protocols.FEW_VAL_IDS:
            log.warning("%s", protocols.few_val_ids_note(self.val_ids))
        for epoch in range(self.start_epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            self.model.train()
            t0, tot_loss, correct, seen = time.perf_counter(), 0.0, 0, 0
            bar = tqdm(
                loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not self.progress
            )
            for step, (x, y, _) in enumerate(bar):
                g = augment.batch_generator(cfg.seed, epoch, step)
                x = data.to_float(x, self.device)
                if aug.pixel_ops:
                    x = augment.pixels(x, aug, g)
                x = augment.normalised(data.standardize(x, self.channels_last), aug, g)
                y = y.to(self.device, non_blocking=True)
                with _autocast(self.device, self.amp, self.cpu_bf16):
                    feat, logits = self.model(x)
                    loss = criterion(logits.float(), y)
                    if triplet is not None:
                        loss = loss + cfg.triplet_weight * triplet(feat.float(), y)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                tot_loss += float(loss.detach()) * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
                bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
            lr = self.optimizer.param_groups[-1]["lr"]
            self.scheduler.step()
            feats = self._features(self.val_records)
            val = protocols.validation_metrics(feats, self.val_records, self.val_draw)
            score = val["val_score"]
            row = {
                "epoch": epoch + 1,
                "loss": tot_loss / max(seen, 1),
                "acc": correct / max(seen, 1),
                "val_score": score,
                "val_rank1": val["val_rank1"],
                "val_mAP": val["val_mAP"],
                "lr": lr,
                "images_per_s": seen / (time.perf_counter() - t0),
            }
            self.history.append(row)
            if score > self.best_score:
                self.best_score, self.best_epoch = score, epoch + 1
                runs.save_checkpoint(self.folder.checkpoint("best"), self._state(epoch + 1))
                self.folder.retire_legacy_checkpoints("best")
            runs.save_checkpoint(self.folder.checkpoint("last"), self._state(epoch + 1))
            self.folder.retire_legacy_checkpoints("last")
            runs.write_val_curve(self.run_dir, self.history, self.val_ids)
            self.folder.write_state(
                Progress(epoch + 1, cfg.epochs, "epoch"),
                epochs_done=epoch + 1,
                best_epoch=self.best_epoch,
                best_score=self.best_score,
                num_classes=self.num_classes,
                val_ids=self.val_ids,
                train=self.train_info,
            )
            log.info(
                "epoch %d: loss %.3f acc %.3f | val rank-1 %.1f%% mAP %.1f%% score %.2f (best %.2f @ %d)",
                epoch + 1,
                row["loss"],
                row["acc"],
                val["val_rank1"],
                val["val_mAP"],
                score,
                self.best_score,
                self.best_epoch,
            )
        return row


def load_model(run_dir: str | Path, which: str = "best") -> tuple[nn.Module, dict]:
    """The model of a run's ``best`` (or ``last``) checkpoint on CPU, and its checkpoint dict."""
    path = runs.checkpoint_path(run_dir, which)
    st = runs.load_checkpoint(path, required=("model", "arch", "num_classes", "config"))
    c = st["config"]
    model = models.build(
        st["arch"], st["num_classes"], c["num_features"], c["dropout"], c["norm"], neck=c.get("neck", "fc")
    )
    try:
        model.load_state_dict(st["model"])
    except RuntimeError as exc:
        raise runs.RunError(f"{path}: weights do not fit {st['arch']} ({exc})") from exc
    return model, st


def evaluate_run(
    run_dir: str | Path,
    test: str,
    protocol: str | None = None,
    fmt: str | None = None,
    device: str = "auto",
    workers: int | None = None,
    progress: bool = True,
    threads: int | None = None,
) -> dict:
    """Evaluate a run's best model on dataset ``test``; the result is added to metrics.json under
    ``FOLDER:PROTOCOL`` (the test set's folder name, as given on the command line)."""
    model, st = load_model(run_dir)
    cfg = TrainConfig.from_dict(st["config"])
    protocol = protocol or cfg.protocol
    dev = pick_device(device)
    setup_threads(threads or cfg.threads)
    ds = _read(test, fmt, cfg)
    for note in protocols.check_test_set(protocol, ds):
        log.warning("%s", note)
    model.to(dev)
    amp = cfg.amp and dev.type == "cuda"
    cpu_cl = cfg.cpu_channels_last and dev.type == "cpu"
    if cpu_cl:
        model.to(memory_format=torch.channels_last)

    def extract(records):
        return extract_features(
            model,
            records,
            cfg.size,
            dev,
            cfg.batch_size,
            cfg.workers if workers is None else workers,
            cfg.eval_feature,
            amp,
            cpu_cl,
            progress,
            cpu_bf16=cfg.cpu_bf16 and dev.type == "cpu",
        )

    res = protocols.evaluate(protocol, ds, extract, seed=cfg.seed, draws=cfg.draws, num_ids=100)
    name = test_name(test, ds)
    res.update({"test": str(test), "dataset": name, "best_epoch": st.get("best_epoch")})
    runs.write_results(Path(run_dir), f"{name}:{res['protocol']}", res)
    return res


def test_name(path: str | Path, ds: ReidDataset) -> str:
    """A test set's name in results: its folder's name (a CUHK03-NP root adds the variant it read)."""
    return ds.name if ds.format == "cuhk03np" else Path(path).resolve().name


def run_training(cfg: TrainConfig, run_dir: str | Path, progress: bool = True) -> dict:
    """Train (or resume) a run, then test its best model on every ``cfg.test`` dataset.

    The run's files are its whole record: a farm worker that ran it as a gpu task records it in
    the catalog (this package never imports the farm)."""
    trainer = Trainer(cfg, run_dir, progress)
    trainer.train()
    results = {}
    for test in cfg.test:
        results[test] = evaluate_run(
            run_dir, test, cfg.protocol, cfg.test_format, cfg.device, progress=progress
        )
    return results
