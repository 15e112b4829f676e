"""``synthreid refine train|apply``: thin wrappers over ``refine.train.train`` and ``refine.apply.apply``.

Sizes are WIDTHxHEIGHT like every ``--size`` of the CLI (``64x128``: 64 wide, 128 high).

torch is imported inside the command functions only (``synthreid --help`` imports this module).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthreid.cliutil import (
    HelpFormatter,
    Size,
    available_cores,
    default_loader_workers,
    non_negative_int,
    parse_size,
    positive_int,
)
from synthreid.errors import DatasetError
from synthreid.refine.config import GENERATORS, MODELS, RECON_LOSSES

DEFAULT_SIZE = Size(64, 128)


def _runtime_args(p: argparse.ArgumentParser) -> None:
    """Options that change speed, not results (device, CPU threads, loader processes)."""
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help=f"torch CPU threads (default: all {available_cores()} available cores)",
    )
    p.add_argument(
        "--workers",
        type=non_negative_int,
        default=default_loader_workers(),
        help="data loader processes (0 = load in the main process)",
    )


def register(sub) -> None:
    p = sub.add_parser(
        "refine",
        help="train and apply GAN refiners (renders -> target camera look)",
        description="Train an unpaired image-to-image refiner between rendered crops and "
        "target-camera images, then translate datasets with it.",
        formatter_class=HelpFormatter,
    )
    rsub = p.add_subparsers(dest="refine_command", metavar="SUBCOMMAND")
    rsub.required = True

    t = rsub.add_parser(
        "train",
        help="train a refiner between a rendered dataset and target images",
        description="Train a refiner; rerunning with the same --out resumes from its latest checkpoint.",
        formatter_class=HelpFormatter,
    )
    t.add_argument(
        "--source",
        required=True,
        help="rendered dataset folder (canonical layout, with masks) or catalog:NAME",
    )
    t.add_argument(
        "--target",
        required=True,
        help="folder of target-camera images (png/jpg), or catalog:NAME (its training images)",
    )
    t.add_argument(
        "--target-masks", default=None, help="folder of target person masks <stem>.png (ptgan needs it)"
    )
    t.add_argument(
        "--model",
        choices=MODELS,
        default="cyclegan",
        help="cyclegan; ptgan (keeps the person: masked identity loss); fgbg (separate "
        "person/background losses)",
    )
    t.add_argument(
        "--size",
        type=parse_size,
        default=DEFAULT_SIZE,
        metavar="WIDTHxHEIGHT",
        help="model input size in pixels, both sides divisible by 4, portrait (e.g. 64x128, 128x256)",
    )
    t.add_argument(
        "--force-landscape",
        action="store_true",
        help="accept a --size wider than high (refused otherwise: person crops are portrait)",
    )
    t.add_argument("--iters", type=int, default=100_000, help="generator updates (second half decays lr)")
    t.add_argument(
        "--out",
        default=None,
        help="run folder (default refiner-runs/<source>-<target>-<model>); rerun to resume",
    )
    t.add_argument("--generator", choices=GENERATORS, default="resnet_9blocks", help="generator network")
    t.add_argument("--ngf", type=int, default=64, help="generator width (first layer channels)")
    t.add_argument("--ndf", type=int, default=64, help="discriminator width")
    t.add_argument("--n-layers-d", type=int, default=3, help="PatchGAN depth (3 = 70x70 patches)")
    t.add_argument("--batch-size", type=int, default=1, help="image pairs per generator update")
    t.add_argument(
        "--lr", type=float, default=2e-4, help="Adam learning rate (generators and discriminators)"
    )
    t.add_argument("--lambda-cycle", type=float, default=10.0, help="cycle-consistency weight per direction")
    t.add_argument("--lambda-identity", type=float, default=0.5, help="fraction of lambda-cycle; 0 disables")
    t.add_argument("--lambda-mask-id", type=float, default=10.0, help="ptgan masked identity weight")
    t.add_argument("--lambda-fg", type=float, default=70.0, help="fgbg person weight")
    t.add_argument("--lambda-bg", type=float, default=30.0, help="fgbg background weight")
    t.add_argument(
        "--bg-discriminator",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fgbg: a PatchGAN on person-removed images (on by default for fgbg)",
    )
    t.add_argument("--lambda-bg-gan", type=float, default=1.0, help="fgbg background discriminator weight")
    t.add_argument("--mask-feather", type=int, default=2, help="fgbg: mask ramp width in pixels (0 = hard)")
    t.add_argument("--recon-loss", choices=RECON_LOSSES, default="l1", help="cycle and identity distance")
    t.add_argument("--huber-delta", type=float, default=0.1, help="huber threshold in [-1, 1] image units")
    t.add_argument(
        "--eval-images",
        type=int,
        default=16,
        help="renders held out for the per-checkpoint evaluation (metrics.json, eval.csv); 0 = none",
    )
    t.add_argument("--seed", type=int, default=0, help="seed of sampling, augmentation and initialisation")
    t.add_argument("--checkpoint-every", type=int, default=1000, help="iterations between checkpoints")
    t.add_argument("--sample-every", type=int, default=500, help="iterations between sample image grids")
    t.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    _runtime_args(t)
    t.set_defaults(func=cmd_train)

    a = rsub.add_parser(
        "apply",
        help="translate a dataset with a trained refiner into a new dataset",
        description="Translate every image of a dataset with a run's source->target "
        "generator; masks, labels and meta are copied.",
        formatter_class=HelpFormatter,
    )
    a.add_argument("run", help="refiner run folder")
    a.add_argument("--source", required=True, help="dataset folder to translate, or catalog:NAME")
    a.add_argument("--name", required=True, help="name of the new dataset (a folder next to the source)")
    a.add_argument("--out", default=None, help="folder of the new dataset (default <source parent>/<name>)")
    a.add_argument("--checkpoint", default=None, help="checkpoint file (default RUN/checkpoints/last.pt)")
    a.add_argument("--batch-size", type=int, default=16, help="images per forward pass")
    _runtime_args(a)
    a.set_defaults(func=cmd_apply)


def _set_threads(args) -> None:
    import torch

    torch.set_num_threads(args.threads or available_cores())


def config_from_args(args):
    """The ``RefinerConfig`` of parsed ``refine train`` arguments (validated; trains nothing)."""
    from synthreid.refine.config import RefinerConfig

    return RefinerConfig(
        source=str(args.source),
        target=str(args.target),
        target_masks=args.target_masks,
        model=args.model,
        size=args.size,
        allow_landscape=args.force_landscape,
        generator=args.generator,
        ngf=args.ngf,
        ndf=args.ndf,
        n_layers_d=args.n_layers_d,
        iters=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        lambda_cycle=args.lambda_cycle,
        lambda_identity=args.lambda_identity,
        lambda_mask_id=args.lambda_mask_id,
        lambda_fg=args.lambda_fg,
        lambda_bg=args.lambda_bg,
        bg_discriminator=args.bg_discriminator,
        lambda_bg_gan=args.lambda_bg_gan,
        mask_feather=args.mask_feather,
        recon_loss=args.recon_loss,
        huber_delta=args.huber_delta,
        eval_images=args.eval_images,
        seed=args.seed,
        num_workers=args.workers,
        checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every,
        amp=not args.no_amp,
    )


def resolve_catalog_datasets(args, dests=("source", "target", "target_masks")) -> dict[str, str]:
    """Replace ``catalog:NAME`` values of ``dests`` by folders, in place: a source (ours, with
    masks) must be a rendered or refined dataset; a target is a dataset's flat folder of training
    images; target masks are a rendered dataset's ``masks/``. The resolver is handed in by
    ``synthreid.cli`` (``args.catalog_resolver``): this package does not import the farm.
    Returns {dest: catalog name} of the values replaced."""
    values = {d: getattr(args, d, None) for d in dests}
    refs = {d: str(v) for d, v in values.items() if v is not None and str(v).startswith("catalog:")}
    if not refs:
        return {}
    resolver = getattr(args, "catalog_resolver", None)
    if resolver is None:
        raise DatasetError(
            "catalog:NAME datasets are resolved by the synthreid command line (synthreid.cli.main)"
        )
    found = resolver(list(refs.values()))
    for dest, ref in refs.items():
        ds, option = found[ref], "--" + dest.replace("_", "-")
        if dest in ("source", "target_masks") and ds.format != "synthreid":
            raise DatasetError(
                f"{option} {ref}: an {ds.kind} {ds.format} dataset; {option} needs a rendered or "
                "refined dataset (our layout, with masks)"
            )
        if dest == "source":
            folder = ds.folder
        elif dest == "target":
            folder = ds.image_folder()
        else:
            folder = ds.folder / "masks"
        setattr(args, dest, str(folder))
    return {dest: found[ref].name for dest, ref in refs.items()}


def cmd_train(args) -> int:
    from synthreid.refine.train import train

    names = resolve_catalog_datasets(args)
    config = config_from_args(args)  # validate before anything heavy
    _set_threads(args)
    out = args.out or Path("refiner-runs") / (
        f"{names.get('source') or Path(args.source).resolve().name}-"
        f"{names.get('target') or Path(args.target).resolve().name}-{args.model}"
    )
    run_dir = train(config, out, device=args.device)
    print(run_dir)
    return 0


def cmd_apply(args) -> int:
    from synthreid.refine.apply import apply

    resolve_catalog_datasets(args, ("source",))
    _set_threads(args)
    out = apply(
        args.run,
        args.source,
        out_dir=args.out,
        name=args.name,
        checkpoint=args.checkpoint,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.workers,
    )
    print(out)
    return 0
