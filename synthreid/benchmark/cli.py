"""``synthreid benchmark train|eval|report|export`` (torch is imported inside the commands)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from synthreid.cliutil import default_loader_workers, non_negative_int, positive_int
from synthreid.errors import DatasetError

log = logging.getLogger(__name__)

FORMAT_CHOICES = ("synthreid", "market1501", "cuhk03np", "openreid")
PROTOCOL_HELP = (
    "thesis: 100 test identities, one query and one gallery image each, mean over --draws; "
    "market: Market-1501 standard (all queries, CMC + mAP); cuhk03: classic splits or 767/700"
)
WORKERS_HELP = "data loader processes (0 = load in the main process; min(4, cores - 1) when not given)"


class _GivenStore(argparse.Action):
    """``store`` that also records the option as given (``args.given_options``): a --recipe's
    values apply to every option not given on the command line."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given_options = {*getattr(namespace, "given_options", ()), self.dest}


# TrainConfig field -> option dest, where they differ
_FIELD_DEST = {"num_features": "features", "split_id": "split"}


def _default_run_dir(args, arch: str | None = None) -> Path:
    args.arch = arch or args.arch
    labels = getattr(args, "dataset_labels", {})  # folder -> catalog name, for catalog:NAME datasets
    names = "+".join(labels.get(str(p)) or Path(p).resolve().name for p in args.train)
    tag = "-ft" if args.finetune_from else ""
    return Path("runs") / f"{args.arch}-{names}{tag}-s{args.seed}"


def _count(text: str) -> int | None:
    """A positive count (``cliutil.positive_int``), or ``all`` (None)."""
    if text == "all":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}") from None


