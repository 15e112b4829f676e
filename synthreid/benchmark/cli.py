"""``synthreid benchmark train|eval|report|export`` (torch is imported inside the commands)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT_CHOICES = ("synthreid", "market1501", "cuhk03np", "openreid")


def _default_run_dir(args) -> Path:
    names = "+".join(Path(p).resolve().name for p in args.train)
    tag = "-ft" if args.finetune_from else ""
    return Path("runs") / f"{args.arch}-{names}{tag}-s{args.seed}"


def cmd_train(args) -> int:
    from synthreid.benchmark.engine import TrainConfig, run_training

    cfg = TrainConfig(
        train=[str(p) for p in args.train], val=str(args.val), test=[str(p) for p in args.test or []],
        protocol=args.protocol, train_format=args.train_format or args.format,
        val_format=args.val_format or args.format, test_format=args.test_format or args.format,
        arch=args.arch, weights=args.weights, height=args.height, width=args.width,
        num_features=args.features, dropout=args.dropout, norm=args.norm, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
        step_size=args.step_size, label_smoothing=args.label_smoothing,
        finetune_from=str(args.finetune_from) if args.finetune_from else None,
        finetune_lr_mult=args.finetune_lr_mult, val_ids=args.val_ids, draws=args.draws,
        eval_feature=args.eval_feature, seed=args.seed, split_id=args.split, skip_bad=args.skip_bad,
        workers=args.workers, device=args.device, threads=args.threads, amp=not args.no_amp)
    run_dir = Path(args.out) if args.out else _default_run_dir(args)
    print(f"run directory: {run_dir}")
    results = run_training(cfg, run_dir, progress=not args.quiet)
    for test, res in results.items():
        print(_summary_line(test, res))
    return 0


def _summary_line(test, res) -> str:
    ranks = " ".join(f"r{k}={100 * res[f'rank{k}']:.1f}" for k in (1, 5, 10, 20))
    m_ap = f" mAP={100 * res['mAP']:.1f}" if res.get("mAP") is not None else ""
    return f"{test} [{res['protocol']}]: {ranks}{m_ap}"


def cmd_eval(args) -> int:
    from synthreid.benchmark.engine import evaluate_run
    from synthreid.benchmark.runs import record_run

    for test in args.test:
        res = evaluate_run(args.run, str(test), protocol=args.protocol, fmt=args.format, device=args.device,
                           workers=args.workers, progress=not args.quiet)
        print(_summary_line(test, res))
    record_run(args.run)
    return 0


def cmd_report(args) -> int:
    from synthreid.benchmark.report import make_report

    paths = make_report(args.runs, args.out, max_rank=args.max_rank)
    print(Path(paths["md"]).read_text())
    print(json.dumps({k: str(v) for k, v in paths.items()}))
    return 0


def cmd_export(args) -> int:
    from synthreid.benchmark.export import export

    out = export(args.dataset, args.out, args.format, image_ext=args.image_ext, overwrite=args.overwrite)
    print(f"exported {args.dataset} as {args.format} to {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("benchmark", help="train and test re-ID models on datasets (transfer scores)",
                       description="Re-ID benchmark: train on synthetic/real datasets, test on real ones.")
    bs = p.add_subparsers(dest="benchmark_command", metavar="SUBCOMMAND")
    bs.required = True

    t = bs.add_parser("train", help="train a re-ID model (resumes RUN if it exists)",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--train", action="append", required=True, type=Path, metavar="DS",
                   help="training dataset folder (repeat to train on several at once)")
    t.add_argument("--val", required=True, type=Path, metavar="DS", help="dataset whose val split selects the epoch")
    t.add_argument("--test", action="append", type=Path, metavar="DS", help="test dataset (repeatable)")
    t.add_argument("--protocol", choices=("thesis", "market", "cuhk03"), default="thesis")
    t.add_argument("--format", choices=FORMAT_CHOICES, help="format of all datasets (default: detect)")
    for k in ("train", "val", "test"):
        t.add_argument(f"--{k}-format", choices=FORMAT_CHOICES, help=f"format of the {k} datasets")
    t.add_argument("--arch", default="inception", help="inception, resnet50 or tiny")
    t.add_argument("--weights", help="initial ResNet-50 weights file (state_dict)")
    t.add_argument("--finetune-from", type=Path, metavar="RUN", help="start from RUN's best model, new classifier")
    t.add_argument("--finetune-lr-mult", type=float, default=0.1, help="feature network lr multiplier")
    t.add_argument("--out", type=Path, metavar="RUN", help="run directory (default runs/ARCH-DATASETS-sSEED)")
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, default=5e-4)
    t.add_argument("--step-size", type=int, help="epochs per lr x0.1 (default 60 inception, 40 others)")
    t.add_argument("--features", type=int, default=128)
    t.add_argument("--dropout", type=float, default=0.5)
    t.add_argument("--norm", action="store_true", help="L2-normalise the embedding instead of ReLU")
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--height", type=int, help="input height (default per arch: 144 inception)")
    t.add_argument("--width", type=int, help="input width (default per arch: 56 inception)")
    t.add_argument("--val-ids", type=int, default=100, help="validation identities per epoch")
    t.add_argument("--draws", type=int, default=10, help="seeded draws of the thesis test protocol")
    t.add_argument("--eval-feature", choices=("embedding", "logits"), default="embedding")
    t.add_argument("--split", type=int, default=0, help="split id of Open-ReID datasets (CUHK03 classic)")
    t.add_argument("--skip-bad", action="store_true", help="skip mis-named files with a counted warning")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=int, default=4, help="data loader processes")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    t.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = bs.add_parser("eval", help="test a run's best model on more datasets")
    e.add_argument("run", type=Path, metavar="RUN")
    e.add_argument("--test", action="append", required=True, type=Path, metavar="DS")
    e.add_argument("--protocol", choices=("thesis", "market", "cuhk03"), help="default: the run's protocol")
    e.add_argument("--format", choices=FORMAT_CHOICES)
    e.add_argument("--device", default="auto")
    e.add_argument("--workers", type=int)
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    r = bs.add_parser("report", help="Markdown/CSV table and CMC plot comparing runs")
    r.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    r.add_argument("--out", required=True, type=Path, metavar="DIR")
    r.add_argument("--max-rank", type=int, default=50)
    r.set_defaults(func=cmd_report)

    x = bs.add_parser("export", help="export a synthreid dataset to Market-1501 folders or Open-ReID layout")
    x.add_argument("dataset", type=Path, metavar="DATASET")
    x.add_argument("--format", required=True, choices=("market1501", "openreid"))
    x.add_argument("--out", required=True, type=Path)
    x.add_argument("--image-ext", choices=(".jpg", ".png"), default=".jpg")
    x.add_argument("--overwrite", action="store_true")
    x.set_defaults(func=cmd_export)
