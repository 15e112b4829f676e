"""The steps of a study and how each one runs: render, refine, train, evaluate, and baselines.

:func:`plan` turns a :class:`~synthreid.study.spec.StudySpec` into an ordered list of
:class:`Step` values (inputs before the steps that read them), each with its cache key.
:func:`execute` runs one step inside its cache folder through the project's own code: renders
through :func:`synthreid.workers.embedded.render_dataset` (the executor of ``synthreid render``),
refiners through ``synthreid.refine``, training through the benchmark's ``Trainer`` and scores
through its protocols. Every step can be interrupted and run again: each of those resumes
from what it left in the folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from synthreid.errors import SynthreidError
from synthreid.study.cache import StepCache, step_key
from synthreid.study.fingerprint import FingerprintMemo
from synthreid.study.spec import ArmKind, ArmSpec, StudySpec, TestSetSpec

log = logging.getLogger(__name__)

# Training fields that change nothing in the trained model (left out of the cache key).
NON_RESULT_FIELDS = {"workers", "device", "threads", "test", "test_format"}
WORK_STAGES = ("render", "refine", "degrade", "train", "evaluate")
BASELINE_STAGES = ("chance", "untrained", "handcrafted")


class StudyError(SynthreidError):
    """A study step failed; the message names the step (stage, arm) and why."""


@dataclass(frozen=True)
class Data:
    """A training set as the trainer reads it: folder, format and content key."""

    path: str
    format: str
    key: str
    train_images: int  # images of its training split (estimate before a render exists)
    step: tuple[str, str] | None = None  # (stage, key) of the step that makes it; None: a folder


@dataclass(frozen=True)
class Step:
    """One cached unit of work. ``units``: images it processes (for images/s and the ETA);
    ``after``: (stage, key) of the steps whose output it reads."""

    stage: str
    arm: str
    key: str
    units: float
    seed: int | None = None
    test: str | None = None
    params: dict = field(default_factory=dict, compare=False)
    role: str = "arm"  # arm | anchor | baseline
    after: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def label(self) -> str:
        parts = [self.stage, f"arm {self.arm}" if self.role != "baseline" else f"baseline {self.arm}"]
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        if self.test is not None:
            parts.append(f"on {self.test}")
        return " · ".join(parts)


def _count_train_images(path: str, fmt: str) -> int:
    from synthreid.benchmark.datasets import read_dataset

    return len(read_dataset(path, fmt).train)


def _count_test_images(ts: TestSetSpec) -> int:
    from synthreid.benchmark.datasets import read_dataset

    ds = read_dataset(ts.path, ts.format)
    return len(ds.test_pool()) if ts.protocol == "thesis" else len(ds.query) + len(ds.gallery)


def train_config_dict(recipe: dict, data: list[Data], ratio, seed: int) -> dict:
    """TrainConfig fields of one training run (datasets, seed and mixing set by the study)."""
    formats = {d.format for d in data}
    cfg = {
        **recipe,
        "train": [d.path for d in data],
        "val": data[0].path,
        "seed": seed,
        "train_format": formats.pop() if len(formats) == 1 else None,
        "val_format": data[0].format,
    }
    if ratio:
        cfg["mix_ratio"] = list(ratio)
    return cfg


def _resolved_recipe(recipe: dict) -> dict:
    """Every TrainConfig field the recipe resolves to (defaults included), minus paths and the
    fields that do not change the model: a changed default changes the key."""
    from dataclasses import asdict

    from synthreid.benchmark.engine import TrainConfig

    cfg = asdict(TrainConfig.from_dict({**recipe, "train": ["-"], "val": "-"}))
    return {k: v for k, v in cfg.items() if k not in NON_RESULT_FIELDS | {"train", "val"}}


class Planner:
    """Builds the ordered steps of a study (see :func:`plan`)."""

    def __init__(self, spec: StudySpec, cache: StepCache, memo: FingerprintMemo):
        self.spec, self.cache, self.memo = spec, cache, memo
        self.steps: list[Step] = []
        self._seen: set[tuple] = set()
        self.data: dict[str, list[Data]] = {}
        self.test_keys = {t.name: self.memo.folder(t.path) for t in spec.test_sets}
        self.test_sizes = {t.name: _count_test_images(t) for t in spec.test_sets}

    def add(self, step: Step) -> Step:
        """Append a step (once per arm, seed and test set; arms sharing a step's key share its work)."""
        sig = (step.stage, step.key, step.arm, step.seed, step.test)
        if sig not in self._seen:
            self._seen.add(sig)
            self.steps.append(step)
        return step

    def arm_data(self, arm: ArmSpec) -> Data:
        if arm.kind is ArmKind.DATASET:
            return Data(
                arm.path, arm.format, self.memo.folder(arm.path), _count_train_images(arm.path, arm.format)
            )
        spec = arm.render
        images = spec["characters"] * spec["images_per_character"]
        rkey = step_key("render", {"spec": spec})
        folder = self.cache.folder("render", rkey) / "dataset"
        role = "anchor" if arm.anchor else "arm"
        self.add(
            Step(
                "render",
                arm.name,
                rkey,
                images,
                role=role,
                params={"spec": spec, "workers": arm.render_workers, "reuse": list(arm.reuse)},
            )
        )
        train_images = (spec["characters"] - spec["splits"]["val"]) * spec["images_per_character"]
        if arm.refine is None:
            data = Data(str(folder), "synthreid", rkey, train_images, ("render", rkey))
            return self._degraded(arm, data, images, role)
        rf = arm.refine
        fields = rf.config_fields()
        fkey = step_key("refine", {"source": rkey, "target": self.memo.folder(rf.target), "config": fields})
        ffolder = self.cache.folder("refine", fkey)
        batch = int(fields.get("batch_size", 1))
        self.add(
            Step(
                "refine",
                arm.name,
                fkey,
                rf.iters * batch,
                params={"source": str(folder), "target": rf.target, "config": fields, "images": images},
                role=role,
                after=(("render", rkey),),
            )
        )
        return self._degraded(
            arm,
            Data(str(ffolder / "dataset"), "synthreid", fkey, train_images, ("refine", fkey)),
            images,
            role,
        )

    def _degraded(self, arm: ArmSpec, data: Data, images: int, role: str) -> Data:
        """``data`` itself, or with the arm's camera model applied (a cached 'degrade' step)."""
        if arm.degrade is None:
            return data
        d = arm.degrade
        dkey = step_key("degrade", {"source": data.key, "camera_model": d.camera_model, "seed": d.seed})
        self.add(
            Step(
                "degrade",
                arm.name,
                dkey,
                images,
                role=role,
                params={
                    "source": data.path,
                    "camera_model": d.camera_model,
                    "seed": d.seed,
                    "preset": d.preset,
                },
                after=(data.step,) if data.step else (),
            )
        )
        return Data(
            str(self.cache.folder("degrade", dkey) / "dataset"),
            "synthreid",
            dkey,
            data.train_images,
            ("degrade", dkey),
        )

    def plan(self) -> list[Step]:
        spec = self.spec
        self._baselines()
        # mixes last, so that their parts' steps are planned (and timed) under the parts' own arms
        for arm in sorted(spec.arms, key=lambda a: a.kind is ArmKind.MIX):
            if arm.kind is ArmKind.MIX:
                data = [d for p in arm.parts for d in self.data[p]]
            else:
                data = [self.arm_data(arm)]
            self.data[arm.name] = data
            recipe = spec.training_fields(arm)
            resolved = _resolved_recipe(recipe)
            role = "anchor" if arm.anchor else "arm"
            epochs = int(resolved.get("epochs", 1))
            for seed in spec.seeds:
                tkey = step_key(
                    "train",
                    {
                        "data": [[d.key, d.format] for d in data],
                        "ratio": list(arm.ratio),
                        "recipe": resolved,
                        "seed": seed,
                    },
                )
                run_dir = self.cache.folder("train", tkey) / "run"
                cfg = train_config_dict(recipe, data, arm.ratio, seed)
                self.add(
                    Step(
                        "train",
                        arm.name,
                        tkey,
                        epochs * sum(d.train_images for d in data),
                        seed=seed,
                        params={"config": cfg, "run_dir": str(run_dir)},
                        role=role,
                        after=tuple(dict.fromkeys(d.step for d in data if d.step)),
                    )
                )
                for ts in spec.test_sets:
                    ekey = step_key(
                        "evaluate",
                        {
                            "train": tkey,
                            "test": self.test_keys[ts.name],
                            "format": ts.format,
                            "protocol": ts.protocol,
                        },
                    )
                    self.add(
                        Step(
                            "evaluate",
                            arm.name,
                            ekey,
                            self.test_sizes[ts.name],
                            seed=seed,
                            test=ts.name,
                            params={
                                "run_dir": str(run_dir),
                                "test": _test_params(ts),
                                "resources": _resources(recipe),
                            },
                            role=role,
                            after=(("train", tkey),),
                        )
                    )
        return self.steps

    def _baselines(self) -> None:
        spec, b = self.spec, self.spec.baselines
        fields = spec.training_fields()
        recipe = _resolved_recipe(fields)
        for ts in spec.test_sets:
            tkey, n = self.test_keys[ts.name], self.test_sizes[ts.name]
            common = {"test": tkey, "format": ts.format, "protocol": ts.protocol}
            params = {"test": _test_params(ts)}
            if b.chance:
                key = step_key(
                    "chance", {**common, "draws": b.chance_draws, "recipe_draws": recipe.get("draws")}
                )
                self.add(
                    Step(
                        "chance",
                        "chance",
                        key,
                        n * b.chance_draws,
                        test=ts.name,
                        params={**params, "draws": b.chance_draws, "recipe": fields},
                        role="baseline",
                    )
                )
            if b.handcrafted:
                key = step_key("handcrafted", {**common, "recipe_draws": recipe.get("draws")})
                self.add(
                    Step(
                        "handcrafted",
                        "hand-crafted (LOMO-like)",
                        key,
                        n,
                        test=ts.name,
                        params={**params, "recipe": fields},
                        role="baseline",
                    )
                )
            if b.untrained:
                for seed in spec.seeds:
                    key = step_key("untrained", {**common, "recipe": recipe, "seed": seed})
                    self.add(
                        Step(
                            "untrained",
                            f"untrained {recipe.get('arch')}",
                            key,
                            n,
                            seed=seed,
                            test=ts.name,
                            params={**params, "recipe": fields},
                            role="baseline",
                        )
                    )


def _resources(recipe: dict) -> dict:
    """What a run of ``recipe`` occupies (torch threads, loader processes, device); not in the key."""
    return {k: recipe[k] for k in ("threads", "workers", "device") if k in recipe}


def _test_params(ts: TestSetSpec) -> dict:
    return {"name": ts.name, "path": ts.path, "format": ts.format, "protocol": ts.protocol}


def plan(spec: StudySpec, cache: StepCache, memo: FingerprintMemo) -> list[Step]:
    """Every step of ``spec`` in run order: baselines, then arm by arm render, refine, and for
    each seed train and evaluate on every test set."""
    return Planner(spec, cache, memo).plan()


# ---- execution -----------------------------------------------------------------------------------


def warm_up() -> None:
    """Import what training, evaluation and the baselines use (a worker process does it before
    its first step, so that the imports are not timed as that step's work)."""
    import synthreid.benchmark.engine
    import synthreid.benchmark.protocols
    import synthreid.study.baselines  # noqa: F401


def execute(step: Step, folder: Path, progress: bool = True) -> tuple[dict, float]:
    """Run ``step`` in ``folder``; returns (result, images processed by this execution)."""
    fn = {
        "render": _render,
        "refine": _refine,
        "degrade": _degrade,
        "train": _train,
        "evaluate": _evaluate,
        "chance": _chance,
        "untrained": _untrained,
        "handcrafted": _handcrafted,
    }[step.stage]
    return fn(step, folder, progress)


def _repoint(config_json: Path, paths: dict) -> None:
    """Give a half-done run the current locations of its inputs.

    A step's key fixes its inputs' content, not their place: when the data or the study's
    output folder moved since the run started, its config.json is updated so that the run's own
    resume check accepts it.
    """
    from synthreid.fsutil import read_json_object, write_json

    old = read_json_object(config_json)
    if old and any(old.get(k) != v for k, v in paths.items()):
        write_json(config_json, {**old, **paths})


def _render(step: Step, folder: Path, progress: bool):
    from synthreid.render.spec import DatasetSpec
    from synthreid.workers.embedded import render_dataset

    spec = DatasetSpec.from_dict(step.params["spec"])
    reused = sum(
        link_finished_images(spec, folder / "dataset", Path(src)) for src in step.params.get("reuse", [])
    )
    rep = render_dataset(spec, folder / "dataset", workers=step.params.get("workers"), progress=progress)
    if rep.failed:
        first = rep.failed[0]
        raise StudyError(
            f"render of arm {step.arm}: {len(rep.failed)} persons or workers failed (first {first[0]}: "
            f"{first[1]}); run the study again to retry them"
        )
    return (
        {"images": spec.total_images, "rendered": rep.rendered, "reused": reused, "dataset": str(rep.root)},
        rep.rendered,
    )


def _link(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (a copy across file systems); never a half-written ``dst``."""
    import os
    import shutil

    from synthreid.fsutil import atomic_path

    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def link_finished_images(spec, root: Path, source: Path) -> int:
    """Bring the images of ``source`` (a render of ``spec`` under another name or splits) that
    ``root`` lacks into ``root``; returns how many. Each image is checked against its recorded
    checksums first, and its meta row, which marks it finished, is written last."""
    from synthreid.render.output import init_dataset
    from synthreid.render.writer import DatasetWriter

    init_dataset(spec, root)
    ours, theirs = DatasetWriter(root), DatasetWriter(source)
    n = 0
    for meta in sorted((source / "meta").glob("*.json")):
        stem = meta.stem
        if ours.done(stem) or (row := theirs.finished_row(stem)) is None:
            continue
        _link(source / row["image"], root / row["image"])
        _link(source / row["mask"], root / row["mask"])
        _link(meta, root / "meta" / meta.name)
        n += 1
    return n


def _refine(step: Step, folder: Path, progress: bool):
    from synthreid.dataset import Dataset
    from synthreid.refine.apply import apply
    from synthreid.refine.config import RefinerConfig
    from synthreid.refine.train import load_checkpoint, train
    from synthreid.runfolder import RunFolder
    from synthreid.study.targets import flat_image_folder

    p = step.params
    target = flat_image_folder(p["target"], folder / "target")
    cfg = RefinerConfig.from_dict({"source": p["source"], "target": str(target), **p["config"]})
    run = folder / "run"
    _repoint(run / "config.json", {"source": cfg.source, "target": cfg.target})
    before = 0
    last = RunFolder(run).find_checkpoint("last")
    if last is not None:
        before = int(load_checkpoint(last).get("iteration", 0))
    train(cfg, run, progress=progress)
    out = apply(
        run, p["source"], out_dir=folder / "dataset", name=f"refined-{step.key[:12]}", progress=progress
    )
    return (
        {"dataset": str(out), "iters": cfg.iters, "images": len(Dataset(out).records())},
        (cfg.iters - before) * cfg.batch_size,
    )


def _degrade(step: Step, folder: Path, progress: bool):
    from synthreid.dataset import Dataset
    from synthreid.render.camera_model import CameraModelSpec
    from synthreid.render.degrade import degrade_dataset

    p = step.params
    out = folder / "dataset"
    before = len(list((out / "meta").glob("*.json"))) if (out / "meta").is_dir() else 0
    degrade_dataset(
        p["source"],
        out,
        CameraModelSpec.from_dict(p["camera_model"]),
        seed=p["seed"],
        name=f"degraded-{step.key[:12]}",
        preset=p.get("preset"),
        progress=progress,
    )
    n = len(Dataset(out).records())
    return {"dataset": str(out), "images": n}, max(0, n - before)


def _train(step: Step, folder: Path, progress: bool):
    from synthreid.benchmark.engine import TrainConfig, Trainer

    cfg = TrainConfig.from_dict(dict(step.params["config"]))
    _repoint(Path(step.params["run_dir"]) / "config.json", {"train": cfg.train, "val": cfg.val})
    trainer = Trainer(cfg, step.params["run_dir"], progress=progress)
    start = trainer.start_epoch
    trainer.train()
    return (
        {
            "run_dir": step.params["run_dir"],
            "train_images": len(trainer.records),
            "identities": trainer.num_classes,
            "epochs": cfg.epochs,
            "best_epoch": trainer.best_epoch,
            "best_val_score": trainer.best_score,
        },
        (cfg.epochs - start) * len(trainer.records),
    )


def _strip(res: dict) -> dict:
    return {k: v for k, v in res.items() if k not in ("test",)}


def _evaluate(step: Step, folder: Path, progress: bool):
    from synthreid.benchmark.engine import evaluate_run

    t = step.params["test"]
    res = evaluate_run(
        step.params["run_dir"], t["path"], protocol=t["protocol"], fmt=t["format"], progress=progress
    )
    return _strip(res), step.units


def _read_test(t: dict, recipe: dict):
    from synthreid.benchmark.datasets import read_dataset

    return read_dataset(t["path"], t["format"], seed=int(recipe.get("seed", 0)))


def _protocol_kwargs(recipe: dict) -> dict:
    from synthreid.benchmark.engine import TrainConfig

    cfg = TrainConfig.from_dict({**recipe, "train": ["-"], "val": "-"})
    return {"seed": cfg.seed, "draws": cfg.draws}


def _chance(step: Step, folder: Path, progress: bool):
    from synthreid.benchmark import protocols
    from synthreid.study.baselines import average_results, random_extractor

    t = step.params["test"]
    ds = _read_test(t, step.params["recipe"])
    kw = _protocol_kwargs(step.params["recipe"])
    results = [
        protocols.evaluate(t["protocol"], ds, random_extractor(d), **kw) for d in range(step.params["draws"])
    ]
    return average_results(results), step.units


def _handcrafted(step: Step, folder: Path, progress: bool):
    from synthreid.benchmark import protocols
    from synthreid.study.baselines import lomo_features

    t = step.params["test"]
    ds = _read_test(t, step.params["recipe"])
    return protocols.evaluate(
        t["protocol"], ds, lomo_features, **_protocol_kwargs(step.params["recipe"])
    ), step.units


def untrained_model(cfg):
    """The recipe's network with seeded random weights, as the trainer builds it before epoch 1."""
    import inspect

    import torch

    from synthreid.benchmark import models

    # every model option the recipe sets (num_features, dropout, norm, weights, neck, ...) by name
    names = set(inspect.signature(models.build).parameters) - {"name", "num_classes"}
    torch.manual_seed(cfg.seed)
    return models.build(cfg.arch, 0, **{k: getattr(cfg, k) for k in names if hasattr(cfg, k)})


def _untrained(step: Step, folder: Path, progress: bool):
    from synthreid.benchmark import protocols
    from synthreid.benchmark.engine import TrainConfig, extract_features, pick_device, setup_threads

    t = step.params["test"]
    cfg = TrainConfig.from_dict({**step.params["recipe"], "train": ["-"], "val": "-", "seed": step.seed})
    dev = pick_device(cfg.device)
    setup_threads(cfg.threads)
    model = untrained_model(cfg).to(dev)
    ds = _read_test(t, step.params["recipe"])

    def extract(records):
        # an untrained network has no classifier: its embedding is the feature
        return extract_features(
            model,
            records,
            cfg.size,
            dev,
            cfg.batch_size,
            cfg.workers,
            "embedding",
            cfg.amp and dev.type == "cuda",
            False,
            progress,
        )

    return protocols.evaluate(t["protocol"], ds, extract, seed=cfg.seed, draws=cfg.draws), step.units