def _ratio(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(":", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected weights like 0.7,0.3 or 3:1, got {text!r}") from None
    return values


def _role_format(role: str, values: list, given: str | None, found: dict, option: str) -> str | None:
    """The format of one role's datasets (train, val or test) once catalog:NAME values are folders:
    the option given, else the catalog's format when every dataset of the role is a catalog one,
    else None (detected per folder; the catalog datasets among them must be detected as recorded)."""
    from synthreid.benchmark.datasets import detect_format

    cats = [found[str(v)] for v in values if str(v) in found]
    formats = {c.format for c in cats}
    if not cats:
        return given
    if given:
        for c in cats:
            if c.format != given:
                raise DatasetError(
                    f"{option} {given}: {c.ref} is a {c.format} dataset; leave {option} out "
                    "or give each role its own format"
                )
        return given
    if len(cats) == len(values) and len(formats) == 1:
        return formats.pop()
    for c in cats:
        if detect_format(c.folder) != c.format:
            raise DatasetError(
                f"--{role}: {c.ref} is a {c.format} dataset mixed with folders of other formats; "
                f"give --{role}-format"
            )
    return None


def resolve_catalog_datasets(args, roles: tuple[str, ...]) -> dict:
    """Replace ``catalog:NAME`` values of the dataset options ``roles`` (dests: train, val, test)
    by their folders, in place, and set each role's format (and the Open-ReID split) from the
    catalog. The resolver is handed in by ``synthreid.cli`` (``args.catalog_resolver``): this
    package does not import the farm. Returns {value: catalog dataset}."""
    values = []
    for role in roles:
        v = getattr(args, role, None)
        values += v if isinstance(v, list) else [] if v is None else [v]
    if not any(str(v).startswith("catalog:") for v in values):
        return {}
    resolver = getattr(args, "catalog_resolver", None)
    if resolver is None:
        raise DatasetError(
            "catalog:NAME datasets are resolved by the synthreid command line (synthreid.cli.main)"
        )
    found = resolver([str(v) for v in values])
    args.dataset_labels = {str(c.folder): c.name for c in found.values()}
    for role in roles:
        v = getattr(args, role, None)
        if v is None:
            continue
        items = v if isinstance(v, list) else [v]
        fmt_dest = f"{role}_format" if hasattr(args, f"{role}_format") else "format"
        given = getattr(args, fmt_dest, None) or getattr(args, "format", None)
        option = f"--{fmt_dest.replace('_', '-')}" if getattr(args, fmt_dest, None) else "--format"
        fmt = _role_format(role, items, given, found, option)
        if fmt is not None:
            setattr(args, fmt_dest, fmt)
        resolved = [found[str(x)].folder if str(x) in found else x for x in items]
        setattr(args, role, resolved if isinstance(v, list) else resolved[0])
    splits = {c.split_id for c in found.values() if c.format == "openreid" and c.split_id is not None}
    if splits and hasattr(args, "split"):
        if len(splits) > 1:
            raise DatasetError(f"catalog datasets of different Open-ReID splits ({sorted(splits)}); use one")
        split = splits.pop()
        if "split" in getattr(args, "given_options", set()) and args.split != split:
            raise DatasetError(
                f"--split {args.split}: the catalog's Open-ReID dataset was imported with split {split}"
            )
        args.split = split
    return found


def train_config(args):
    """The TrainConfig of ``benchmark train`` options: the --recipe's values, then every option
    given on the command line (an option left out takes the recipe's value, else its default)."""
    from synthreid.benchmark import recipes
    from synthreid.benchmark.engine import TrainConfig

    fields = dict(
        train=[str(p) for p in args.train],
        val=str(args.val),
        test=[str(p) for p in args.test or []],
        protocol=args.protocol,
        train_format=args.train_format or args.format,
        val_format=args.val_format or args.format,
        test_format=args.test_format or args.format,
        arch=args.arch,
        weights=args.weights,
        height=args.height,
        width=args.width,
        num_features=args.features,
        dropout=args.dropout,
        norm=args.norm,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        step_size=args.step_size,
        loss=args.loss,
        label_smoothing=args.label_smoothing,
        sce_alpha=args.sce_alpha,
        sce_beta=args.sce_beta,
        train_ids=args.train_ids,
        train_images_per_id=args.train_images_per_id,
        mix_ratio=args.mix_ratio,
        finetune_from=str(args.finetune_from) if args.finetune_from else None,
        finetune_lr_mult=args.finetune_lr_mult,
        val_ids=args.val_ids,
        draws=args.draws,
        eval_feature=args.eval_feature,
        seed=args.seed,
        split_id=args.split,
        skip_bad=args.skip_bad,
        workers=args.workers,
        device=args.device,
        threads=args.threads,
        amp=not args.no_amp,
        neck=args.neck,
        optimizer=args.optimizer,
        schedule=args.schedule,
        warmup_epochs=args.warmup_epochs,
        random_erasing=args.random_erasing,
        color_jitter=args.color_jitter,
        triplet_weight=args.triplet_weight,
        triplet_margin=args.triplet_margin,
        instances_per_id=args.instances_per_id,
        cpu_bf16=args.cpu_bf16,
        **{
            k: v
            for k, v in (("in_memory", args.in_memory), ("cpu_channels_last", args.cpu_channels_last))
            if v is not None
        },
    )
    given: set[str] = getattr(args, "given_options", set())
    preset = recipes.RECIPES.get(args.recipe, {})
    # in_memory / cpu_channels_last are only in fields when given (--x / --no-x)
    fields = {
        k: v
        for k, v in fields.items()
        if k not in preset or _FIELD_DEST.get(k, k) in given or k in ("in_memory", "cpu_channels_last")
    }
    return TrainConfig(**recipes.apply(args.recipe, fields))


def cmd_train(args) -> int:
    from synthreid.benchmark.engine import run_training

    resolve_catalog_datasets(args, ("train", "val", "test"))
    cfg = train_config(args)
    run_dir = Path(args.out) if args.out else _default_run_dir(args, cfg.arch)
    print(f"run directory: {run_dir}")
    if args.splits:
        from synthreid.benchmark import runs, splits

        ids = splits.parse_splits(args.splits, [*cfg.train, cfg.val, *cfg.test])
        splits.run_split_training(cfg, run_dir, ids, progress=not args.quiet)
        for key, res in runs.load_metrics(run_dir).items():
            print(_summary_line(f"{key.rsplit(':', 1)[0]} ({res['splits']} splits, mean)", res))
        return 0
    results = run_training(cfg, run_dir, progress=not args.quiet)
    for res in results.values():
        print(_summary_line(res.get("dataset", res.get("test")), res))
    print(f"results: {run_dir / 'metrics.json'}; validation curve: {run_dir / 'val_curve.png'}")
    return 0


def _summary_line(test, res) -> str:
    """``NAME [protocol]: r1=.. r5=.. r10=.. r20=.. mAP=..`` (percentages); NAME is the test folder."""
    ranks = " ".join(f"r{k}={100 * res[f'rank{k}']:.1f}" for k in (1, 5, 10, 20))
    m_ap = f" mAP={100 * res['mAP']:.1f}" if res.get("mAP") is not None else ""
    return f"{test} [{res['protocol']}]: {ranks}{m_ap}"


def cmd_eval(args) -> int:
    from synthreid.benchmark import splits
    from synthreid.benchmark.engine import evaluate_run

    resolve_catalog_datasets(args, ("test",))
    parent = splits.is_parent(args.run)
    targets = [d for _, d in splits.members(args.run)] if parent else [args.run]
    if parent and not targets:
        raise splits.runs.RunError(f"{args.run}: no split runs yet")
    for test in args.test:
        for run in targets:
            res = evaluate_run(
                run,
                str(test),
                protocol=args.protocol,
                fmt=args.format,
                device=args.device,
                workers=args.workers,
                progress=not args.quiet,
                threads=args.threads,
            )
            print(_summary_line(f"{run.name}: {res['dataset']}" if parent else res["dataset"], res))
    if parent:
        splits.write_parent_metrics(args.run)
    return 0


def cmd_report(args) -> int:
    from synthreid.benchmark.report import make_report

    paths = make_report(args.runs, args.out, max_rank=args.max_rank)
    print(Path(paths["md"]).read_text().rstrip())
    print(
        f"\nwrote {paths['md']} (this table), {paths['csv']} (one row per run, test and split) and "
        f"{paths['png']} (CMC curves)"
    )
    return 0


def cmd_export(args) -> int:
    from synthreid.benchmark.export import export

    out = export(
        args.dataset,
        args.out,
        args.format,
        image_ext=args.image_ext,
        overwrite=args.overwrite,
        quality=args.quality,
    )
    print(f"exported {args.dataset} as {args.format} to {out}")
    return 0


def register(sub) -> None:  # noqa: PLR0915 - the argparse option table: one statement per option, no logic
    p = sub.add_parser(
        "benchmark",
        help="train and test re-ID models on datasets (transfer scores)",
        description="Re-ID benchmark: train on synthetic/real datasets, test on real ones.",
    )
    bs = p.add_subparsers(dest="benchmark_command", metavar="SUBCOMMAND")
    bs.required = True

    t = bs.add_parser("train", help="train a re-ID model (resumes RUN if it exists)")
    t.register("action", None, _GivenStore)  # plain options remember being given (--recipe)
    t.register("action", "store", _GivenStore)
    t.add_argument(
        "--recipe",
        choices=("thesis", "fast"),
        default="thesis",
        help="thesis: Open-ReID Inception + softmax (the defaults below); fast: OSNet x0.25 at 128x64, "
        "BN-neck, AdamW + warm-up/cosine, erasing, colour jitter, in-memory images (CPU-fast; "
        "docs/benchmark.md). Options given explicitly override the recipe",
    )
    t.add_argument(
        "--neck",
        choices=("fc", "bn"),
        default="fc",
        help="fc: Linear+BN+ReLU embedding; bn: BN-neck (classifier and retrieval on the BN feature)",
    )
    t.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="sgd", help="optimizer")
    t.add_argument(
        "--schedule",
        choices=("step", "cosine"),
        default="step",
        help="step: lr x gamma every --step-size epochs; cosine: cosine decay to 0 after warm-up",
    )
    t.add_argument(
        "--warmup-epochs", type=non_negative_int, default=0, help="linear lr warm-up epochs (from 1%%)"
    )
    t.add_argument(
        "--random-erasing", type=float, default=0.0, metavar="P", help="random erasing probability"
    )
    t.add_argument(
        "--color-jitter",
        type=float,
        default=0.0,
        metavar="S",
        help="brightness/contrast/saturation jitter strength, 0-1",
    )
    t.add_argument(
        "--in-memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode training/validation images once into memory and augment whole batches",
    )
    t.add_argument(
        "--triplet-weight", type=float, default=0.0, help="weight of a batch-hard triplet loss (0 = off)"
    )
    t.add_argument("--triplet-margin", type=float, default=0.3, help="triplet margin")
    t.add_argument(
        "--instances-per-id",
        type=non_negative_int,
        default=0,
        metavar="K",
        help="P x K batches with K images per identity (0 = plain shuffling)",
    )
    t.add_argument("--cpu-bf16", action="store_true", help="bfloat16 autocast on CPU")
    t.add_argument(
        "--cpu-channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last tensors on CPU (the fast recipe's default)",
    )
    t.add_argument(
        "--train",
        action="append",
        required=True,
        type=Path,
        metavar="DS",
        help="training dataset folder or catalog:NAME (repeat to train on several at once)",
    )
    t.add_argument(
        "--val",
        required=True,
        type=Path,
        metavar="DS",
        help="dataset (folder or catalog:NAME) whose val split selects the epoch",
    )
    t.add_argument(
        "--test",
        action="append",
        type=Path,
        metavar="DS",
        help="test dataset folder or catalog:NAME (repeatable)",
    )
    t.add_argument("--protocol", choices=("thesis", "market", "cuhk03"), default="thesis", help=PROTOCOL_HELP)
    t.add_argument(
        "--format", choices=FORMAT_CHOICES, help="format of all datasets (default: detected per folder)"
    )
    for k in ("train", "val", "test"):
        t.add_argument(
            f"--{k}-format", choices=FORMAT_CHOICES, help=f"format of the {k} datasets (overrides --format)"
        )
    t.add_argument(
        "--arch",
        default="inception",
        help="inception, resnet50, osnet_x0_25, osnet_x0_5, osnet_x1_0, mobilenetv3_small, "
        "mobilenetv3_large, efficientnet_lite0, regnetx_002 or tiny (all but resnet50 from scratch)",
    )
    t.add_argument(
        "--weights",
        help="initial backbone weights file (resnet50, osnet_*, timm archs) (a state_dict; loaded weights-only, nothing in it runs)",
    )
    t.add_argument(
        "--finetune-from", type=Path, metavar="RUN", help="start from RUN's best model, new classifier"
    )
    t.add_argument("--finetune-lr-mult", type=float, default=0.1, help="feature network lr multiplier")
    t.add_argument("--out", type=Path, metavar="RUN", help="run directory (default runs/ARCH-DATASETS-sSEED)")
    t.add_argument(
        "--epochs", type=int, default=50, help="training epochs (a finished run resumed with more continues)"
    )
    t.add_argument("--batch-size", type=int, default=256, help="images per training step")
    t.add_argument(
        "--lr",
        type=float,
        default=0.1,
        help="SGD learning rate of the classifier (and of the features unless finetuning)",
    )
    t.add_argument("--momentum", type=float, default=0.9, help="SGD Nesterov momentum (0 = plain SGD)")
    t.add_argument("--weight-decay", type=float, default=5e-4, help="SGD weight decay (L2)")
    t.add_argument("--step-size", type=int, help="epochs per lr x0.1 (default 60 inception, 40 others)")
    t.add_argument(
        "--features", type=int, default=128, help="embedding size (0 = the backbone's pooled features)"
    )
    t.add_argument("--dropout", type=float, default=0.5, help="dropout before the classifier, 0-1")
    t.add_argument("--norm", action="store_true", help="L2-normalise the embedding instead of ReLU")
    t.add_argument(
        "--loss",
        choices=("ce", "ls", "sce"),
        default="ce",
        help="cross-entropy, label smoothing, or symmetric cross-entropy (alpha CE + beta RCE)",
    )
    t.add_argument(
        "--label-smoothing",
        type=float,
        default=0.0,
        metavar="EPS",
        help="epsilon of --loss ls (0 = 0.1); > 0 alone implies --loss ls",
    )
    t.add_argument("--sce-alpha", type=float, default=0.1, help="weight of CE in --loss sce")
    t.add_argument("--sce-beta", type=float, default=1.0, help="weight of reverse CE in --loss sce")
    t.add_argument(
        "--train-ids",
        action="append",
        type=_count,
        metavar="N|all",
        help="keep N seeded identities of a --train dataset: once for all, or repeated to "
        "apply in order to each --train",
    )
    t.add_argument(
        "--train-images-per-id",
        action="append",
        type=_count,
        metavar="K|all",
        help="then keep K seeded images per identity (once for all, or once per --train)",
    )
    t.add_argument(
        "--mix-ratio",
        type=_ratio,
        metavar="W,W,...",
        help="expected fraction of each batch from each --train, in order (e.g. 0.5,0.5 or 3:1; "
        "normalised); default: in proportion to their sizes",
    )
    t.add_argument(
        "--splits",
        metavar="all|IDS",
        help="one run per split of an Open-ReID dataset (CUHK03 classic: all = 20) under "
        "RUN/split-NN, e.g. all, 0,1,2 or 0-4; RUN/metrics.json holds mean and std",
    )
    t.add_argument("--height", type=int, help="input height (default per arch: 144 inception)")
    t.add_argument("--width", type=int, help="input width (default per arch: 56 inception)")
    t.add_argument("--val-ids", type=int, default=100, help="validation identities per epoch")
    t.add_argument("--draws", type=int, default=10, help="seeded draws of the thesis test protocol")
    t.add_argument(
        "--eval-feature",
        choices=("embedding", "logits"),
        default="embedding",
        help="feature compared at test time: the embedding, or the classifier's logits",
    )
    t.add_argument("--split", type=int, default=0, help="split id of Open-ReID datasets (CUHK03 classic)")
    t.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip mis-named and unreadable images (each is decoded once up front) and say how many",
    )
    t.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of every random choice (identity draws, sampling, augmentation, init)",
    )
    t.add_argument("--workers", type=non_negative_int, default=default_loader_workers(4), help=WORKERS_HELP)
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    t.add_argument(
        "--threads", type=positive_int, help="torch CPU threads (default: every core this process may use)"
    )
    t.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = bs.add_parser(
        "eval", help="test a run's best model on more datasets (every split of a multi-split run)"
    )
    e.add_argument(
        "run", type=Path, metavar="RUN", help="run directory of `benchmark train` (or a multi-split run)"
    )
    e.add_argument(
        "--test",
        action="append",
        required=True,
        type=Path,
        metavar="DS",
        help="test dataset folder or catalog:NAME (repeatable); results are named after the folder",
    )
    e.add_argument(
        "--protocol",
        choices=("thesis", "market", "cuhk03"),
        help="test protocol (default: the run's protocol)",
    )
    e.add_argument("--format", choices=FORMAT_CHOICES, help="format of the test datasets (default: detected)")
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    e.add_argument(
        "--workers", type=non_negative_int, help="data loader processes (default: the run's --workers)"
    )
    e.add_argument(
        "--threads",
        type=positive_int,
        help="torch CPU threads (default: the run's --threads, else every core this process may use)",
    )
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_eval)

    r = bs.add_parser("report", help="Markdown/CSV table and CMC plot comparing runs")
    r.add_argument(
        "runs", nargs="+", type=Path, metavar="RUN", help="run directories to compare, in table order"
    )
    r.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for report.md, report.csv and cmc.png (created)",
    )
    r.add_argument("--max-rank", type=int, default=20, help="last rank of the CMC plot")
    r.set_defaults(func=cmd_report)

    x = bs.add_parser("export", help="export a synthreid dataset to Market-1501 folders or Open-ReID layout")
    x.add_argument(
        "dataset", type=Path, metavar="DATASET", help="a synthreid dataset folder (with manifest.json)"
    )
    x.add_argument(
        "--format",
        required=True,
        choices=("market1501", "openreid"),
        help="market1501: bounding_box_train/test + query folders; openreid: meta.json + splits.json",
    )
    x.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="folder to write (must be new or empty)"
    )
    x.add_argument(
        "--image-ext", choices=(".jpg", ".png"), default=".jpg", help="image format of the exported files"
    )
    x.add_argument(
        "--quality",
        type=int,
        default=95,
        metavar="1-100",
        help="JPEG quality of --image-ext .jpg (default 95; torchreid and fast-reid read only .jpg)",
    )
    x.add_argument("--overwrite", action="store_true", help="replace an existing export in --out")
    x.set_defaults(func=cmd_export)
